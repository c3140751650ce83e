"""The colorize command: files and folders, full resolution, bad files, never a lost file,
one-line errors, and the full-resolution prediction it relies on."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from colorlib import color, inference
from colorlib import colorize as colorize_module
from colorlib.__main__ import main
from colorlib.colorize import colorize, plan_outputs
from colorlib.errors import UserError
from colorlib.modelfile import ModelSpec, save_model
from colorlib.models import batch_statistics, input_multiple

UNET = {"in_channels": 1, "out_channels": 2, "ngf": 4, "image_size": 32}


@pytest.fixture()
def checkpoint(tmp_path):
    spec = ModelSpec(method="pix2pix_lab", arch="unet", kwargs=UNET, io="lab", size=32)
    torch.manual_seed(0)
    return save_model(tmp_path / "model.pt", spec.build(), spec)


@pytest.fixture()
def photo(make_photo):
    """`photo(path, size=(w, h), mode="RGB")`: a synthetic photo written to `path`; returns it."""

    def write(path, size=(64, 48), mode="RGB", **options):
        make_photo(path, size=size, mode=mode, **options)
        return path

    return write


def run_cli(*args):
    return main(["colorize", *map(str, args), "--quiet"])


def one_error_line(capsys) -> str:
    """The whole of stderr, which must be one line "error: ..."."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# --- what it writes ---------------------------------------------------------------------------


def test_a_1000x667_photo_comes_back_1000x667(tmp_path, checkpoint, photo):
    src = photo(tmp_path / "photo.jpg", size=(1000, 667))
    [outcome] = colorize(checkpoint, [src], tmp_path / "out", progress=False)
    assert outcome.error is None
    assert outcome.output == tmp_path / "out" / "photo_colorized.png"
    assert Image.open(outcome.output).size == (1000, 667)


def test_folders_gray_inputs_and_exif_orientation(tmp_path, checkpoint, photo):
    folder = tmp_path / "in"
    photo(folder / "gray.png", size=(80, 60), mode="L")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the result must be portrait
    photo(folder / "rot.jpg", size=(80, 60), exif=exif)
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    outcomes = colorize(checkpoint, [folder], tmp_path / "out", progress=False)
    sizes = {o.source.name: Image.open(o.output).size for o in outcomes}
    assert sizes == {"gray.png": (80, 60), "rot.jpg": (60, 80)}


def test_a_bad_file_is_reported_and_skipped(tmp_path, checkpoint, photo):
    good = photo(tmp_path / "good.png", size=(40, 30))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff this is no jpeg")
    outcomes = colorize(checkpoint, [bad, good], tmp_path / "out", progress=False)
    assert outcomes[0].output is None and outcomes[0].source == bad
    assert "cannot decode" in outcomes[0].error and "broken.jpg" not in outcomes[0].error
    assert outcomes[1].output is not None and outcomes[1].output.exists()


def test_inputs_are_never_overwritten(tmp_path, checkpoint, photo):
    # An input already named like an output, in the output folder itself.
    src = photo(tmp_path / "a_colorized.png", size=(40, 30))
    other = photo(tmp_path / "a.png", size=(40, 30))
    before = src.read_bytes()
    outcomes = colorize(checkpoint, [src, other], tmp_path, progress=False, overwrite=True)
    assert src.read_bytes() == before
    outputs = {o.output for o in outcomes}
    assert src not in outputs and other not in outputs and len(outputs) == 2


def test_plan_outputs_keeps_same_stems_apart(tmp_path):
    a, b = tmp_path / "x" / "p.jpg", tmp_path / "y" / "p.png"
    assert len(set(plan_outputs([a, b], tmp_path / "out"))) == 2


# --- never a lost file ------------------------------------------------------------------------


def test_a_second_run_does_not_overwrite_unless_asked(tmp_path, checkpoint, photo):
    sources = [photo(tmp_path / f"p{i}.png", size=(40, 30), seed=i) for i in range(3)]
    out = tmp_path / "out"
    colorize(checkpoint, sources, out, progress=False)
    first = out / "p0_colorized.png"
    first.write_bytes(b"the user's edits")  # e.g. retouched by hand since
    stamps = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(UserError) as info:
        colorize(checkpoint, sources, out, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{first} already exists (and 2 more of the 3 results)")
    assert "--overwrite" in message and "--output" in message
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == stamps  # nothing touched
    assert first.read_bytes() == b"the user's edits"

    colorize(checkpoint, sources, out, progress=False, overwrite=True)
    assert Image.open(first).size == (40, 30)
    assert sorted(p.name for p in out.iterdir()) == [f"p{i}_colorized.png" for i in range(3)]


def test_the_users_own_file_beside_the_photo_is_kept(tmp_path, checkpoint, photo, capsys):
    src = photo(tmp_path / "photo.jpg")
    mine = tmp_path / "photo_colorized.png"
    mine.write_bytes(b"coloured by hand")
    assert run_cli("--checkpoint", checkpoint, "--input", src, "--output", tmp_path) == 2
    line = one_error_line(capsys)
    assert f"{mine} already exists" in line and "--overwrite" in line
    assert mine.read_bytes() == b"coloured by hand"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "photo.jpg", mine.name]


def test_a_folder_that_is_the_output_skips_its_earlier_results(tmp_path, checkpoint, photo, capsys):
    photo(tmp_path / "photo.png", size=(40, 30))
    photo(tmp_path / "y.jpg", size=(40, 30), seed=1)
    photo(tmp_path / "sub" / "y.png", size=(40, 30), seed=2)  # same stem: y_colorized-2.png
    first = colorize(checkpoint, [tmp_path, tmp_path / "sub"], tmp_path, progress=False)
    names = {"photo_colorized.png", "y_colorized.png", "y_colorized-2.png"}
    assert {o.output.name for o in first} == names
    capsys.readouterr()

    again = colorize(
        checkpoint, [tmp_path, tmp_path / "sub"], tmp_path, progress=False, overwrite=True
    )
    assert {o.source.name for o in again} == {"photo.png", "y.jpg", "y.png"}
    assert {o.output.name for o in again} == names
    assert not list(tmp_path.glob("*_colorized_colorized*"))
    err = capsys.readouterr().err
    assert err.count("earlier result") == 1 and "3 earlier result(s)" in err

    # Named as files, they are colorized like any other.
    [outcome] = colorize(checkpoint, [tmp_path / "y_colorized.png"], tmp_path, progress=False)
    assert outcome.output.name == "y_colorized_colorized.png"


def test_a_folder_of_earlier_results_only(tmp_path, checkpoint, photo):
    photo(tmp_path / "x_colorized.png")
    with pytest.raises(UserError, match="only earlier results of this command"):
        colorize(checkpoint, [tmp_path], tmp_path, progress=False)


# --- one-line errors, exit status ---------------------------------------------------------------


def test_exit_status_0_on_success_2_when_a_file_was_skipped(tmp_path, checkpoint, photo, capsys):
    good = photo(tmp_path / "good.png", size=(40, 30))
    assert run_cli("--checkpoint", checkpoint, "--input", good, "--output", tmp_path / "a") == 0
    assert capsys.readouterr().err == ""
    bad = tmp_path / "bad.png"
    bad.write_text("nope, a text file")
    argv = ("--checkpoint", checkpoint, "--input", good, bad, "--output", tmp_path / "b")
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert err.count(str(bad)) == 1 and "bad.png" in err  # its path once, not twice
    assert (tmp_path / "b" / "good_colorized.png").exists()


def _truncated(tmp_path, checkpoint):
    path = tmp_path / "truncated.pt"
    path.write_bytes(checkpoint.read_bytes()[: checkpoint.stat().st_size // 2])
    return path


def _lacking_fields(tmp_path, checkpoint):
    payload = torch.load(checkpoint, weights_only=True)
    del payload["state_dict"], payload["size"]
    torch.save(payload, tmp_path / "lacking.pt")
    return tmp_path / "lacking.pt"


def _nan_weights(tmp_path, checkpoint):
    payload = torch.load(checkpoint, weights_only=True)
    name = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
    payload["state_dict"][name] = torch.full_like(payload["state_dict"][name], float("nan"))
    torch.save(payload, tmp_path / "nan.pt")
    return tmp_path / "nan.pt"


def _training_checkpoint(tmp_path, checkpoint):
    torch.save({"trainer": {"epoch": 3}, "G": {}, "optimizer": {}}, tmp_path / "ckpt_3.pt")
    return tmp_path / "ckpt_3.pt"


def _png(tmp_path, checkpoint):
    Image.new("RGB", (8, 8)).save(tmp_path / "image.png")
    return tmp_path / "image.png"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_png, "is not a PyTorch file (it is a PNG image)"),
        (_truncated, "unreadable, probably truncated"),
        (_lacking_fields, "lacks the fields"),
        (_nan_weights, "non-finite weights"),
        (_training_checkpoint, "training checkpoint"),
    ],
)
def test_a_wrong_checkpoint_is_one_line(tmp_path, checkpoint, photo, capsys, make, words):
    bad = make(tmp_path, checkpoint)
    src = photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    assert run_cli("--checkpoint", bad, "--input", src, "--output", out) == 2
    line = one_error_line(capsys)
    assert str(bad) in line and words in line
    assert "weights_only" not in line
    assert not out.exists()  # refused before any work: no black images, no empty folder
    with pytest.raises(UserError, match=words.replace("(", r"\(").replace(")", r"\)")):
        colorize(bad, [src], out, progress=False)


@pytest.mark.parametrize(
    ("device", "words"),
    [("gpu", "is not a device"), ("cuda", "CUDA"), ("cuda:1", "CUDA")],
)
def test_a_device_that_is_not_there_is_one_line(
    tmp_path, checkpoint, photo, capsys, monkeypatch, device, words
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    src = photo(tmp_path / "photo.png")
    out = tmp_path / "out"
    argv = ("--checkpoint", checkpoint, "--input", src, "--output", out, "--device", device)
    assert run_cli(*argv) == 2
    assert words in one_error_line(capsys)
    with pytest.raises(UserError, match=words):
        colorize(checkpoint, [src], out, device=device, progress=False)
    assert not out.exists()


def test_a_missing_input(tmp_path, checkpoint, capsys):
    missing = tmp_path / "nothing-here"
    assert run_cli("--checkpoint", checkpoint, "--input", missing, "--output", tmp_path) == 2
    assert f"{missing} does not exist" in one_error_line(capsys)


def test_an_output_that_is_a_file(tmp_path, checkpoint, photo, capsys):
    src = photo(tmp_path / "photo.png")
    afile = tmp_path / "afile"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        with pytest.raises(UserError) as info:
            colorize(checkpoint, [src], out, progress=False)
        assert "\n" not in str(info.value) and f"{afile} is a file" in str(info.value)
        assert run_cli("--checkpoint", checkpoint, "--input", src, "--output", out) == 2
        assert str(afile) in one_error_line(capsys)
    assert afile.read_text() == "x"


def test_an_output_folder_that_cannot_be_written_is_found_before_any_work(
    tmp_path, checkpoint, photo, monkeypatch
):
    src = photo(tmp_path / "photo.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if p == locked else real_access(p, mode)
    )
    with pytest.raises(UserError, match=f"--output {locked}: no permission to write in"):
        colorize(checkpoint, [src], locked, progress=False)
    with pytest.raises(UserError, match=f"no permission to make {locked / 'sub'} in {locked}$"):
        colorize(checkpoint, [src], locked / "sub", progress=False)
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores permissions"
)
def test_an_output_folder_without_write_permission(tmp_path, checkpoint, photo, capsys):
    src = photo(tmp_path / "photo.png")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert run_cli("--checkpoint", checkpoint, "--input", src, "--output", locked) == 2
        assert "no permission" in one_error_line(capsys)
    finally:
        locked.chmod(0o700)


def test_timings_line_on_request(tmp_path, checkpoint, photo, capsys, monkeypatch):
    monkeypatch.setenv(colorize_module.TIMINGS_ENV, "1")
    colorize(checkpoint, [photo(tmp_path / "p.png")], tmp_path / "out", progress=False)
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("colorize timings (s): startup=")
    for field in ("load=", "decode=", "predict=", "encode=", "peak_rss_mb="):
        assert field in line


def test_colorize_imports_no_training_stack():
    """The command must not pay for the training engine, ignite, pandas or matplotlib."""
    banned = ("ignite", "pandas", "matplotlib", "colorlib.engine")
    code = (
        "import colorlib.colorize, sys; "
        f"found = [m for m in sys.modules if m.startswith({banned!r})]; "
        "assert not found, found"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# --- the full-resolution prediction, in strips ------------------------------------------------


def straightforward_predict(model, spec, image):
    """What `inference.predict` computes, the plain way: whole-image float32 tensors and the
    reference conversions of `colorlib.color`; the short side at the training size, the input
    reflected out to the network's multiple (a square for the regressor)."""
    L_full, _ = color.rgb_to_model_input(color.to_float(image)[None])
    H, W = L_full.shape[-2:]
    multiple = input_multiple(model)
    if multiple is None:
        h, w = spec.size, spec.size
    else:
        h, w = round(H * spec.size / min(H, W)), round(W * spec.size / min(H, W))
    L_small = F.interpolate(
        L_full, size=(h, w), mode="bilinear", antialias=True, align_corners=False
    )
    convention = spec.convention
    x = convention.model_input(L_small)
    top = left = 0
    if multiple is not None:
        ph, pw = -h % multiple, -w % multiple
        top, left = ph // 2, pw // 2
        x = F.pad(x, (left, pw - left, top, ph - top), mode="reflect")
    with torch.no_grad(), batch_statistics(model) if spec.batch_stats else nullcontext():
        out = model(x)
    if out.dim() == 4:
        out = out[..., top : top + h, left : left + w]
    if convention.own_rgb is not None:
        rgb = F.interpolate(convention.own_rgb(out), size=(H, W), mode="bilinear")
        return color.to_uint8(rgb)[0]
    ab_small = convention.to_ab(out, L_small)
    ab_full = F.interpolate(ab_small, size=(H, W), mode="bilinear", align_corners=False)
    return color.to_uint8(color.model_output_to_rgb(L_full, ab_full))[0]


def demanding_photo(h: int, w: int) -> torch.Tensor:
    """Smooth colour fields, plus noise, black, white and saturated primaries: every branch of
    the sRGB and Lab curves, and colours far out of gamut once re-coloured."""
    g = torch.Generator().manual_seed(3)
    image = F.interpolate(torch.rand(1, 3, 5, 7, generator=g), size=(h, w), mode="bicubic")
    image = (image[0].clamp(0, 1) * 255).round().to(torch.uint8)
    image[:, :20, :20] = torch.randint(0, 256, (3, 20, 20), generator=g, dtype=torch.uint8)
    image[:, -10:, :10] = 0
    image[:, -10:, 10:20] = 255
    image[:, :10, -30:] = 0
    for i in range(3):
        image[i, :10, w - 30 + 10 * i : w - 20 + 10 * i] = 255
    image[:, 30:40, :] = torch.arange(w) % 8  # near black: the linear branches
    return image


@pytest.mark.parametrize(
    ("io", "arch", "kwargs", "size", "batch_stats"),
    [
        ("lab", "unet", UNET, 32, False),
        ("lab", "unet", UNET, 32, True),
        ("unit", "colornet", {"widths": [4, 8]}, 32, False),
        ("mean_chroma", "regressor", {"in_size": 64}, 64, False),
        ("rgb", "unet", {**UNET, "in_channels": 3, "out_channels": 3, "norm": "instance"}, 32, 0),
    ],
)
def test_predict_in_strips_equals_the_straightforward_computation(
    monkeypatch, io, arch, kwargs, size, batch_stats
):
    monkeypatch.setattr(inference, "_CPU_STRIP_PIXELS", 7000)  # many strips, a ragged last one
    spec = ModelSpec(arch, arch, kwargs, io=io, size=size, batch_stats=bool(batch_stats))
    torch.manual_seed(0)
    model = spec.build().eval()
    image = demanding_photo(203, 301)
    got = inference.predict(model, spec, image)
    want = straightforward_predict(model, spec, image)
    assert got.shape == want.shape == (3, 203, 301) and got.dtype == torch.uint8
    diff = (got.int() - want.int()).abs()
    assert diff.max() <= 1, diff.max()
    assert (diff > 0).float().mean() < 0.01  # and rarely even that


def test_predict_saves_without_a_copy_and_keeps_the_lightness():
    spec = ModelSpec("pix2pix_lab", "unet", UNET, io="lab", size=32)
    image = demanding_photo(120, 90)
    out = inference.predict(spec.build().eval(), spec, image)
    assert out.permute(1, 2, 0).is_contiguous()  # (H, W, 3) memory, as PIL wants it
    L_in = color.rgb_to_lab(color.to_float(image)[None])[0, 0]
    L_out = color.rgb_to_lab(color.to_float(out)[None])[0, 0]
    assert (L_in - L_out).abs().median() < 0.5
