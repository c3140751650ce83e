"""GANLoss targets and criteria, set_requires_grad, and PerceptualLoss weight loading (from a
file, from torch's cache, downloaded through a stubbed network, or random when offline)."""

from __future__ import annotations

import hashlib
import io
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from colorlib import losses, pretrained
from colorlib.losses import VGG16_FILE, GANLoss, PerceptualLoss, set_requires_grad

# ---------------------------------------------------------------- GANLoss


def test_gan_loss_targets_follow_prediction() -> None:
    loss = GANLoss()
    pred = torch.randn(2, 1, 5, 7, dtype=torch.float64)
    real, fake = loss.target(pred, True), loss.target(pred, False)
    assert real.shape == pred.shape and real.dtype == torch.float64
    assert torch.equal(real, torch.ones_like(pred))
    assert torch.equal(fake, torch.zeros_like(pred))
    custom = GANLoss(real_label=0.8, fake_label=0.2)
    assert torch.all(custom.target(pred, True) == 0.8)
    assert torch.all(custom.target(pred, False) == 0.2)


def test_gan_loss_modes() -> None:
    logits = torch.randn(4, 1, 3, 3)
    vanilla = GANLoss("vanilla")
    expected_real = -F.logsigmoid(logits).mean()
    expected_fake = -F.logsigmoid(-logits).mean()
    assert torch.allclose(vanilla(logits, True), expected_real)
    assert torch.allclose(vanilla.loss(logits, False), expected_fake)

    lsgan = GANLoss("lsgan")
    assert torch.allclose(lsgan(logits, True), ((logits - 1) ** 2).mean())
    assert torch.allclose(lsgan(logits, False), (logits**2).mean())


def test_the_lab_gan_loss_on_logits_is_the_sources_bce_on_probabilities() -> None:
    # The source: sigmoid, then BCE against a noisy label. Ours: BCE with logits, the same
    # function, which CUDA autocast accepts (its BCE on probabilities it refuses).
    logits = torch.randn(8, 1, dtype=torch.float64) * 3
    loss = GANLoss("vanilla", smoothing=((0.9, 1.0), (0.0, 0.1)))
    torch.manual_seed(5)
    ours = loss(logits, True)
    torch.manual_seed(5)
    label = loss.label(True)
    p = torch.sigmoid(logits)
    source = -(label * torch.log(p) + (1 - label) * torch.log(1 - p)).mean()
    assert torch.allclose(ours, source)
    assert isinstance(loss.criterion, nn.BCEWithLogitsLoss)
    with pytest.raises(TypeError):
        GANLoss(from_probabilities=True)  # gone: a loss on probabilities cannot come back


def test_gan_loss_smoothing_draws_one_label_per_call() -> None:
    loss = GANLoss(smoothing=((0.9, 1.0), (0.0, 0.1)))
    pred = torch.rand(8, 1)
    reals = [loss.target(pred, True) for _ in range(50)]
    fakes = [loss.target(pred, False) for _ in range(50)]
    for target in reals + fakes:
        assert torch.all(target == target.flatten()[0])  # one value for the whole batch
    real_values = torch.stack([t[0, 0] for t in reals])
    fake_values = torch.stack([t[0, 0] for t in fakes])
    assert real_values.min() >= 0.9 and real_values.max() <= 1.0
    assert fake_values.min() >= 0.0 and fake_values.max() <= 0.1
    assert real_values.unique().numel() > 40  # drawn afresh each call
    torch.manual_seed(3)
    first = loss.label(True)
    torch.manual_seed(3)
    assert loss.label(True) == first


def test_gan_loss_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="mode"):
        GANLoss("wgan")
    with pytest.raises(ValueError, match="smoothing"):
        GANLoss(smoothing=((1.0, 0.9), (0.0, 0.1)))
    with pytest.raises(ValueError, match="smoothing"):
        GANLoss(smoothing=((0.9, 1.0),))


def test_set_requires_grad() -> None:
    a, b = nn.Linear(2, 2), nn.Conv2d(1, 1, 1)
    set_requires_grad(a, False)
    assert not any(p.requires_grad for p in a.parameters())
    set_requires_grad([a, None, b], False)
    assert not any(p.requires_grad for p in b.parameters())
    set_requires_grad([a, b], True)
    assert all(p.requires_grad for p in [*a.parameters(), *b.parameters()])


# ---------------------------------------------------------------- PerceptualLoss


@pytest.fixture
def empty_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty torch hub cache, and no network: any attempt to download fails at once."""
    hub = tmp_path / "hub"
    hub.mkdir()
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(hub))
    monkeypatch.delenv(pretrained.OFFLINE_ENV, raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    return hub


def _random_vgg16_features() -> dict[str, torch.Tensor]:
    """A random state_dict with the key names and shapes of torchvision's vgg16().features."""
    with torch.device("meta"):
        reference = torchvision.models.vgg16(weights=None).features.state_dict()
    generator = torch.Generator().manual_seed(7)
    return {k: torch.randn(v.shape, generator=generator) for k, v in reference.items()}


def test_perceptual_random_without_weights_or_network(empty_hub: Path) -> None:
    loss = PerceptualLoss()
    assert loss.pretrained is False
    assert "random" in loss.status and "could not download" in loss.status
    assert losses.VGG16_WEIGHTS.url in loss.status
    assert len(loss.features) == 16  # truncated after relu3_3
    assert not any(p.requires_grad for p in loss.parameters())
    assert not any((empty_hub / "checkpoints").glob("*"))  # nothing half-written


def test_perceptual_offline_never_tries_the_network(
    empty_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(pretrained.OFFLINE_ENV, "1")
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded"))
    loss = PerceptualLoss()
    assert loss.pretrained is False
    assert "random" in loss.status and pretrained.OFFLINE_ENV in loss.status
    assert str(empty_hub) in loss.status
    assert PerceptualLoss(pretrained=False).status.startswith("VGG16 features are random")
    with pytest.raises(RuntimeError, match="no ImageNet VGG16 weights"):
        PerceptualLoss(pretrained=True)


def stub_weights(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "vgg16"):
    """A torchvision-like weights entry for `state`, saved as torchvision names its files (the
    SHA-256 prefix in the name), and a stub `urlopen` that serves it."""
    saved = tmp_path / "served.pth"
    torch.save(state, saved)
    payload = saved.read_bytes()
    url = f"https://weights.invalid/models/{name}-{hashlib.sha256(payload).hexdigest()[:8]}.pth"
    served = []

    def urlopen(request, timeout=None):
        served.append((request.full_url, timeout))
        return io.BytesIO(payload)

    return SimpleNamespace(url=url), urlopen, served


def test_perceptual_downloads_imagenet_vgg16_into_torchs_cache(
    tmp_path: Path, empty_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    features = _random_vgg16_features()
    entry, urlopen, served = stub_weights(
        tmp_path, {f"features.{k}": v for k, v in features.items()}
    )
    monkeypatch.setattr(losses, "VGG16_WEIGHTS", entry)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    loss = PerceptualLoss()
    cached = empty_hub / "checkpoints" / Path(entry.url).name
    assert served == [(entry.url, pretrained.TIMEOUT_S)] and cached.is_file()
    assert loss.pretrained is True
    assert "downloaded" in loss.status and str(cached) in loss.status
    assert torch.equal(loss.features[0].weight, features["0.weight"])
    # The second time it comes from the cache: no network.
    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded twice"))
    again = PerceptualLoss()
    assert again.pretrained is True and "torch's cache" in again.status


def test_a_corrupted_download_is_not_kept(
    tmp_path: Path, empty_hub: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry, urlopen, _ = stub_weights(tmp_path, {"features.0.weight": torch.zeros(1)})
    bad = SimpleNamespace(url=entry.url.replace(Path(entry.url).name, "vgg16-00000000.pth"))
    monkeypatch.setattr(losses, "VGG16_WEIGHTS", bad)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    loss = PerceptualLoss()
    assert loss.pretrained is False and "does not start with 00000000" in loss.status
    assert list((empty_hub / "checkpoints").iterdir()) == []


def test_perceptual_loads_full_state_dict(tmp_path: Path, empty_hub: Path) -> None:
    features = _random_vgg16_features()
    path = tmp_path / "vgg.pth"
    # the layout of a full vgg16 state_dict (the classifier part is not needed)
    torch.save({f"features.{k}": v for k, v in features.items()}, path)
    loss = PerceptualLoss(weights=path)
    assert loss.pretrained is True
    assert str(path) in loss.status
    loaded = loss.features.state_dict()
    assert set(loaded) == {k for k in features if int(k.split(".")[0]) < 16}
    for key, value in loaded.items():
        assert torch.equal(value, features[key])


def test_perceptual_finds_hub_cache_features_only(empty_hub: Path) -> None:
    features = _random_vgg16_features()
    checkpoints = empty_hub / "checkpoints"
    checkpoints.mkdir()
    torch.save(features, checkpoints / VGG16_FILE)
    loss = PerceptualLoss(layers=("relu1_2",))
    assert loss.pretrained is True
    assert VGG16_FILE in loss.status
    assert len(loss.features) == 4
    assert torch.equal(loss.features[2].weight, features["2.weight"])


def test_perceptual_bad_weight_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        PerceptualLoss(weights=tmp_path / "missing.pth")
    wrong = tmp_path / "wrong.pth"
    torch.save({"0.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match="wrong.pth"):
        PerceptualLoss(weights=wrong)
    with pytest.raises(ValueError, match="unknown layers"):
        PerceptualLoss(layers=("relu9_9",))


def test_perceptual_loss_values_and_gradients(empty_hub: Path) -> None:
    loss = PerceptualLoss(layers=("relu1_2", "relu2_2"))
    target = torch.rand(2, 3, 32, 32)
    assert loss(target, target.clone()).item() == 0.0
    pred = torch.rand(2, 3, 32, 32, requires_grad=True)
    value = loss(pred, target)
    assert value.item() > 0
    value.backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in loss.parameters())
    # inputs are ImageNet-normalised before the first convolution
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    first = torch.relu(loss.features[0]((target - mean) / std))
    expected = torch.relu(loss.features[2](first))
    assert torch.allclose(loss.feature_maps(target)[0], expected, atol=1e-5)
    loss.train()
    assert loss.training and not loss.features.training
