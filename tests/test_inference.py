"""Exported models and full-resolution inference."""

from __future__ import annotations

import pytest
import torch

from colorlib import color, inference
from colorlib.inference import predict
from colorlib.modelfile import CheckpointError, ModelSpec, load_model, save_model
from colorlib.models import define_G


def tiny_unet_spec(io: str = "lab", channels: tuple[int, int] = (1, 2)) -> ModelSpec:
    kwargs = {"in_channels": channels[0], "out_channels": channels[1], "ngf": 4, "image_size": 32}
    return ModelSpec(method="pix2pix_lab", arch="unet", kwargs=kwargs, io=io, size=32)


@pytest.fixture()
def photo(photo_tensor):
    return photo_tensor


def test_save_and_load_round_trip(tmp_path):
    spec = tiny_unet_spec()
    model = spec.build().eval()
    path = save_model(tmp_path / "m" / "model.pt", model, spec)
    loaded, spec2 = load_model(path)
    assert spec2 == spec
    for a, b in zip(model.state_dict().values(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert not list((tmp_path / "m").glob(".*tmp"))  # the atomic write left nothing behind


def test_predict_keeps_full_resolution_and_the_original_lightness(photo):
    spec = tiny_unet_spec()
    model = spec.build().eval()
    image = photo(67, 100)  # non-square, not a multiple of the model size
    out = predict(model, spec, image)
    assert out.shape == (3, 67, 100) and out.dtype == torch.uint8
    L_in = color.rgb_to_lab(color.to_float(image)[None])[0, 0]
    L_out = color.rgb_to_lab(color.to_float(out)[None])[0, 0]
    # Only colour comes from the net; L survives up to 8-bit rounding and gamut clipping.
    assert (L_in - L_out).abs().median() < 0.5


def test_predict_gray_and_colour_inputs_agree(photo):
    """A colour photo is made gray first: its colour must not leak into the result."""
    spec = tiny_unet_spec()
    model = spec.build().eval()
    image = photo(40, 56)
    gray = predict(model, spec, image)  # from colour
    L_norm, _ = color.rgb_to_model_input(color.to_float(image)[None])
    as_gray = color.to_uint8(color.gray_rgb(L_norm))[0]
    assert (predict(model, spec, as_gray).int() - gray.int()).abs().max() <= 2


@pytest.mark.parametrize(
    ("io", "arch", "kwargs"),
    [
        ("unit", "colornet", {"widths": [4, 8]}),
        ("mean_chroma", "regressor", {"in_size": 64}),
        (
            "rgb",
            "unet",
            {"in_channels": 3, "out_channels": 3, "ngf": 4, "image_size": 32, "norm": "instance"},
        ),
    ],
)
def test_every_io_convention_predicts_a_full_size_image(io, arch, kwargs, photo):
    size = 64 if arch == "regressor" else 32
    spec = ModelSpec(method=arch, arch=arch, kwargs=kwargs, io=io, size=size)
    out = predict(spec.build().eval(), spec, photo(45, 70))
    assert out.shape == (3, 45, 70)


def test_mean_chroma_paints_one_colour():
    spec = ModelSpec(
        method="regressor", arch="regressor", kwargs={"in_size": 64}, io="mean_chroma", size=64
    )
    image = torch.full((3, 40, 60), 128, dtype=torch.uint8)  # flat gray: one L everywhere
    out = predict(spec.build().eval(), spec, image)
    assert (out.int() - out[:, :1, :1].int()).abs().max() <= 1


def test_load_rejects_foreign_and_broken_files(tmp_path):
    with pytest.raises(CheckpointError, match="model file .*missing.pt does not exist"):
        load_model(tmp_path / "missing.pt")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt is not a PyTorch file"):
        load_model(garbage)

    training = tmp_path / "last_checkpoint_3.pt"
    torch.save({"trainer": {"epoch": 3}, "model": {}}, training)
    with pytest.raises(CheckpointError, match="training checkpoint"):
        load_model(training)

    spec = tiny_unet_spec()
    good = save_model(tmp_path / "good.pt", spec.build(), spec)
    with pytest.raises(CheckpointError, match="holds method 'pix2pix_lab', expected 'lab_gan'"):
        load_model(good, expect_method="lab_gan")

    payload = torch.load(good, weights_only=True)
    payload["kwargs"]["ngf"] = 8  # weights no longer fit the architecture
    torch.save(payload, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="mismatch.pt: weights do not fit unet"):
        load_model(tmp_path / "mismatch.pt")

    payload["arch"] = "nonexistent"
    torch.save(payload, tmp_path / "unknown.pt")
    with pytest.raises(CheckpointError, match="unknown here"):
        load_model(tmp_path / "unknown.pt")


def test_load_never_unpickles_arbitrary_objects(tmp_path):
    """weights_only=True: a pickle of an arbitrary class is refused, not executed."""
    path = tmp_path / "evil.pt"
    torch.save({"format": "colorlib-model", "obj": inference.Snapshots}, path)
    with pytest.raises(CheckpointError, match="holds Python objects besides tensors") as info:
        load_model(path)
    assert "weights_only" not in str(info.value)  # never torch's advice to unpickle it anyway


def test_snapshots_write_one_strip_per_chosen_epoch(tmp_path, photo):
    spec = tiny_unet_spec()
    model = define_G("unet", **spec.kwargs)
    snap = inference.Snapshots(
        model,
        spec,
        [photo(40, 60), photo(50, 50, 1)],
        path_for=lambda epoch: tmp_path / f"epoch_{epoch:03d}.png",
        every=2,
        size=32,
    )
    model.train()
    assert snap(1) is None
    path = snap(2)
    assert path is not None and path.name == "epoch_002.png"
    assert model.training  # snapshots do not leave the model in eval mode
    from PIL import Image

    assert Image.open(path).size == (64, 32)


def test_batch_statistics_protocol_uses_each_images_own_stats_and_keeps_running_averages(photo):
    from colorlib.models import batch_statistics

    torch.manual_seed(0)
    spec = tiny_unet_spec()
    model = spec.build()
    model.train()
    for _ in range(3):  # give the running averages something to remember
        model(torch.randn(4, 1, 32, 32) * 3 + 1)
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        running = model(x)
        with batch_statistics(model):
            own = model(x)
    assert not torch.allclose(running, own)  # the protocol changes the prediction
    assert not model.training  # and restores eval mode
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # running averages and counters untouched
    stats_spec = ModelSpec(**{**spec.__dict__, "batch_stats": True})
    image = photo(40, 40)
    assert not torch.equal(predict(model, spec, image), predict(model, stats_spec, image))


def test_batch_stats_flag_survives_export(tmp_path):
    spec = ModelSpec(**{**tiny_unet_spec().__dict__, "batch_stats": True})
    path = save_model(tmp_path / "m.pt", spec.build(), spec)
    assert load_model(path)[1].batch_stats is True


@pytest.mark.parametrize(
    ("arch", "kwargs", "size", "photo_hw", "seen_hw"),
    [
        ("colornet", {"widths": [4, 8]}, 32, (48, 72), (32, 48)),  # 3:2, already a multiple of 4
        ("colornet", {"widths": [4, 8]}, 32, (50, 90), (32, 60)),  # 32 x 58, reflected to 60
        (
            "unet",
            {"ngf": 4, "image_size": 32},
            32,
            (90, 50),
            (64, 32),
        ),  # portrait, 58 rows padded to U-Net's 32
        ("regressor", {"in_size": 64}, 64, (48, 72), (64, 64)),  # one fixed size: a square
    ],
)
def test_a_net_sees_the_photo_at_its_own_aspect_ratio(photo, arch, kwargs, size, photo_hw, seen_hw):
    io = "mean_chroma" if arch == "regressor" else "lab"
    spec = ModelSpec(arch, arch, kwargs, io=io, size=size)
    model = spec.build().eval()
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape[-2:])))
    out = predict(model, spec, photo(*photo_hw))
    assert seen == [seen_hw]
    assert tuple(out.shape) == (3, *photo_hw)
