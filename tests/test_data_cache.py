"""colorlib.data.cache and registry: `load_images` on registered sets and folders (recursive), and
the decode cache (keyed on file contents, rebuilt when malformed)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import colorlib.data.cache as cache
from colorlib.data import DATASETS, BatchLoader, DataWarning, ImageSet, load_images

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO / "data" / "kodak24"


def load(folder: Path, tmp_path: Path, **kwargs) -> ImageSet:
    return load_images(folder, cache_dir=tmp_path / "cache", progress=False, **kwargs)


def chw(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


@pytest.fixture
def decoded(decodes_of) -> list[str]:
    """The names of the files `load_images` decodes (rather than takes from its cache)."""
    return decodes_of(cache)


# --- registry and kodak24 -------------------------------------------------------------------------


def test_unknown_dataset_lists_known_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'") as info:
        load_images("imagenet", root=tmp_path)
    for name in DATASETS:
        assert name in str(info.value)


@pytest.mark.slow
def test_kodak24_loads_both_orientations(tmp_path):
    images = load_images("kodak24", cache_dir=tmp_path, progress=False)
    assert images.source == "kodak24"
    assert images.names == [f"kodim{i:02d}.png" for i in range(1, 25)]
    assert images.groups == images.names
    shapes = [tuple(im.shape) for im in images.images]
    assert shapes.count((3, 512, 768)) == 18 and shapes.count((3, 768, 512)) == 6
    assert all(im.dtype == torch.uint8 for im in images.images)
    assert torch.equal(images.images[0], chw(Image.open(KODAK / "kodim01.png")))


# --- folders --------------------------------------------------------------------------------------


def test_subfolders_are_read_recursively(tmp_path, make_photo):
    root = tmp_path / "set"
    expected = {}
    for seed, name in enumerate(("Train/a.jpg", "Train/b.png", "Test/c.png", "top.png")):
        expected[name] = chw(make_photo(root / name, size=(40, 32), seed=seed, quality=95))
    make_photo(root / ".hidden" / "x.png", seed=9)
    cache_dir = root / "cache"  # inside the folder, yet not read as images
    for _ in range(2):
        images = load_images(root, cache_dir=cache_dir, progress=False)
        assert images.names == ["Test/c.png", "Train/a.jpg", "Train/b.png", "top.png"]
        assert images.groups == images.names
        for name, image in zip(images.names, images.images, strict=True):
            if name.endswith(".png"):
                assert torch.equal(image, expected[name])
    assert list(cache_dir.glob("*.pt"))


def test_empty_folder_is_an_error(tmp_path):
    empty = tmp_path / "empty"
    (empty / ".hidden").mkdir(parents=True)
    with pytest.raises(ValueError, match=re.escape(f"folder {empty} contains no image files")):
        load(empty, tmp_path)


def test_file_instead_of_folder_is_an_error(photo_folder, tmp_path):
    with pytest.raises(ValueError, match=r"good\.png is a file"):
        load(photo_folder / "good.png", tmp_path)


def test_image_smaller_than_crop(photo_folder, tmp_path, make_photo):
    make_photo(photo_folder / "small.png", size=(48, 32))
    with pytest.warns(DataWarning, match=r"small\.png: 48x32 is smaller than the crop size 40"):
        images = load(photo_folder, tmp_path, min_size=40)
    assert images.names == ["good.png"]
    full = load(photo_folder, tmp_path)
    with pytest.raises(ValueError, match=r"small\.png: 48x32 is smaller than the crop size 40"):
        BatchLoader(full.images, names=full.names, size=40)
    (photo_folder / "good.png").unlink()
    with pytest.raises(ValueError, match=r"small\.png"):
        load(photo_folder, tmp_path, min_size=40)


# --- decode cache ---------------------------------------------------------------------------------


def test_second_load_does_not_decode(photo_folder, tmp_path, make_photo, decoded):
    make_photo(photo_folder / "other.png", size=(40, 40), seed=1)
    first = load(photo_folder, tmp_path)
    assert decoded == ["good.png", "other.png"]
    second = load(photo_folder, tmp_path)
    assert decoded == ["good.png", "other.png"]  # nothing more
    assert second.names == first.names == ["good.png", "other.png"]
    assert all(torch.equal(a, b) for a, b in zip(first.images, second.images, strict=True))


def test_cache_decodes_a_changed_file_again(photo_folder, tmp_path, make_photo, decoded):
    make_photo(photo_folder / "other.png", size=(40, 40), seed=1)
    load(photo_folder, tmp_path)
    new = make_photo(photo_folder / "other.png", size=(40, 40), seed=2)
    decoded.clear()
    images = load(photo_folder, tmp_path)
    assert decoded == ["other.png"]
    assert torch.equal(images.images[1], chw(new))


def test_cache_decodes_a_file_replaced_with_same_name_size_and_mtime(
    photo_folder, tmp_path, make_photo, decoded
):
    # BMP: the file size depends only on the image size, so the two files are the same length.
    path = photo_folder / "other.bmp"
    make_photo(path, size=(40, 40), seed=1)
    before = path.stat()
    load(photo_folder, tmp_path)
    new = make_photo(path, size=(40, 40), seed=2)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    decoded.clear()
    images = load(photo_folder, tmp_path)
    assert decoded == ["other.bmp"]
    assert torch.equal(images.images[images.names.index("other.bmp")], chw(new))


def test_cache_follows_a_renamed_file_without_decoding(photo_folder, tmp_path, decoded):
    first = load(photo_folder, tmp_path)
    (photo_folder / "good.png").rename(photo_folder / "renamed.png")
    decoded.clear()
    images = load(photo_folder, tmp_path)
    assert decoded == [] and images.names == ["renamed.png"]
    assert torch.equal(images.images[0], first.images[0])


def test_cache_lives_under_root_by_default(photo_folder, tmp_path):
    load_images(photo_folder, root=tmp_path / "root", progress=False)
    assert len(list((tmp_path / "root" / ".cache").glob("*.pt"))) == 1


def _truncated(path: Path, folder: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


def _not_torch(path: Path, folder: Path) -> None:
    path.write_text("not a torch file\n")


def _not_a_dict(path: Path, folder: Path) -> None:
    torch.save([1, 2, 3], path)


def _bad_entries(path: Path, folder: Path) -> None:
    data = {"version": cache.CACHE_VERSION, "folder": str(folder.resolve()), "files": [{}]}
    torch.save(data, path)


@pytest.mark.parametrize("spoil", [_truncated, _not_torch, _not_a_dict, _bad_entries])
def test_malformed_cache_warns_once_and_is_rebuilt(photo_folder, tmp_path, decoded, spoil):
    first = load(photo_folder, tmp_path)
    cache_path = cache.cache_file(photo_folder, tmp_path / "cache")
    assert cache_path.is_file()
    spoil(cache_path, photo_folder)
    decoded.clear()
    with pytest.warns(DataWarning) as record:
        images = load(photo_folder, tmp_path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 1 and f"decode cache {cache_path} is malformed" in messages[0]
    assert "\n" not in messages[0]
    assert decoded == ["good.png"] and torch.equal(images.images[0], first.images[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt: no warning, no decoding the next time
        load(photo_folder, tmp_path)
    assert decoded == ["good.png"]
