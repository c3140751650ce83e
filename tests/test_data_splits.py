"""colorlib.data.splits: deterministic train / validation / test splits, by image or by group, and
a set's own split by folder (bsds500, from the local mirror, on names only)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from colorlib.data import DATASETS, DatasetError, ImageSet, list_folder, load_images, split


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


# --- a set's own split, by top-level folder -------------------------------------------------------


@pytest.fixture
def folder_split_set(monkeypatch):
    """A registry entry "tinysplit" with its own train/val/test split (like bsds500's)."""
    spec = dataclasses.replace(DATASETS["kodak24"], name="tinysplit", folder="tinysplit")
    monkeypatch.setitem(DATASETS, "tinysplit", dataclasses.replace(spec, split_by_folder=True))
    return "tinysplit"


def test_split_by_folder_follows_the_folders(folder_split_set, tmp_path, make_photo):
    layout = {"train": ["a.png", "b.png", "c.png"], "val": ["d.png"], "test": ["e.png", "f.png"]}
    for seed, (part, name) in enumerate((p, n) for p, names in layout.items() for n in names):
        make_photo(tmp_path / folder_split_set / part / name, size=(8, 8), seed=seed)
    images = load_images(folder_split_set, root=tmp_path, cache_dir=tmp_path / "c", progress=False)
    parts = split(images, test_fraction=0.5, seed=7, by_group=True)  # all three ignored
    got = (parts.train_names, parts.val_names, parts.test_names)
    assert got == tuple([f"{part}/{n}" for n in names] for part, names in layout.items())
    assert [images.names[i] for i in parts.val] == ["val/d.png"]
    assert split(images, seed=1) == parts


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["train/a.png", "test/b.png"], r"^tinysplit: its split folder val/ is missing"),
        (["train/a.png", "val/b.png", "test/c.png", "x.png"], r"^tinysplit: image x\.png is out"),
        (["train/a.png", "val/b.png", "Test/c.png"], r"image Test/c\.png is outside"),
    ],
)
def test_split_by_folder_rejects_a_missing_folder_or_a_stray_image(
    folder_split_set, names, message
):
    with pytest.raises(DatasetError, match=message) as err:
        split(fake_set(names, names, source=folder_split_set))
    assert "\n" not in str(err.value)


def test_bsds500_own_split_200_100_200(bsds500_mirror):
    # Names only, as load_images would give them (paths relative to the folder): no decoding.
    files, _ = list_folder(bsds500_mirror)
    names = [p.relative_to(bsds500_mirror).as_posix() for p in files]
    parts = split(fake_set(names, names, source="bsds500"))
    assert (len(parts.train), len(parts.val), len(parts.test)) == (200, 100, 200)
    for part, part_names in zip(
        ("train", "val", "test"),
        (parts.train_names, parts.val_names, parts.test_names),
        strict=True,
    ):
        assert all(name.startswith(f"{part}/") for name in part_names)
    assert sorted(parts.train + parts.val + parts.test) == list(range(500))
