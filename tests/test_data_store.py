"""colorlib.data.store: the disk-backed decode cache (records, invalidation by size and mtime,
crash safety, several reading processes) and the loader reading from it."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

import colorlib.data.store as store
from colorlib.data import BatchLoader, DataWarning, StoredImages, decode_image, load_images

SIDE = 32


@pytest.fixture
def folder(tmp_path, make_photo) -> Path:
    """Five colour photos: landscape, portrait, a wide one, one in a subfolder; one too small."""
    root = tmp_path / "photos"
    make_photo(root / "a.png", size=(48, 32), seed=1)
    make_photo(root / "b.png", size=(40, 64), seed=2)
    make_photo(root / "c.jpg", size=(128, 40), seed=3)
    make_photo(root / "sub" / "d.png", size=(32, 32), seed=4)
    make_photo(root / "tiny.png", size=(20, 20), seed=5)
    return root


@pytest.fixture
def decoded(decodes_of) -> list[str]:
    """The names of the files the store decodes."""
    return decodes_of(store)


def load(folder: Path, tmp_path: Path):
    with pytest.warns(DataWarning, match="tiny.png"):
        return load_images(folder, cache_dir=tmp_path / "cache", progress=False, store_side=SIDE)


def crashing_load(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(Crash):
        load_images(folder, cache_dir=tmp_path / "cache", progress=False, store_side=SIDE)


def store_folder(tmp_path: Path, folder: Path) -> Path:
    return store.store_dir(folder, tmp_path / "cache", SIDE)


def expected(path: Path) -> torch.Tensor:
    """The record by hand: short side SIDE (antialiased), long side cut to 1.5 x SIDE."""
    image = decode_image(path).image[None]
    h, w = image.shape[-2:]
    size = (SIDE, round(w * SIDE / h)) if h <= w else (round(h * SIDE / w), SIDE)
    if size != (h, w):
        image = F.interpolate(image, size=size, mode="bilinear", antialias=True)
    image = image[0]
    long = int(1.5 * SIDE)
    if image.shape[2] > long:
        left = (image.shape[2] - long) // 2
        image = image[:, :, left : left + long]
    if image.shape[1] > long:
        top = (image.shape[1] - long) // 2
        image = image[:, top : top + long]
    return image


def test_records_hold_the_images_at_the_store_side(folder, tmp_path):
    images = load(folder, tmp_path)
    assert images.names == ["a.png", "b.png", "c.jpg", "sub/d.png"]
    assert isinstance(images.images, StoredImages)
    assert images.images.shapes == [(32, 48), (48, 32), (32, 48), (32, 32)]
    for name, image in zip(images.names, images.images, strict=True):
        want = expected(folder / name)
        assert image.shape == want.shape, name
        assert (image.int() - want.int()).abs().max() <= 1, name


def test_only_changed_added_and_removed_files_are_redone(folder, tmp_path, decoded, make_photo):
    first = load(folder, tmp_path)
    assert sorted(decoded) == ["a.png", "b.png", "c.jpg", "d.png", "tiny.png"]
    b_before, d_before = first.images[1], first.images[3]
    decoded.clear()
    load(folder, tmp_path)
    assert decoded == []  # nothing changed, nothing decoded

    make_photo(folder / "a.png", size=(48, 32), seed=9)  # changed contents
    os.utime(folder / "a.png", ns=(1, 1))
    make_photo(folder / "e.png", size=(40, 40), seed=6)  # added
    (folder / "c.jpg").unlink()  # removed
    again = load(folder, tmp_path)
    assert sorted(decoded) == ["a.png", "e.png"]
    assert again.names == ["a.png", "b.png", "e.png", "sub/d.png"]
    assert torch.equal(again.images[1], b_before) and torch.equal(again.images[3], d_before)
    assert torch.equal(again.images[0], expected(folder / "a.png"))
    # The freed slots are reused: the record file did not grow past four slots and a spare.
    slots = json.loads((store_folder(tmp_path, folder) / store.INDEX).read_text())["files"]
    assert sorted(e["slot"] for e in slots if e["slot"] is not None) == [0, 1, 2, 3]


class Crash(Exception):
    """Stands for the process dying mid-build."""


def crash_on(monkeypatch, name: str) -> None:
    def decode(path):
        if Path(path).name == name:
            raise Crash(name)
        return decode_image(path)

    monkeypatch.setattr(store, "decode_image", decode)


def test_a_crash_in_the_first_build_leaves_no_valid_store(folder, tmp_path, monkeypatch, decoded):
    crash_on(monkeypatch, "c.jpg")
    crashing_load(folder, tmp_path)
    assert not (store_folder(tmp_path, folder) / store.INDEX).exists()
    monkeypatch.undo()
    monkeypatch.setattr(store, "decode_image", lambda p: decoded.append(Path(p).name) or
                        decode_image(p))  # fmt: skip
    images = load(folder, tmp_path)
    assert len(decoded) == 5 and len(images) == 4


def test_a_crash_mid_update_keeps_the_old_records_valid(folder, tmp_path, monkeypatch, make_photo):
    first = load(folder, tmp_path)
    before = {n: first.images[i] for i, n in enumerate(first.names)}
    # a.png and b.png change; the rebuild writes a.png's record, then dies on b.png.
    for name, seed in (("a.png", 7), ("b.png", 8)):
        make_photo(folder / name, size=(48, 32), seed=seed)
        os.utime(folder / name, ns=(2, 2))
    crash_on(monkeypatch, "b.png")
    crashing_load(folder, tmp_path)
    index = json.loads((store_folder(tmp_path, folder) / store.INDEX).read_text())
    # What the index on disk says is still true: the two stale entries left it before any
    # slot was written over, and the unchanged records are intact.
    assert {e["name"] for e in index["files"]} == {"c.jpg", "sub/d.png", "tiny.png"}
    monkeypatch.undo()
    images = load(folder, tmp_path)
    for i, name in enumerate(images.names):
        if name in ("c.jpg", "sub/d.png"):
            assert torch.equal(images.images[i], before[name])
        else:
            assert torch.equal(images.images[i], expected(folder / name))


@pytest.mark.parametrize("damage", ["index", "records"])
def test_a_damaged_store_is_rebuilt(folder, tmp_path, decoded, damage):
    load(folder, tmp_path)
    path = store_folder(tmp_path, folder)
    if damage == "index":
        (path / store.INDEX).write_text('{"version": 1, "fil')  # cut short
    else:
        os.truncate(path / store.RECORDS, 1000)  # shorter than its slots
    decoded.clear()
    with pytest.warns(DataWarning, match="unusable"):
        images = load(folder, tmp_path)
    assert len(decoded) == 5
    assert torch.equal(images.images[0], expected(folder / "a.png"))


class Records(Dataset):
    def __init__(self, images: StoredImages) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i][:, :32, :32].clone()


def test_several_loader_workers_read_one_store(folder, tmp_path):
    images = load(folder, tmp_path).images
    _ = images[0]  # the parent has its own mapping open before the workers fork
    copy = pickle.loads(pickle.dumps(images))
    assert torch.equal(copy[2], images[2])
    loader = DataLoader(Records(images), batch_size=1, num_workers=2)
    got = [batch[0] for batch in loader]
    assert all(torch.equal(g, images[i][:, :32, :32]) for i, g in enumerate(got))


def test_the_loader_reads_stored_images_as_it_reads_tensors(folder, tmp_path):
    stored = load(folder, tmp_path).images
    in_memory = list(stored)
    for train in (True, False):
        kwargs = dict(size=24, batch_size=2, train=train, seed=3, samples_per_epoch=6)
        a, b = BatchLoader(stored, **kwargs), BatchLoader(in_memory, **kwargs)
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert torch.equal(x["rgb"], y["rgb"]) and torch.equal(x["ab"], y["ab"])
