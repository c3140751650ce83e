"""Every training step runs under autocast, through the code CUDA takes; no loss takes a
probability; every discriminator returns logits.

There is no GPU here. CUDA autocast refuses ``binary_cross_entropy`` on probabilities, which CPU
autocast accepts (measured with torch 2.14.1), so running the steps under CPU autocast cannot
catch that alone: the scans below check that no training code uses it and that no
discriminator ends in a sigmoid.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from colorlib import conventions, data, steps
from colorlib.losses import GANLoss, PerceptualLoss
from colorlib.models import DISCRIMINATORS, define_D, define_G

REPO = Path(__file__).resolve().parents[1]
SIZE = 32


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("COLORLIB_OFFLINE", "1")  # random VGG / ResNet weights, no network
    torch.manual_seed(0)


def batch(n: int = 4) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    images = [torch.randint(0, 256, (3, 40, 48), dtype=torch.uint8, generator=generator)] * n
    loader = data.BatchLoader(images, size=SIZE, batch_size=n, train=False)
    return next(iter(loader))


def first_conv_dtype(net: nn.Module) -> list[torch.dtype]:
    """Records the output dtype of `net`'s first convolution at each call."""
    seen: list[torch.dtype] = []
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d))
    conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    return seen


def params(net: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in net.parameters()]


def changed(before: list[torch.Tensor], net: nn.Module) -> bool:
    return any(
        not torch.equal(b, p.detach()) for b, p in zip(before, net.parameters(), strict=True)
    )


SUPERVISED = {
    "regressor": (lambda: define_G("regressor", in_size=64, widths=[4, 4, 8, 8, 8, 8]),
                  "mean_chroma", nn.MSELoss(), 64),
    "colornet-sigmoid": (lambda: define_G("colornet", widths=[4, 8], activation="sigmoid"),
                         "unit", nn.MSELoss(), SIZE),
    "colornet-relu": (lambda: define_G("colornet", widths=[4, 8], activation="relu"),
                      "unit", nn.MSELoss(), SIZE),
    "colornet-tanh": (lambda: define_G("colornet", widths=[4, 8], activation="tanh"),
                      "unit", nn.MSELoss(), SIZE),
    "unet-l1": (lambda: define_G("unet", in_channels=1, out_channels=2, ngf=4, image_size=SIZE),
                "lab", nn.L1Loss(), SIZE),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(SUPERVISED))
def test_every_supervised_step_runs_under_autocast(name):
    build, io, loss_fn, size = SUPERVISED[name]
    model = build()
    before, seen = params(model), first_conv_dtype(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pair = conventions.get(io).pair
    step = steps.supervised_step(model, optimizer, loss_fn, pair, "cpu", amp=torch.bfloat16)
    images = [torch.randint(0, 256, (3, size, size), dtype=torch.uint8)] * 4
    out = step(next(iter(data.BatchLoader(images, size=size, batch_size=4, train=False))))
    assert seen == [torch.bfloat16]  # the step really ran under autocast
    assert torch.isfinite(torch.tensor(out["loss"])) and changed(before, model)


def lab_gan(d: str):
    G = define_G("residual", n_blocks=1, width=4)
    D = (define_D("cnn", ndf=4, image_size=SIZE) if d == "cnn"
         else define_D("resnet18", in_channels=3, pretrained=False))  # fmt: skip
    loss = GANLoss("vanilla", smoothing=((0.9, 1.0), (0.0, 0.1)))
    return G, D, loss, {"pixel_loss": nn.MSELoss(), "lambda_pixel": 1000.0}, "lab"


def pix2pix(norm: str, rgb: bool):
    cin, cout = (3, 3) if rgb else (1, 2)
    G = define_G("unet", in_channels=cin, out_channels=cout, ngf=4, norm=norm, image_size=SIZE)
    D = define_D("patchgan", in_channels=cin + cout, ndf=4, n_layers=2, norm=norm)
    return G, D, GANLoss("lsgan" if rgb else "vanilla"), {}, "rgb" if rgb else "lab"


def sa_cgan():
    G = define_G("unet", in_channels=1, out_channels=2, ngf=4, image_size=SIZE, attention_at=8)
    D = define_D("patchgan", in_channels=3, ndf=4, n_layers=2)
    vgg = PerceptualLoss(layers=("relu1_2", "relu2_2", "relu3_3"))
    extra = {"perceptual": conventions.lab_perceptual(vgg), "lambda_perceptual": 10.0}
    return G, D, GANLoss("vanilla"), extra, "lab"


GANS = {
    "lab-gan-cnn": lambda: lab_gan("cnn"),
    "lab-gan-resnet18": lambda: lab_gan("resnet18"),
    "pix2pix-lab": lambda: pix2pix("batch", rgb=False),
    "pix2pix-rgb": lambda: pix2pix("instance", rgb=True),
    "sa-cgan": sa_cgan,
}


@pytest.mark.parametrize("name", sorted(GANS))
def test_every_gan_step_runs_under_autocast(name):
    G, D, gan_loss, extra, io = GANS[name]()
    before_G, before_D = params(G), params(D)
    seen_G, seen_D = first_conv_dtype(G), first_conv_dtype(D)
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-3)
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-3)
    step = steps.gan_step(
        G, D, opt_G, opt_D, gan_loss, pair=conventions.get(io).pair, device="cpu",
        amp=torch.bfloat16, **extra,
    )  # fmt: skip
    out = step(batch())
    assert seen_G and set(seen_G) == {torch.bfloat16}
    assert len(seen_D) == 3 and set(seen_D) == {torch.bfloat16}  # real, fake, and for G
    assert all(torch.isfinite(torch.tensor(v)) for v in out.values())
    assert changed(before_G, G) and changed(before_D, D)
    if "perceptual" in extra:
        assert out["loss_G_perceptual"] > 0


def test_amp_auto_is_float16_with_a_scaler_on_cuda_only():
    assert steps.autocast_dtype("cuda") == torch.float16
    assert steps.autocast_dtype(torch.device("cuda", 1)) == torch.float16
    assert steps.autocast_dtype("cpu") is None
    assert steps.autocast_dtype("cpu", torch.bfloat16) == torch.bfloat16
    assert steps.autocast_dtype("cuda", None) is None
    with pytest.raises(ValueError, match="amp"):
        steps.autocast_dtype("cpu", "bf16")


def test_without_amp_the_cpu_step_is_plain_float32():
    model = define_G("colornet", widths=[4, 8], activation="sigmoid")
    seen = first_conv_dtype(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    step = steps.supervised_step(model, optimizer, nn.MSELoss(), conventions.get("unit").pair)
    step(batch())
    assert seen == [torch.float32]


# --- no loss on probabilities, anywhere in training code ------------------------------------------

FORBIDDEN = {"BCELoss", "binary_cross_entropy", "from_probabilities"}


def probability_losses(code: str) -> list[str]:
    """Names and attributes in `code` that train on probabilities (docstrings do not count)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:  # a notebook cell with IPython magics: fall back to the text
        return sorted(set(re.findall(r"\b(BCELoss|binary_cross_entropy|from_probabilities)\b",
                                     code)))  # fmt: skip
    found = []
    for node in ast.walk(tree):
        name = (
            getattr(node, "id", None) or getattr(node, "attr", None) or getattr(node, "arg", None)
        )
        if isinstance(node, ast.keyword):
            name = node.arg
        if name in FORBIDDEN:
            found.append(name)
    return sorted(set(found))


def training_code() -> dict[str, str]:
    sources = {
        p.relative_to(REPO).as_posix(): p.read_text() for p in (REPO / "colorlib").rglob("*.py")
    }
    for nb in sorted((REPO / "notebooks").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for i, cell in enumerate(cells):
            if cell["cell_type"] == "code":
                sources[f"{nb.name} cell {i}"] = "".join(cell["source"])
    return sources


def test_no_training_code_takes_probabilities():
    offenders = {
        where: hit for where, code in training_code().items() if (hit := probability_losses(code))
    }
    assert offenders == {}


def test_the_probability_scan_can_fail():
    assert probability_losses("loss = nn.BCELoss()(torch.sigmoid(x), y)") == ["BCELoss"]
    assert probability_losses("F.binary_cross_entropy(p, y)") == ["binary_cross_entropy"]
    assert probability_losses("GANLoss('vanilla', from_probabilities=True)") == [
        "from_probabilities"
    ]
    assert probability_losses("F.binary_cross_entropy_with_logits(z, y)") == []
    assert probability_losses('"""trains with BCELoss in the source"""') == []
    assert probability_losses("%time nn.BCELoss()") == ["BCELoss"]


class Sigmoids(TorchFunctionMode):
    """Counts sigmoid calls (torch.sigmoid, Tensor.sigmoid, nn.Sigmoid, F.sigmoid)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in ("sigmoid", "sigmoid_"):
            self.calls += 1
        return func(*args, **(kwargs or {}))


SMALL_D = {
    "cnn": {"ndf": 4, "image_size": SIZE},
    "resnet18": {"in_channels": 3, "pretrained": False},
    "patchgan": {"in_channels": 3, "ndf": 4, "n_layers": 2},
}


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_every_discriminator_returns_logits(name):
    D = define_D(name, **SMALL_D[name]).train()
    x = torch.randn(4, 3, SIZE, SIZE) * 5
    with Sigmoids() as mode:
        out = D(x)
    assert mode.calls == 0, f"{name} applies a sigmoid in forward"
    assert out.dtype == torch.float32
    if hasattr(D, "probability"):  # the Lab GAN's: a probability for display only
        with torch.no_grad():
            p = D.probability(x)
            assert torch.allclose(p, torch.sigmoid(D(x)))
        assert 0 <= p.min() and p.max() <= 1


def test_the_sigmoid_count_can_fail():
    with Sigmoids() as mode:
        nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())(torch.zeros(1, 2))
    assert mode.calls == 1
