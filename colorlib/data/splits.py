"""The deterministic train / validation / test split of an `ImageSet`.

Pure index arithmetic on names and groups: reads the registry's defaults, touches no files and no
pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from colorlib.data.cache import ImageSet
from colorlib.data.registry import DATASETS


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
    """
    spec = DATASETS.get(imageset.source)
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
    return Split(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        train_names=[imageset.names[i] for i in parts["train"]],
        val_names=[imageset.names[i] for i in parts["val"]],
        test_names=[imageset.names[i] for i in parts["test"]],
    )
