"""colorlib.data.decode: awkward files (corrupt, alpha, palette, 16-bit, CMYK, gray, EXIF), as
`load_images` reports them, and the recursive folder listing."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from colorlib.data import DataWarning, ImageSet, decode_image, load_images
from colorlib.data.decode import list_folder


def load(folder: Path, tmp_path: Path, **kwargs) -> ImageSet:
    return load_images(folder, cache_dir=tmp_path / "cache", progress=False, **kwargs)


def chw(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


def test_corrupt_file_skipped_with_warning_and_error_when_alone(photo_folder, tmp_path):
    (photo_folder / "bad.png").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.warns(DataWarning, match=r"bad\.png: cannot decode"):
        images = load(photo_folder, tmp_path)
    assert images.names == ["good.png"]
    (photo_folder / "good.png").unlink()
    with pytest.raises(ValueError, match=r"bad\.png"):
        load(photo_folder, tmp_path)


def test_non_image_file_skipped_with_warning(photo_folder, tmp_path):
    (photo_folder / "notes.txt").write_text("hello")
    with pytest.warns(DataWarning, match=r"notes\.txt: not an image file"):
        images = load(photo_folder, tmp_path)
    assert images.names == ["good.png"]


def test_rgba_alpha_dropped_with_warning(photo_folder, tmp_path, make_photo):
    rgba = make_photo(photo_folder / "alpha.png", size=(30, 30), mode="RGBA", seed=3)
    with pytest.warns(DataWarning, match=r"alpha\.png: alpha channel dropped"):
        images = load(photo_folder, tmp_path)
    got = images.images[images.names.index("alpha.png")]
    assert torch.equal(got, torch.from_numpy(np.array(rgba)[:, :, :3]).permute(2, 0, 1))


def test_palette_converted_with_warning(photo_folder, tmp_path, make_photo):
    palette = make_photo(photo_folder / "palette.png", size=(30, 30), mode="P", seed=4)
    with pytest.warns(DataWarning, match=r"palette\.png: palette image converted"):
        images = load(photo_folder, tmp_path)
    assert torch.equal(images.images[images.names.index("palette.png")], chw(palette))


def test_gray_16bit_scaled_and_skipped_in_colour_set(photo_folder, tmp_path):
    values = np.array([[0, 257 * 128, 65280, 65535]], np.uint16).repeat(4, axis=0)
    Image.fromarray(values).save(photo_folder / "gray16.png")
    assert Image.open(photo_folder / "gray16.png").mode == "I;16"
    with pytest.warns(DataWarning, match=r"gray16\.png: grayscale"):
        images = load(photo_folder, tmp_path)
    assert images.names == ["good.png"]
    with pytest.warns(DataWarning, match=r"gray16\.png: 16-bit image scaled"):
        kept = load(photo_folder, tmp_path, keep_gray=True)
    got = kept.images[kept.names.index("gray16.png")]
    assert got[:, 0].tolist() == [[0, 128, 254, 255]] * 3


def test_gray_16bit_photo_matches_its_8bit_source(tmp_path, make_photo):
    photo = make_photo(tmp_path / "g16.png", size=(20, 10), mode="I;16", seed=2)
    decoded = decode_image(tmp_path / "g16.png")
    assert decoded.gray and decoded.notes == ["16-bit image scaled to 8-bit"]
    eight_bit = np.asarray(photo, dtype=np.uint32) // 257  # the factory stores gray * 257
    assert torch.equal(decoded.image[0], torch.from_numpy(eight_bit.astype(np.uint8)))


def test_rgb_16bit_scaled_to_8bit(photo_folder, tmp_path):
    # Distinct per-channel values check the channel order; 65280 -> 254 (not the 255 of >> 8).
    bgr = np.empty((6, 6, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 65280, 257 * 100, 65535
    cv2.imwrite(str(photo_folder / "rgb16.png"), bgr)
    with pytest.warns(DataWarning, match=r"rgb16\.png: 16-bit image scaled"):
        images = load(photo_folder, tmp_path)
    got = images.images[images.names.index("rgb16.png")]
    assert got[:, 0, 0].tolist() == [255, 100, 254]
    assert got.shape == (3, 6, 6)


def test_truncated_jpeg_is_rejected(photo_folder, tmp_path, make_photo):
    make_photo(photo_folder / "cut.jpg", size=(64, 64), seed=6, quality=95)
    whole = (photo_folder / "cut.jpg").read_bytes()
    (photo_folder / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.warns(DataWarning, match=r"cut\.jpg: cannot decode"):
        images = load(photo_folder, tmp_path)
    assert images.names == ["good.png"]


def test_rgb_16bit_tiff_read_through_opencv(photo_folder, tmp_path):
    bgr = np.empty((5, 7, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 257 * 10, 257 * 20, 65280
    cv2.imwrite(str(photo_folder / "rgb16.tif"), bgr)
    with pytest.warns(DataWarning, match=r"rgb16\.tif: 16-bit image scaled"):
        images = load(photo_folder, tmp_path)
    got = images.images[images.names.index("rgb16.tif")]
    assert got.shape == (3, 5, 7) and got[:, 2, 3].tolist() == [254, 20, 10]


def test_cmyk_jpeg_converted_with_warning(photo_folder, tmp_path, make_photo):
    make_photo(photo_folder / "cmyk.jpg", size=(32, 32), mode="CMYK", seed=5)
    with pytest.warns(DataWarning, match=r"cmyk\.jpg: CMYK image converted"):
        images = load(photo_folder, tmp_path)
    expected = chw(Image.open(photo_folder / "cmyk.jpg"))
    assert torch.equal(images.images[images.names.index("cmyk.jpg")], expected)


def test_grayscale_skipped_in_colour_set(photo_folder, tmp_path, make_photo):
    make_photo(photo_folder / "gray.png", size=(20, 20), mode="L")
    with pytest.warns(DataWarning, match=r"gray\.png: grayscale image"):
        images = load(photo_folder, tmp_path)
    assert images.names == ["good.png"]
    kept = load(photo_folder, tmp_path, keep_gray=True)
    assert kept.names == ["good.png", "gray.png"]


def test_exif_orientation_is_honoured(photo_folder, tmp_path):
    # 20 rows x 40 columns, left half red; orientation 6 = rotate 90 degrees clockwise to display.
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(photo_folder / "rotated.jpg", exif=exif.tobytes(), quality=95)
    images = load(photo_folder, tmp_path)
    got = images.images[images.names.index("rotated.jpg")].int()
    assert got.shape == (3, 40, 20)
    assert got[0, 5, 10] > 200 and got[2, 5, 10] < 50  # the left (red) half is now on top
    assert got[2, 35, 10] > 200 and got[0, 35, 10] < 50


def test_decode_image_reads_jpeg_comment(tmp_path, make_photo):
    make_photo(tmp_path / "face.jpg", size=(16, 16), comment=b"s12")
    decoded = decode_image(tmp_path / "face.jpg")
    assert decoded.comment == "s12" and not decoded.gray and decoded.image.shape == (3, 16, 16)


def test_list_folder_recurses_in_a_stable_order(tmp_path, make_photo):
    root = tmp_path / "set"
    for name in ("b.png", "Train/z.jpg", "Train/a.jpg", "Test/deep/c.png", "Train-x.png"):
        make_photo(root / name, size=(8, 8))
    make_photo(root / ".hidden" / "h.png", size=(8, 8))
    make_photo(root / "Train" / ".h.png", size=(8, 8))
    make_photo(root / "cache" / "stale.png", size=(8, 8))
    (root / "Train" / "notes.txt").write_text("x")
    (root / "SHA256SUMS").write_text("")
    images, others = list_folder(root, skip=[root / "cache"])
    assert [p.relative_to(root).as_posix() for p in images] == [
        "Test/deep/c.png",
        "Train/a.jpg",
        "Train/z.jpg",
        "Train-x.png",
        "b.png",
    ]
    assert [p.relative_to(root).as_posix() for p in others] == ["Train/notes.txt"]
