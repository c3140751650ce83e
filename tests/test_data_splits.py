"""colorlib.data.splits: deterministic train / validation / test splits, by image or by group."""

from __future__ import annotations

import pytest
import torch

from colorlib.data import ImageSet, split


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
