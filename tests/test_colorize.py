"""The colorize command: files and folders, full resolution, bad files, never the inputs."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from colorlib.__main__ import main
from colorlib.colorize import colorize, plan_outputs
from colorlib.inference import ModelSpec, save_model


@pytest.fixture()
def checkpoint(tmp_path):
    kwargs = {"in_channels": 1, "out_channels": 2, "ngf": 4, "image_size": 32}
    spec = ModelSpec(method="pix2pix_lab", arch="unet", kwargs=kwargs, io="lab", size=32)
    torch.manual_seed(0)
    return save_model(tmp_path / "model.pt", spec.build(), spec)


def write_photo(path, size=(1000, 667), mode="RGB"):
    """A colourful photo-like image of `size` (width, height)."""
    g = torch.Generator().manual_seed(1)
    small = torch.rand(1, 3, 5, 7, generator=g)
    h, w = size[1], size[0]
    big = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear")[0]
    arr = (big * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    Image.fromarray(arr).convert(mode).save(path)
    return path


def test_a_1000x667_photo_comes_back_1000x667(tmp_path, checkpoint):
    src = write_photo(tmp_path / "photo.jpg")
    [outcome] = colorize(checkpoint, [src], tmp_path / "out", progress=False)
    assert outcome.error is None
    assert outcome.output == tmp_path / "out" / "photo_colorized.png"
    assert Image.open(outcome.output).size == (1000, 667)


def test_folders_gray_inputs_and_exif_orientation(tmp_path, checkpoint):
    folder = tmp_path / "in"
    folder.mkdir()
    write_photo(folder / "gray.png", size=(80, 60), mode="L")
    rotated = Image.open(write_photo(folder / "rot.jpg", size=(80, 60)))
    exif = rotated.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display": the result must be portrait
    rotated.save(folder / "rot.jpg", exif=exif)
    (folder / "notes.txt").write_text("not an image, and not picked up from a folder")
    outcomes = colorize(checkpoint, [folder], tmp_path / "out", progress=False)
    sizes = {o.source.name: Image.open(o.output).size for o in outcomes}
    assert sizes == {"gray.png": (80, 60), "rot.jpg": (60, 80)}


def test_a_bad_file_is_reported_and_skipped(tmp_path, checkpoint):
    good = write_photo(tmp_path / "good.png", size=(40, 30))
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff this is no jpeg")
    outcomes = colorize(checkpoint, [bad, good], tmp_path / "out", progress=False)
    assert outcomes[0].output is None and "broken.jpg" in outcomes[0].error
    assert outcomes[1].output is not None and outcomes[1].output.exists()


def test_inputs_are_never_overwritten(tmp_path, checkpoint):
    # An input already named like an output, in the output folder itself.
    src = write_photo(tmp_path / "a_colorized.png", size=(40, 30))
    other = write_photo(tmp_path / "a.png", size=(40, 30))
    before = src.read_bytes()
    outcomes = colorize(checkpoint, [src, other], tmp_path, progress=False)
    assert src.read_bytes() == before
    outputs = {o.output for o in outcomes}
    assert src not in outputs and other not in outputs and len(outputs) == 2


def test_plan_outputs_keeps_same_stems_apart(tmp_path):
    a, b = tmp_path / "x" / "p.jpg", tmp_path / "y" / "p.png"
    assert len(set(plan_outputs([a, b], tmp_path / "out"))) == 2


def test_cli_errors_and_exit_codes(tmp_path, checkpoint, capsys):
    good = write_photo(tmp_path / "good.png", size=(40, 30))
    assert (
        main(
            [
                "colorize",
                "--checkpoint",
                str(checkpoint),
                "--input",
                str(good),
                "--output",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 0
    )
    bad = tmp_path / "bad.png"
    bad.write_text("nope")
    assert (
        main(
            [
                "colorize",
                "--checkpoint",
                str(checkpoint),
                "--input",
                str(good),
                str(bad),
                "--output",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    assert "bad.png" in capsys.readouterr().err
    wrong = tmp_path / "wrong.pt"
    torch.save({"trainer": {}}, wrong)
    assert (
        main(
            [
                "colorize",
                "--checkpoint",
                str(wrong),
                "--input",
                str(good),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "training checkpoint" in capsys.readouterr().err
    assert (
        main(
            [
                "colorize",
                "--checkpoint",
                str(checkpoint),
                "--input",
                str(tmp_path / "nothing-here"),
                "--output",
                str(tmp_path / "o"),
            ]
        )
        == 1
    )
    assert "nothing-here does not exist" in capsys.readouterr().err
