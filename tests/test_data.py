"""Tests of colorlib.data: registry, awkward files, decode cache, downloads, splits, loader."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import colorlib.data as data
from colorlib.color import rgb_to_model_input, to_float
from colorlib.data import (
    DATASETS,
    FACES_MIRROR_ENV,
    Augment,
    BatchLoader,
    ChecksumError,
    DataWarning,
    DownloadError,
    ImageSet,
    decode_image,
    download_faces,
    load_images,
    offline_augment,
    read_checksums,
    split,
    verify_checksums,
)

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO / "data" / "kodak24"
FACES_MIRROR = Path(__file__).parents[1] / ".." / "shared" / "datasets" / "face_images"


def colour(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save_png(path: Path, array: np.ndarray) -> Path:
    Image.fromarray(array).save(path)
    return path


def write_sums(folder: Path, names: list[str], path: Path) -> Path:
    lines = [f"{hashlib.sha256((folder / n).read_bytes()).hexdigest()}  {n}" for n in names]
    path.write_text("\n".join(lines) + "\n")
    return path


def load(folder: Path, tmp_path: Path, **kwargs) -> ImageSet:
    return load_images(folder, cache_dir=tmp_path / "cache", progress=False, **kwargs)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with one good colour image, to which a test adds a bad one."""
    d = tmp_path / "images"
    d.mkdir()
    save_png(d / "good.png", colour(48, 64))
    return d


# --- registry and kodak24 -------------------------------------------------------------------------


def test_unknown_dataset_lists_known_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'") as info:
        load_images("imagenet", root=tmp_path)
    for name in DATASETS:
        assert name in str(info.value)


def test_kodak24_loads_both_orientations(tmp_path):
    images = load_images("kodak24", cache_dir=tmp_path, progress=False)
    assert images.source == "kodak24"
    assert images.names == [f"kodim{i:02d}.png" for i in range(1, 25)]
    assert images.groups == images.names
    shapes = [tuple(im.shape) for im in images.images]
    assert shapes.count((3, 512, 768)) == 18 and shapes.count((3, 768, 512)) == 6
    assert all(im.dtype == torch.uint8 for im in images.images)
    reference = np.array(Image.open(KODAK / "kodim01.png").convert("RGB"))
    assert torch.equal(images.images[0], torch.from_numpy(reference).permute(2, 0, 1))


def test_verify_checksums_accepts_kodak24():
    assert verify_checksums(KODAK) == [f"kodim{i:02d}.png" for i in range(1, 25)]


def test_verify_checksums_names_bad_and_missing_files(tmp_path):
    for name in ("a.png", "b.png"):
        save_png(tmp_path / name, colour(8, 8, seed=len(name)))
    write_sums(tmp_path, ["a.png", "b.png"], tmp_path / "SHA256SUMS")
    assert verify_checksums(tmp_path) == ["a.png", "b.png"]
    with open(tmp_path / "a.png", "ab") as f:
        f.write(b"x")
    with pytest.raises(ChecksumError, match=r"a\.png \(SHA-256 mismatch\)"):
        verify_checksums(tmp_path)
    (tmp_path / "b.png").unlink()
    with pytest.raises(ChecksumError, match=r"b\.png \(missing\)"):
        verify_checksums(tmp_path)


def test_read_checksums_rejects_malformed_line(tmp_path):
    sums = tmp_path / "bad.sha256"
    sums.write_text("not-a-hash  file.jpg\n")
    with pytest.raises(ValueError, match="line 1"):
        read_checksums(sums)


# --- decode cache ---------------------------------------------------------------------------------


def test_second_load_does_not_decode(folder, tmp_path, monkeypatch):
    save_png(folder / "other.png", colour(40, 40, seed=1))
    first = load(folder, tmp_path)

    def fail(path):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(data, "decode_image", fail)
    second = load(folder, tmp_path)
    assert second.names == first.names == ["good.png", "other.png"]
    assert all(torch.equal(a, b) for a, b in zip(first.images, second.images, strict=True))


def test_cache_invalidated_when_a_file_changes(folder, tmp_path, monkeypatch):
    save_png(folder / "other.png", colour(40, 40, seed=1))
    load(folder, tmp_path)
    new = colour(40, 40, seed=2)
    save_png(folder / "other.png", new)
    st = (folder / "other.png").stat()
    os.utime(folder / "other.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    decoded = []

    def counting(path):
        decoded.append(Path(path).name)
        return decode_image(path)

    monkeypatch.setattr(data, "decode_image", counting)
    images = load(folder, tmp_path)
    assert decoded == ["other.png"]
    assert torch.equal(images.images[1], torch.from_numpy(new).permute(2, 0, 1))


def test_cache_lives_under_root_by_default(folder, tmp_path):
    load_images(folder, root=tmp_path / "root", progress=False)
    assert len(list((tmp_path / "root" / ".cache").glob("*.pt"))) == 1


# --- bad input ------------------------------------------------------------------------------------


def test_corrupt_file_skipped_with_warning_and_error_when_alone(folder, tmp_path):
    (folder / "bad.png").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.warns(DataWarning, match=r"bad\.png: cannot decode"):
        images = load(folder, tmp_path)
    assert images.names == ["good.png"]
    (folder / "good.png").unlink()
    with pytest.raises(ValueError, match=r"bad\.png"):
        load(folder, tmp_path)


def test_non_image_file_skipped_with_warning(folder, tmp_path):
    (folder / "notes.txt").write_text("hello")
    with pytest.warns(DataWarning, match=r"notes\.txt: not an image file"):
        images = load(folder, tmp_path)
    assert images.names == ["good.png"]


def test_rgba_alpha_dropped_with_warning(folder, tmp_path):
    rgba = np.dstack([colour(30, 30, seed=3), np.full((30, 30), 100, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(folder / "alpha.png")
    with pytest.warns(DataWarning, match=r"alpha\.png: alpha channel dropped"):
        images = load(folder, tmp_path)
    got = images.images[images.names.index("alpha.png")]
    assert torch.equal(got, torch.from_numpy(rgba[:, :, :3].copy()).permute(2, 0, 1))


def test_palette_converted_with_warning(folder, tmp_path):
    palette = Image.fromarray(colour(30, 30, seed=4)).quantize(colors=16)
    palette.save(folder / "palette.png")
    with pytest.warns(DataWarning, match=r"palette\.png: palette image converted"):
        images = load(folder, tmp_path)
    expected = np.asarray(palette.convert("RGB"))
    got = images.images[images.names.index("palette.png")]
    assert torch.equal(got, torch.from_numpy(expected.copy()).permute(2, 0, 1))


def test_gray_16bit_scaled_and_skipped_in_colour_set(folder, tmp_path):
    values = np.array([[0, 257 * 128, 65280, 65535]], np.uint16).repeat(4, axis=0)
    Image.fromarray(values).save(folder / "gray16.png")
    assert Image.open(folder / "gray16.png").mode == "I;16"
    with pytest.warns(DataWarning, match=r"gray16\.png: grayscale"):
        images = load(folder, tmp_path)
    assert images.names == ["good.png"]
    with pytest.warns(DataWarning, match=r"gray16\.png: 16-bit image scaled"):
        kept = load(folder, tmp_path, keep_gray=True)
    got = kept.images[kept.names.index("gray16.png")]
    assert got[:, 0].tolist() == [[0, 128, 254, 255]] * 3


def test_rgb_16bit_scaled_to_8bit(folder, tmp_path):
    # Distinct per-channel values check the channel order; 65280 -> 254 (not the 255 of >> 8).
    bgr = np.empty((6, 6, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 65280, 257 * 100, 65535
    cv2.imwrite(str(folder / "rgb16.png"), bgr)
    with pytest.warns(DataWarning, match=r"rgb16\.png: 16-bit image scaled"):
        images = load(folder, tmp_path)
    got = images.images[images.names.index("rgb16.png")]
    assert got[:, 0, 0].tolist() == [255, 100, 254]
    assert got.shape == (3, 6, 6)


def test_truncated_jpeg_is_rejected(folder, tmp_path):
    Image.fromarray(colour(64, 64, seed=6)).save(folder / "cut.jpg", quality=95)
    whole = (folder / "cut.jpg").read_bytes()
    (folder / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    with pytest.warns(DataWarning, match=r"cut\.jpg: cannot decode"):
        images = load(folder, tmp_path)
    assert images.names == ["good.png"]


def test_rgb_16bit_tiff_read_through_opencv(folder, tmp_path):
    bgr = np.empty((5, 7, 3), np.uint16)
    bgr[..., 0], bgr[..., 1], bgr[..., 2] = 257 * 10, 257 * 20, 65280
    cv2.imwrite(str(folder / "rgb16.tif"), bgr)
    with pytest.warns(DataWarning, match=r"rgb16\.tif: 16-bit image scaled"):
        images = load(folder, tmp_path)
    got = images.images[images.names.index("rgb16.tif")]
    assert got.shape == (3, 5, 7) and got[:, 2, 3].tolist() == [254, 20, 10]


def test_cmyk_jpeg_converted_with_warning(folder, tmp_path):
    Image.fromarray(colour(32, 32, seed=5)).convert("CMYK").save(folder / "cmyk.jpg")
    with pytest.warns(DataWarning, match=r"cmyk\.jpg: CMYK image converted"):
        images = load(folder, tmp_path)
    expected = np.asarray(Image.open(folder / "cmyk.jpg").convert("RGB"))
    got = images.images[images.names.index("cmyk.jpg")]
    assert torch.equal(got, torch.from_numpy(expected.copy()).permute(2, 0, 1))


def test_grayscale_skipped_in_colour_set(folder, tmp_path):
    Image.fromarray(colour(20, 20)[:, :, 0], "L").save(folder / "gray.png")
    with pytest.warns(DataWarning, match=r"gray\.png: grayscale image"):
        images = load(folder, tmp_path)
    assert images.names == ["good.png"]
    kept = load(folder, tmp_path, keep_gray=True)
    assert kept.names == ["good.png", "gray.png"]


def test_image_smaller_than_crop(folder, tmp_path):
    save_png(folder / "small.png", colour(32, 48))
    with pytest.warns(DataWarning, match=r"small\.png: 48x32 is smaller than the crop size 40"):
        images = load(folder, tmp_path, min_size=40)
    assert images.names == ["good.png"]
    full = load(folder, tmp_path)
    with pytest.raises(ValueError, match=r"small\.png: 48x32 is smaller than the crop size 40"):
        BatchLoader.from_imageset(full, size=40)
    (folder / "good.png").unlink()
    with pytest.raises(ValueError, match=r"small\.png"):
        load(folder, tmp_path, min_size=40)


def test_empty_folder_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=re.escape(f"folder {empty} contains no image files")):
        load(empty, tmp_path)


def test_file_instead_of_folder_is_an_error(folder, tmp_path):
    with pytest.raises(ValueError, match=r"good\.png is a file"):
        load(folder / "good.png", tmp_path)


def test_exif_orientation_is_honoured(folder, tmp_path):
    # 20 rows x 40 columns, left half red; orientation 6 = rotate 90 degrees clockwise to display.
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    a[:, 20:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(folder / "rotated.jpg", exif=exif.tobytes(), quality=95)
    images = load(folder, tmp_path)
    got = images.images[images.names.index("rotated.jpg")].int()
    assert got.shape == (3, 40, 20)
    assert got[0, 5, 10] > 200 and got[2, 5, 10] < 50  # the left (red) half is now on top
    assert got[2, 35, 10] > 200 and got[0, 35, 10] < 50


def test_decode_image_reads_jpeg_comment(tmp_path):
    Image.fromarray(colour(16, 16)).save(tmp_path / "face.jpg", comment=b"s12")
    decoded = decode_image(tmp_path / "face.jpg")
    assert decoded.comment == "s12" and not decoded.gray and decoded.image.shape == (3, 16, 16)


# --- faces download -------------------------------------------------------------------------------


@pytest.fixture
def tiny_mirror(tmp_path: Path) -> tuple[Path, Path]:
    """Three face-like JPEGs with subject comments, and their checksum list."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    names = [f"image{i:05d}.jpg" for i in range(3)]
    for i, (name, subject) in enumerate(zip(names, (b"s1", b"s1", b"s2"), strict=True)):
        Image.fromarray(colour(24, 24, seed=10 + i)).save(mirror / name, comment=subject)
    return mirror, write_sums(mirror, names, tmp_path / "tiny.sha256")


def test_download_faces_from_mirror(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    paths = download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert [p.name for p in paths] == ["image00000.jpg", "image00001.jpg", "image00002.jpg"]
    for p in paths:
        assert p.read_bytes() == (mirror / p.name).read_bytes()
    assert (dest / "SHA256SUMS").read_bytes() == sums.read_bytes()
    assert decode_image(dest / "image00002.jpg").comment == "s2"
    # Valid files are kept: a second call needs nothing from the (now emptied) mirror.
    for p in mirror.iterdir():
        p.unlink()
    download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert verify_checksums(dest) == [p.name for p in paths]


def test_download_faces_rejects_corrupted_mirror_file(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    with open(mirror / "image00001.jpg", "r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01\x02")
    dest = tmp_path / "faces"
    with pytest.raises(ChecksumError, match=r"image00001\.jpg: SHA-256 mismatch"):
        download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert not (dest / "image00001.jpg").exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temporary left over


def test_download_faces_replaces_a_bad_local_file(tiny_mirror, tmp_path):
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    dest.mkdir()
    (dest / "image00000.jpg").write_bytes(b"truncated")
    download_faces(dest, mirror=mirror, checksums=sums, progress=False)
    assert (dest / "image00000.jpg").read_bytes() == (mirror / "image00000.jpg").read_bytes()


def test_download_faces_over_url(tiny_mirror, tmp_path, monkeypatch):
    monkeypatch.delenv(FACES_MIRROR_ENV, raising=False)
    mirror, sums = tiny_mirror
    dest = tmp_path / "faces"
    download_faces(dest, checksums=sums, base_url=mirror.as_uri(), progress=False)
    assert verify_checksums(dest, sums) == ["image00000.jpg", "image00001.jpg", "image00002.jpg"]
    with pytest.raises(DownloadError, match=r"could not download image00000\.jpg"):
        download_faces(tmp_path / "other", checksums=sums, base_url=(tmp_path / "nowhere").as_uri())


def test_download_faces_uses_mirror_from_environment(tiny_mirror, tmp_path, monkeypatch):
    mirror, sums = tiny_mirror
    monkeypatch.setenv(FACES_MIRROR_ENV, str(mirror))
    dest = tmp_path / "faces"
    nowhere = (tmp_path / "nowhere").as_uri()
    download_faces(dest, checksums=sums, base_url=nowhere, progress=False)
    assert len(verify_checksums(dest)) == 3


def test_download_faces_defaults_to_packaged_list(tiny_mirror, tmp_path):
    # The tiny mirror's files are not the real faces, so the packaged list rejects the first one.
    mirror, _ = tiny_mirror
    with pytest.raises(ChecksumError, match=r"image00000\.jpg: SHA-256 mismatch"):
        download_faces(tmp_path / "faces", mirror=mirror, progress=False)
    packaged = read_checksums(REPO / "colorlib" / "checksums" / "faces.sha256")
    assert len(packaged) == 750


needs_faces = pytest.mark.skipif(
    not FACES_MIRROR.is_dir(), reason=f"no local faces mirror at {FACES_MIRROR}"
)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> ImageSet:
    if not FACES_MIRROR.is_dir():
        pytest.skip(f"no local faces mirror at {FACES_MIRROR}")
    root = tmp_path_factory.mktemp("data")
    return load_images("faces", root=root, mirror=FACES_MIRROR, progress=False)


@needs_faces
def test_faces_load_with_subjects(faces):
    assert faces.source == "faces" and len(faces) == 750
    assert all(im.shape == (3, 128, 128) for im in faces.images)
    subjects = sorted(set(faces.groups), key=lambda s: int(s[1:]))
    assert subjects == [f"s{i}" for i in range(1, 51)]
    assert all(faces.groups.count(s) == 15 for s in subjects)


@needs_faces
def test_faces_split_by_subject(faces):
    parts = split(faces, seed=0)
    held = parts.val + parts.test
    assert len(parts.train) == 675 and len(held) == 75
    assert sorted(parts.train + held) == list(range(750))
    train_subjects = {faces.groups[i] for i in parts.train}
    val_subjects = {faces.groups[i] for i in parts.val}
    test_subjects = {faces.groups[i] for i in parts.test}
    assert not train_subjects & (val_subjects | test_subjects)
    assert not val_subjects & test_subjects and len(val_subjects | test_subjects) == 5
    assert split(faces, seed=0) == parts
    assert split(faces, seed=1).train != parts.train


# --- splits ---------------------------------------------------------------------------------------


def fake_set(names: list[str], groups: list[str], source: str = "folder") -> ImageSet:
    image = torch.zeros(3, 4, 4, dtype=torch.uint8)
    return ImageSet(images=[image] * len(names), names=names, groups=groups, source=source)


def test_kodak_split_16_4_4():
    names = [f"kodim{i:02d}.png" for i in range(1, 25)]
    parts = split(fake_set(names, names, source="kodak24"), seed=3)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (16, 4, 4)
    assert sorted(parts.train + parts.val + parts.test) == list(range(24))
    assert parts.test_names == [names[i] for i in parts.test]
    assert split(fake_set(names, names, source="kodak24"), seed=3) == parts


def test_split_by_group_keeps_groups_together():
    names = [f"{i}.png" for i in range(40)]
    groups = [f"g{i // 4}" for i in range(40)]
    parts = split(fake_set(names, groups), test_fraction=0.4, seed=0, by_group=True)
    sides = [{groups[i] for i in part} for part in (parts.train, parts.val, parts.test)]
    assert [len(s) for s in sides] == [6, 2, 2]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_split_rejects_bad_fraction():
    with pytest.raises(ValueError, match="test_fraction"):
        split(fake_set(["a", "b", "c"], ["a", "b", "c"]), test_fraction=1.5)


# --- BatchLoader ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed() -> list[torch.Tensor]:
    """Colour images of different sizes and both orientations."""
    shapes = [(48, 72), (72, 48), (64, 64), (50, 90), (90, 50)]
    arrays = [colour(h, w, seed=i) for i, (h, w) in enumerate(shapes)]
    return [torch.from_numpy(a).permute(2, 0, 1) for a in arrays]


def batches(loader: BatchLoader) -> list[dict[str, torch.Tensor]]:
    return list(loader)


def test_loader_batch_shapes_and_ranges(mixed):
    loader = BatchLoader(
        mixed, size=32, batch_size=4, samples_per_epoch=10, train=True, augment=Augment(), seed=0
    )
    assert len(loader) == 3
    out = batches(loader)
    assert len(out) == 3
    for batch in out:
        assert batch["L"].shape == (4, 1, 32, 32) and batch["ab"].shape == (4, 2, 32, 32)
        assert batch["rgb"].shape == (4, 3, 32, 32)
        assert batch["L"].min() >= -1 and batch["L"].max() <= 1
        assert batch["rgb"].min() >= 0 and batch["rgb"].max() <= 1
        L, ab = rgb_to_model_input(batch["rgb"])
        assert torch.equal(L, batch["L"]) and torch.equal(ab, batch["ab"])


def test_loader_deterministic_per_seed_and_epoch(mixed):
    def make(seed: int) -> BatchLoader:
        return BatchLoader(mixed, size=32, batch_size=5, train=True, augment=Augment(), seed=seed)

    a, b = make(7), make(7)
    first = batches(a)
    assert all(torch.equal(x["rgb"], y["rgb"]) for x, y in zip(first, batches(b), strict=True))
    a.set_epoch(1)
    second = batches(a)
    assert not torch.equal(first[0]["rgb"], second[0]["rgb"])
    a.set_epoch(0)
    assert torch.equal(batches(a)[0]["rgb"], first[0]["rgb"])
    # Without set_epoch each pass moves on to the next epoch.
    b.set_epoch(1)
    assert torch.equal(batches(b)[0]["rgb"], second[0]["rgb"])
    assert not torch.equal(batches(b)[0]["rgb"], second[0]["rgb"])
    assert not torch.equal(batches(make(8))[0]["rgb"], first[0]["rgb"])


@pytest.mark.parametrize("train", [True, False])
def test_loader_batches_stay_valid_while_iterating(mixed, train):
    # The loader reuses scratch buffers from batch to batch: what it yields must not share them.
    def make() -> BatchLoader:
        return BatchLoader(mixed, size=32, batch_size=2, train=train, augment=Augment(), seed=2)

    kept = batches(make())
    copied = [{k: v.clone() for k, v in batch.items()} for batch in make()]
    assert len(kept) == len(copied) == 3
    for a, b in zip(kept, copied, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("L", "ab", "rgb"))
    assert not torch.equal(kept[0]["rgb"], kept[1]["rgb"])


def test_loader_crops_whole_square_image_when_min_frac_is_one():
    image = torch.from_numpy(colour(32, 32, seed=9)).permute(2, 0, 1)
    loader = BatchLoader([image], size=32, batch_size=2, train=True, crop_min_frac=1.0, seed=0)
    batch = next(iter(loader))
    assert torch.equal(batch["rgb"], to_float(image).expand(2, 3, 32, 32))


def test_random_boxes_cover_the_allowed_range():
    u = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    boxes = data._random_boxes([(60, 100)] * 2000, u, 0.5)
    sides = [side for _, _, side in boxes]
    assert min(sides) == 30 and max(sides) == 60
    assert all(0 <= top <= 60 - s and 0 <= left <= 100 - s for top, left, s in boxes)
    assert max(left for _, left, s in boxes if s == 30) > 60  # positions reach the far side


def test_eval_mode_centre_crop_in_order(mixed):
    loader = BatchLoader(mixed, size=32, batch_size=2, train=False, augment=Augment(), seed=0)
    out = batches(loader)
    assert len(loader) == 3 and [b["rgb"].shape[0] for b in out] == [2, 2, 1]
    image = mixed[3]  # 50 x 90: centre square is columns 20..70
    crop = to_float(image[:, :, 20:70])[None]
    expected = F.interpolate(crop, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(out[1]["rgb"][1], expected[0], atol=1.5 / 255)
    aliased = F.interpolate(crop, size=(32, 32), mode="bilinear", antialias=False)
    assert (out[1]["rgb"][1] - aliased[0]).abs().max() > 10 / 255
    assert torch.equal(batches(loader)[1]["rgb"], out[1]["rgb"])  # no randomness in eval


def test_loader_on_kodak_mixed_orientations(tmp_path):
    kodak = load_images("kodak24", cache_dir=tmp_path, progress=False)
    loader = BatchLoader.from_imageset(
        kodak, [5, 6, 7, 8], size=64, batch_size=4, augment=Augment(), seed=1
    )
    shapes = {tuple(kodak.images[i].shape) for i in (5, 6, 7, 8)}
    assert shapes == {(3, 512, 768), (3, 768, 512)}
    batch = next(iter(loader))
    assert batch["L"].shape == (4, 1, 64, 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_on_cuda_matches_cpu(mixed):
    def first(device: str) -> dict[str, torch.Tensor]:
        loader = BatchLoader(mixed, size=32, batch_size=5, augment=Augment(), device=device)
        return next(iter(loader))

    cpu, gpu = first("cpu"), first("cuda")
    assert gpu["L"].device.type == "cuda" and gpu["ab"].shape == (5, 2, 32, 32)
    # The CPU path rounds the resized crops to uint8; the GPU path stays in float.
    assert torch.allclose(cpu["rgb"], gpu["rgb"].cpu(), atol=2 / 255)


def test_loader_rejects_non_uint8():
    with pytest.raises(ValueError, match="x.png: expected a uint8 tensor"):
        BatchLoader([torch.zeros(3, 40, 40)], size=32, names=["x.png"])


# --- Augment --------------------------------------------------------------------------------------


def test_augment_flips_per_sample():
    x = torch.rand(2, 3, 8, 8)
    aug = Augment(hflip=True, vflip=False, max_rotation_deg=0.0, brightness=None)
    params = {
        "hflip": torch.tensor([True, False]),
        "vflip": torch.tensor([True, True]),
        "angle": torch.zeros(2),
        "brightness": torch.ones(2),
    }
    out = aug.apply(x, params)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    out = Augment(hflip=False, vflip=True, max_rotation_deg=0.0, brightness=None).apply(x, params)
    assert torch.equal(out, x.flip(-2))


def test_augment_flips_folded_into_rotation_grid():
    x = torch.rand(3, 3, 8, 8)
    params = {
        "hflip": torch.tensor([True, False, True]),
        "vflip": torch.tensor([False, True, True]),
        "angle": torch.zeros(3),
        "brightness": torch.ones(3),
    }
    out = Augment(brightness=None).apply(x, params)
    assert torch.allclose(out[0], x[0].flip(-1), atol=1e-6)
    assert torch.allclose(out[1], x[1].flip(-2), atol=1e-6)
    assert torch.allclose(out[2], x[2].flip(-1, -2), atol=1e-6)
    out = Augment(hflip=False, brightness=None).apply(x, params)
    assert torch.allclose(out[0], x[0], atol=1e-6)


def test_augment_rotation_and_brightness():
    x = torch.rand(2, 3, 8, 8)
    params = {
        "hflip": torch.tensor([False, False]),
        "vflip": torch.tensor([False, False]),
        "angle": torch.tensor([90.0, 0.0]),
        "brightness": torch.tensor([1.0, 0.5]),
    }
    out = Augment(hflip=False, vflip=False, max_rotation_deg=90.0).apply(x, params)
    rotated = [torch.rot90(x[0], k, dims=(1, 2)) for k in (1, -1)]
    assert any(torch.allclose(out[0], r, atol=1e-5) for r in rotated)
    assert torch.allclose(out[1], x[1] * 0.5, atol=1e-6)


def test_augment_draws_in_range():
    params = Augment().sample(4000, torch.Generator().manual_seed(0))
    assert params["angle"].abs().max() <= 10 and params["angle"].abs().max() > 9.9
    assert params["brightness"].min() >= 0.6 and params["brightness"].max() <= 1.0
    assert 0.45 < params["hflip"].float().mean() < 0.55
    assert 0.45 < params["vflip"].float().mean() < 0.55


def test_offline_augment(mixed):
    out = offline_augment(mixed[:3], copies=4, size=40, seed=0)
    assert len(out) == 12
    assert all(t.dtype == torch.uint8 and t.shape == (3, 40, 40) for t in out)
    assert not torch.equal(out[0], out[1])
    again = offline_augment(mixed[:3], copies=4, size=40, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    assert offline_augment(mixed[:1], copies=2)[0].shape == (3, 48, 48)  # default: short side


def test_affine_grid_matches_torch():
    theta = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0))
    for h, w in ((7, 9), (32, 32), (1, 5)):
        expected = F.affine_grid(theta, [4, 3, h, w], align_corners=False)
        assert torch.allclose(data._affine_grid(theta, h, w), expected, atol=1e-6)


@pytest.mark.parametrize("rotation", [10.0, 0.0])
def test_loader_augment_path_matches_apply(rotation):
    # The loader converts, darkens and rotates the uint8 crops in fewer passes; the result must
    # be Augment.apply's.
    gen = torch.Generator().manual_seed(3)
    crops = torch.randint(0, 256, (6, 3, 24, 24), dtype=torch.uint8, generator=gen)
    crops = crops.contiguous(memory_format=torch.channels_last)  # as the CPU resize leaves them
    aug = Augment(max_rotation_deg=rotation)
    params = aug.sample(6, gen)
    expected = aug.apply(to_float(crops), params)
    for batch in (crops, to_float(crops)):
        out = aug._apply_to_batch(batch, params)
        assert out.dtype == torch.float32 and out.is_contiguous()
        assert torch.allclose(out, expected, atol=1e-5, rtol=0)
        assert out.min() >= 0 and out.max() <= 1


def test_centre_square_is_what_an_evaluation_batch_shows():
    from colorlib.color import to_uint8
    from colorlib.data import BatchLoader, centre_square

    g = torch.Generator().manual_seed(3)
    image = (torch.rand(3, 40, 60, generator=g) * 255).to(torch.uint8)
    square = centre_square(image, 24)
    assert square.shape == (3, 24, 24) and square.dtype == torch.uint8
    batch = next(iter(BatchLoader([image], size=24, batch_size=1, train=False)))
    assert (to_uint8(batch["rgb"])[0].int() - square.int()).abs().max() <= 1
