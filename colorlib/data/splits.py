"""The deterministic train / validation / test split of an `ImageSet`.

Pure index arithmetic on names and groups: reads the registry's defaults, touches no files and no
pixels. A set registered with `split_by_folder` (bsds500) keeps its own split: each image goes to
the part its top-level folder names.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from colorlib.data.cache import ImageSet
from colorlib.data.registry import DATASETS, SPLIT_FOLDERS, DatasetError


@dataclass(frozen=True)
class Split:
    """Index lists (into an ImageSet) of the train, validation and test parts, with their names."""

    train: list[int]
    val: list[int]
    test: list[int]
    train_names: list[str]
    val_names: list[str]
    test_names: list[str]


def split(
    imageset: ImageSet,
    *,
    test_fraction: float | None = None,
    seed: int = 0,
    by_group: bool | None = None,
) -> Split:
    """Hold out `test_fraction` of the groups (by_group) or of the images, then halve the held-out
    part into validation and test (test gets the odd one). Deterministic for a seed.

    Defaults come from the registry: faces hold out 5 of 50 subjects (675/30/45 images), kodak24
    8 of 24 images (16/4/4); a user folder holds out 20% of its images.

    A registered set with its own split (`split_by_folder`: bsds500, 200/100/200) is split by its
    top-level folders train/, val/ and test/ ("train/100075.jpg" is a training image), and
    `test_fraction`, `seed` and `by_group` are ignored; a `DatasetError` (one line) names a folder
    that is missing or empty, or an image outside them.
    """
    spec = DATASETS.get(imageset.source)
    if spec is not None and spec.split_by_folder:
        parts = _parts_by_folder(imageset.names, imageset.source)
        return _make_split(imageset, parts)
    if test_fraction is None:
        test_fraction = spec.test_fraction if spec is not None else 0.2
    if by_group is None:
        by_group = spec.by_group if spec is not None else False
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    keys = imageset.groups if by_group else imageset.names
    units = sorted(set(keys))
    if len(units) < 3:
        kind = "groups" if by_group else "images"
        raise ValueError(f"need at least 3 {kind} to split into train/val/test, got {len(units)}")
    n_held = min(max(round(test_fraction * len(units)), 2), len(units) - 1)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(units), generator=generator).tolist()
    held = [units[i] for i in order[:n_held]]
    val_units, test_units = set(held[: n_held // 2]), set(held[n_held // 2 :])
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, key in enumerate(keys):
        part = "val" if key in val_units else "test" if key in test_units else "train"
        parts[part].append(i)
    return _make_split(imageset, parts)


def _parts_by_folder(names: list[str], source: str) -> dict[str, list[int]]:
    parts: dict[str, list[int]] = {part: [] for part in SPLIT_FOLDERS}
    for i, name in enumerate(names):
        top = name.split("/", 1)[0] if "/" in name else ""
        if top not in parts:
            raise DatasetError(
                f"{source}: image {name} is outside its split folders "
                f"{', '.join(f + '/' for f in SPLIT_FOLDERS)}: move or remove it"
            )
        parts[top].append(i)
    empty = [part for part, indices in parts.items() if not indices]
    if empty:
        raise DatasetError(
            f"{source}: its split folder {empty[0]}/ is missing or holds no images (the set comes "
            f"split into {', '.join(f + '/' for f in SPLIT_FOLDERS)}): download it again"
        )
    return parts


def _make_split(imageset: ImageSet, parts: dict[str, list[int]]) -> Split:
    return Split(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        train_names=[imageset.names[i] for i in parts["train"]],
        val_names=[imageset.names[i] for i in parts["val"]],
        test_names=[imageset.names[i] for i in parts["test"]],
    )
