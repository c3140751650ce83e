"""Training on one image set and testing on others: portraits against scenes (notebook 07).

`experiments` turns the `Experiment` that `workflow.start` made into one per training set (the
faces and BSDS500), all sharing its settings, seed, device, run folder and record of methods;
each set is split as `workflow.start` splits it (by subject for the faces, by its own folders for
BSDS500), and its training images are thinned evenly to one count (``train_images``), so that
the sets differ in the kind of picture, not in how many there are. A method's name carries its
training set (`method_name`), so two sets' files never collide.

`test_sets` gathers what every model is tested on: each training set's test split, and every
image of a set no model trains on (Kodak24). `evaluate` scores a model on each, image by image
(the colour metrics, or all of them where the model is recorded); `baseline_scores` does the
same for gray and each training set's mean colour. `cross_table`, `differences` and `heatmaps`
turn those scores into the notebook's tables and figure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from colorlib import data, inference, metrics, profiles, stats
from colorlib.data.registry import REPO_DATA
from colorlib.errors import UserError
from colorlib.experiment import Experiment, Scores
from colorlib.modelfile import ModelSpec

TRAIN_SETS = ("faces", "bsds500")
TEST_SETS = ("faces", "bsds500", "kodak24")
# Scores: (model, training set or "") -> test set -> {"names": [...], metric: [one per image]}.
CrossScores = dict[tuple[str, str], dict[str, dict[str, list]]]


@dataclass(frozen=True)
class TestSet:
    name: str
    names: list[str]
    images: list[torch.Tensor]
    whole: bool  # every image of the set (no model trains on it), else its test split


def shareable(name: str) -> bool:
    """Whether photographs of the registered set `name` may be shown in a committed figure: only
    a set that ships with the course (Kodak24); the faces and BSDS500 may not be redistributed."""
    spec = data.DATASETS.get(name)
    return spec is not None and spec.embedded


def method_name(method: str, train_set: str) -> str:
    return f"{method}_{train_set}"


def thin(indices: Sequence[int], n: int | None, groups: Sequence[str] | None = None) -> list[int]:
    """`n` of `indices`, evenly spaced through them ordered by group (`groups`: one label per
    image, e.g. the faces' subjects), so every group keeps its share; all of them when `n` is
    None or not smaller. Returned in their original order."""
    if n is None or n >= len(indices):
        return list(indices)
    ordered = sorted(indices, key=lambda i: (groups[i], i)) if groups else list(indices)
    return sorted(ordered[k * len(ordered) // n] for k in range(n))


def limited(split: data.Split, images: data.ImageSet, cfg: Mapping[str, Any]) -> data.Split:
    """`split` of `images` with its training part thinned to ``train_images`` (`thin`, by
    group) and, in a dry run, as few validation and test images as `workflow.start` keeps, and
    at most ``test_images`` test images."""
    cap = profiles.DRY_RUN_IMAGES if cfg["dry_run"] else None
    test_cap = min(c for c in (cap, cfg["test_images"], len(split.test)) if c is not None)
    parts = {
        "train": thin(split.train, cfg["train_images"], images.groups),
        "val": split.val[:cap] if cap else list(split.val),
        "test": split.test[:test_cap],
    }
    names = {f"{k}_names": [images.names[i] for i in v] for k, v in parts.items()}
    return data.Split(**parts, **names)


def experiments(
    exp: Experiment, train_sets: Sequence[str] = TRAIN_SETS, data_root: str | Path = REPO_DATA
) -> dict[str, Experiment]:
    """One experiment per training set, `exp`'s own dataset among them (it must be one)."""
    if exp.dataset not in train_sets:
        raise UserError(
            f"DATASET {exp.dataset!r}: this notebook trains on {' and '.join(train_sets)} and "
            f"compares them; set DATASET to one of them (the report runs it on those only)"
        )
    out = {}
    for name in train_sets:
        if name == exp.dataset:
            images, split = exp.images, exp.split
        else:
            images = data.load_images(name, root=data_root)
            split = data.split(images, test_fraction=exp.cfg["test_fraction"], seed=exp.seed)
        smallest = min(min(image.shape[-2:]) for image in images.images)
        if smallest < exp.cfg["size"]:
            raise UserError(
                f"size {exp.cfg['size']} is larger than the smallest image of {name} ({smallest} "
                f'px): pass OVERRIDES {{"size": N}}, N <= {smallest}'
            )
        # The fields starting with "_" cache results on the experiment's own test images.
        fresh = {f.name: None for f in fields(exp) if f.name.startswith("_")}
        split = limited(split, images, exp.cfg)
        out[name] = replace(exp, dataset=name, images=images, split=split, **fresh)
    return out


def test_sets(
    exps: Mapping[str, Experiment],
    others: Sequence[str] = ("kodak24",),
    data_root: str | Path = REPO_DATA,
) -> dict[str, TestSet]:
    """Each training set's test split, then every image of `others` (capped like a test split:
    a dry run or ``test_images``)."""
    out = {name: TestSet(name, e.names("test"), e.part("test"), False) for name, e in exps.items()}
    cfg = next(iter(exps.values())).cfg
    caps = [c for c in (cfg["test_images"], cfg["dry_run"] and profiles.DRY_RUN_IMAGES) if c]
    for name in others:
        images = data.load_images(name, root=data_root)
        n = min([len(images), *caps])
        out[name] = TestSet(name, images.names[:n], images.images[:n], True)
    return out


@dataclass(frozen=True)
class Scored:
    """A model's scores on one test set, image by image; its predictions where they were kept."""

    per_image: dict[str, list]
    predictions: list[torch.Tensor] | None

    @property
    def metrics(self) -> dict[str, float]:
        return metrics.summarise(self.per_image)

    def as_scores(self) -> Scores:
        """What `Experiment.record` files (scored with `full` metrics, predictions kept)."""
        if self.predictions is None or "psnr" not in self.per_image:
            raise ValueError("not kept with every metric: name the set in evaluate's keep and full")
        return Scores(self.predictions, self.metrics, self.per_image)


def colour_scores(
    preds: Sequence[torch.Tensor], targets: Sequence[torch.Tensor]
) -> dict[str, list[float]]:
    """Each prediction's CIEDE2000 and colourfulness, and its target's colourfulness: what the
    cross table needs, at half the cost of `metrics.per_image` (no SSIM, PSNR or AuC)."""
    pairs = list(zip(preds, targets, strict=True))
    return {
        "ciede2000": [metrics.ciede2000(p, t) for p, t in pairs],
        "colourfulness": [metrics.colourfulness(p) for p, _ in pairs],
        "colourfulness_gt": [metrics.colourfulness(t) for _, t in pairs],
    }


def evaluate(
    model: nn.Module,
    spec: ModelSpec,
    tests: Mapping[str, TestSet],
    device: torch.device | str = "cpu",
    keep: Sequence[str] = (),
    full: Sequence[str] = (),
) -> dict[str, Scored]:
    """`model` on every test set at full resolution (`inference.predict_all`), each image
    scored: with every metric (`metrics.per_image`) on the sets named in `full`, with the colour
    metrics (`colour_scores`) elsewhere. The predictions are kept only for the sets named in
    `keep` (200 BSDS500 photos at full size would hold 90 MB per model)."""
    out = {}
    for name, test in tests.items():
        preds = inference.predict_all(model, spec, test.images, device)
        score = metrics.per_image if name in full else colour_scores
        per = {"names": test.names, **score(preds, test.images)}
        out[name] = Scored(per, preds if name in keep else None)
    return out


def baseline_scores(exps: Mapping[str, Experiment], tests: Mapping[str, TestSet]) -> CrossScores:
    """Gray on every test set, and each training set's mean colour painted on every test set.
    A training set's own test split reuses the experiment's baselines (computed once)."""
    out: CrossScores = {("gray", ""): {}}
    for train, e in exps.items():
        own = e.baselines_per_image()
        ab = metrics.mean_ab(e.part("train"))
        scored = out.setdefault(("mean colour", train), {})
        for name, test in tests.items():
            if name == train:
                scored[name] = own["mean_ab"]
                out[("gray", "")][name] = own["gray"]
                continue
            preds = [metrics.mean_ab_prediction(t, ab) for t in test.images]
            scored[name] = {"names": test.names, **colour_scores(preds, test.images)}
            if name not in exps and name not in out[("gray", "")]:
                gray = [metrics.gray_prediction(t) for t in test.images]
                out[("gray", "")][name] = {"names": test.names, **colour_scores(gray, test.images)}
    return out


def cross_table(scores: CrossScores, tests: Sequence[str]) -> pd.DataFrame:
    """Mean CIEDE2000 and colourfulness of every (model, training set) on every test set, and
    the ground truth's colourfulness for reference."""
    rows: dict[str, dict[str, float]] = {}
    truth: dict[str, float] = {}
    for (model, train), by_test in scores.items():
        label = f"{model} (trained on {train})" if train else model
        row = {}
        for name in tests:
            values = by_test[name]
            row[f"CIEDE2000 {name}"] = float(np.mean(values["ciede2000"]))
            row[f"colourfulness {name}"] = float(np.mean(values["colourfulness"]))
            truth[f"colourfulness {name}"] = float(np.mean(values["colourfulness_gt"]))
        rows[label] = row
    rows["ground truth"] = truth
    return pd.DataFrame.from_dict(rows, orient="index").round(2)


def differences(
    scores: CrossScores, models: Sequence[str], tests: Sequence[str], a: str, b: str
) -> pd.DataFrame:
    """For each model and test set: CIEDE2000 trained on `a` minus trained on `b`, image by
    image (the same test images), its 95% bootstrap interval and whether the data support it."""
    rows = {}
    for model in models:
        for name in tests:
            first = scores[(model, a)][name]["ciede2000"]
            second = scores[(model, b)][name]["ciede2000"]
            diff = stats.compare(first, second)
            rows[(model, name)] = {
                f"trained on {a}": float(np.mean(first)),
                f"trained on {b}": float(np.mean(second)),
                "difference": diff.mean,
                "95% interval": f"{diff.lo:+.2f} to {diff.hi:+.2f}",
                "images": diff.pairs,
                f"images where {a} is lower": diff.lower,
                "supported": diff.supported,
            }
    frame = pd.DataFrame.from_dict(rows, orient="index").round(2)
    frame.index = [f"{model} on {name}" for model, name in frame.index]
    return frame


def heatmaps(scores: CrossScores, models: Sequence[str], tests: Sequence[str]):
    """One panel per model: rows are training sets, columns test sets; top, CIEDE2000 minus
    gray's on that test set (blue: better than gray); bottom, colourfulness over the ground
    truth's. No photographs: numbers only."""
    import matplotlib.pyplot as plt

    gray = {t: np.mean(scores[("gray", "")][t]["ciede2000"]) for t in tests}
    fig, axes = plt.subplots(2, len(models), figsize=(3.2 * len(models), 4.6), squeeze=False)
    for col, model in enumerate(models):
        trains = [train for (m, train) in scores if m == model]
        ciede = np.array(
            [[np.mean(scores[(model, r)][t]["ciede2000"]) for t in tests] for r in trains]
        )
        ratio = np.array(
            [
                [np.mean(scores[(model, r)][t]["colourfulness"])
                 / np.mean(scores[(model, r)][t]["colourfulness_gt"]) for t in tests]
                for r in trains
            ]
        )  # fmt: skip
        gain = ciede - np.array([gray[t] for t in tests])
        panels = ((gain, ciede, "RdBu_r", "{:.2f}"), (ratio, ratio, "viridis", "{:.2f}"))
        for row, (shade, shown, cmap, fmt) in enumerate(panels):
            ax = axes[row][col]
            limit = np.abs(shade).max() or 1.0
            kwargs = {"vmin": -limit, "vmax": limit} if row == 0 else {"vmin": 0, "vmax": 1}
            ax.imshow(shade, cmap=cmap, **kwargs)
            dark = np.abs(shade) > 0.6 * limit if row == 0 else shade < 0.35
            for (i, j), value in np.ndenumerate(shown):
                ax.text(
                    j,
                    i,
                    fmt.format(value),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if dark[i, j] else "black",
                )
            ax.set_xticks(range(len(tests)), [f"on {Path(t).name}" for t in tests], fontsize=8)
            ax.set_yticks(range(len(trains)), [f"from {Path(r).name}" for r in trains], fontsize=8)
        axes[0][col].set_title(f"{model}\nCIEDE2000 (colour: minus gray's)", fontsize=9)
        axes[1][col].set_title("colourfulness / ground truth's", fontsize=9)
    fig.tight_layout()
    return fig
