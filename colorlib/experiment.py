"""An experiment: one notebook's settings, data and split, and its scores and records.

`colorlib.workflow.start` makes one; a notebook then trains (`workflow.fit...`), scores
(`Experiment.score`: the test images at full resolution, one value per image, and the photos
unlike the training set of `colorlib.data.sample_photos`) and records (`Experiment.record`). Where
each file goes is `colorlib.runs`' business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import torch
from torch import nn

from colorlib import data, engine, inference, metrics, profiles
from colorlib.modelfile import ModelSpec, save_model
from colorlib.models import count_parameters
from colorlib.runs import Run

# Why a model's weights are the ones kept: `colorlib.workflow.fit` keeps, for every method, the
# epoch with the lowest validation colour error (the report ranks by the same error on the test
# images), whatever the loss it trains with.
KEPT_BY = "lowest validation CIEDE2000"


@dataclass(frozen=True)
class Scores:
    """A model's full-resolution predictions of the test images, their metrics per image
    (`per_image`, with the images' "names") and averaged (`metrics`), and the same for the
    photos unlike the training set (`out_of_domain`: {"metrics", "per_image"}), if scored."""

    predictions: list[torch.Tensor]
    metrics: dict[str, float]
    per_image: dict[str, list]
    out_of_domain: dict[str, Any] | None = None


@dataclass
class Experiment:
    notebook: str
    profile: str
    dataset: str
    seed: int
    cfg: dict[str, Any]
    device: torch.device
    run: Run
    images: data.ImageSet
    split: data.Split
    provenance: list[dict[str, Any]] = field(default_factory=list)  # `profiles.describe` rows
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    _baselines: dict[str, dict[str, list]] | None = None  # per image
    _elsewhere: dict[str, Any] | None = None  # the out-of-domain photos and their baselines

    # --- data ---------------------------------------------------------------------------------
    def indices(self, name: str) -> list[int]:
        parts = {"train": self.split.train, "val": self.split.val, "test": self.split.test}
        if name not in parts:
            raise ValueError(f"split part must be one of {sorted(parts)}, got {name!r}")
        return parts[name]

    def part(self, name: str) -> Sequence[torch.Tensor]:
        """The uint8 images of split part "train", "val" or "test" (left on disk, and read when
        used, if the settings' ``store`` kept them there)."""
        images = self.images.images
        if isinstance(images, data.StoredImages):
            return images.subset(self.indices(name))
        return [images[i] for i in self.indices(name)]

    def names(self, name: str) -> list[str]:
        return [self.images.names[i] for i in self.indices(name)]

    def loader(
        self,
        part: str = "train",
        *,
        batch_size: int | None = None,
        augment: bool | str = True,
        size: int | None = None,
        seed_offset: int = 0,
        samples_per_epoch: int | str | None = None,
    ) -> data.BatchLoader:
        """Training: random crops (``crop_min_frac`` to 1 x the short side), augmented as the
        settings (or `augment`: False, a `profiles.AUGMENTATIONS` name) say; else centre crops."""
        train = part == "train"
        name = self.cfg.get("augment", "flip-rotate-darken") if augment is True else augment
        kwargs = profiles.AUGMENTATIONS[name or "none"]
        samples = samples_per_epoch or self.cfg.get("samples_per_epoch")
        samples = profiles.samples_per_epoch(samples, len(self.split.train)) if samples else None
        return data.BatchLoader(
            self.part(part),
            size=size or self.cfg["size"],
            batch_size=batch_size or self.cfg.get("batch_size", 16),
            samples_per_epoch=samples if train else None,
            train=train,
            augment=data.Augment(**kwargs) if (train and kwargs is not None) else None,
            seed=self.seed + seed_offset,
            device=self.device,
            crop_min_frac=self.cfg.get("crop_min_frac", 0.5),
        )

    def settings_table(self) -> pd.DataFrame:
        """Each setting's value, its gpu value and where that comes from (a source, or ours)."""
        return pd.DataFrame(self.provenance).set_index("setting")

    def summary(self) -> pd.DataFrame:
        """How many images each part holds, and how many groups (faces: subjects)."""
        rows = {}
        for part in ("train", "val", "test"):
            idx = self.indices(part)
            rows[part] = {"images": len(idx), "groups": len({self.images.groups[i] for i in idx})}
        return pd.DataFrame(rows).T

    # --- scores and records -------------------------------------------------------------------
    def baselines(self) -> dict[str, dict[str, float]]:
        """Gray (ab = 0) and the training set's mean ab, scored like every method (means)."""
        return {name: metrics.summarise(v) for name, v in self.baselines_per_image().items()}

    def baselines_per_image(self) -> dict[str, dict[str, list]]:
        """The baselines' metrics on each test image (with the images' "names")."""
        if self._baselines is None:
            test, names = self.part("test"), self.names("test")
            found = metrics.baseline_predictions(self.part("train"), test)
            self._baselines = {
                k: {"names": names, **metrics.per_image(v, test)} for k, v in found.items()
            }
            self.run.save_previews("gray", names, found["gray"])
            self.run.save_previews("ground_truth", names, test)
        return self._baselines

    def out_of_domain(self) -> dict[str, Any]:
        """The photos unlike the training set (`data.sample_photos`) and the baselines on them:
        {"names", "images", "baselines": {name: {"metrics", "per_image"}}}."""
        if self._elsewhere is None:
            names, images = data.sample_photos()
            found = metrics.baseline_predictions(self.part("train"), images)
            self._elsewhere = {
                "names": names,
                "images": images,
                "baselines": {k: _scored(v, images, names) for k, v in found.items()},
            }
        return self._elsewhere

    def score(
        self,
        model: nn.Module,
        spec: ModelSpec,
        *,
        true_lightness: bool = False,
        out_of_domain: bool = True,
    ) -> Scores:
        """Colorize the test images at full resolution with `model` and measure each; with
        `out_of_domain`, the photos unlike the training set too. `true_lightness`: an RGB
        model's colour alone, on the photo's own L (see `inference.predict`)."""
        test, names = self.part("test"), self.names("test")
        preds = inference.predict_all(model, spec, test, self.device, true_lightness)
        per = {"names": names, **metrics.per_image(preds, test)}
        elsewhere = None
        if out_of_domain:
            photos = self.out_of_domain()
            found = inference.predict_all(
                model, spec, photos["images"], self.device, true_lightness
            )
            elsewhere = _scored(found, photos["images"], photos["names"])
        return Scores(preds, metrics.summarise(per), per, elsewhere)

    def record(
        self,
        spec: ModelSpec,
        model: nn.Module,
        scores: Scores,
        result: engine.TrainResult | None = None,
        *,
        title: str,
        source: str,
        account: str,
        compare: bool = True,
        variant_of: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Export `model`, keep previews of its predictions, and file its numbers.

        `title`, `source` (the write-up it follows) and `account` (one sentence on what it is)
        are what the report shows; `compare=False` keeps an experiment's run out of the
        report's comparison table. `variant_of`: these scores are another way of using an
        already recorded method's model (e.g. the RGB model's colour on the true L): its file
        is that method's, and training facts are that method's.
        """
        self.baselines_per_image()  # its previews (gray, ground truth) sit beside every method's
        method = spec.method
        if variant_of is None:
            model_file = save_model(self.run.writing(self.run.model_file(method)), model, spec)
            checkpoint = model_file.relative_to(self.run.dir).as_posix()
        else:
            checkpoint = self.methods[variant_of]["checkpoint"]
        self.run.save_previews(method, self.names("test"), scores.predictions)
        entry: dict[str, Any] = {
            "title": title,
            "source": source,
            "account": account,
            "compare": compare,
            "metrics": scores.metrics,
            "per_image": scores.per_image,
            "parameters": count_parameters(model),
            "checkpoint": checkpoint,
            "arch": spec.arch,
        }
        if scores.out_of_domain is not None:
            entry["out_of_domain"] = scores.out_of_domain
        if variant_of is not None:
            entry["variant_of"] = variant_of
        if result is not None:
            entry.update(
                epochs_run=result.epochs_run,
                stopped_early=result.stopped_early,
                kept_epoch=kept_epoch(result),
                kept_by=KEPT_BY if kept_epoch(result) is not None else "the last epoch",
                train_seconds=round(result.train_seconds, 1),
            )
        entry.update(extra)
        self.methods[method] = entry
        return entry

    def table(self, methods: Sequence[str] | None = None) -> pd.DataFrame:
        """Metrics of the baselines and the recorded methods, one row each."""
        rows = {f"baseline: {k}": v for k, v in self.baselines().items()}
        for name in methods or list(self.methods):
            rows[name] = self.methods[name]["metrics"]
        return pd.DataFrame(rows).T.round(4)

    def previews(self, method: str) -> list[torch.Tensor]:
        """The small prediction images saved for `method` (or "gray", "ground_truth")."""
        return self.run.read_previews(method, self.names("test"))

    def finish(self, **extra: Any) -> dict[str, Any]:
        """Write metrics.json: split, baselines, every recorded method, environment, time."""
        return self.run.finish(
            device=self.device,
            provenance=self.provenance,
            split={part: self.names(part) for part in ("train", "val", "test")},
            baselines=self.baselines(),
            baselines_per_image=self.baselines_per_image(),
            **self._out_of_domain_record(),
            methods=self.methods,
            **extra,
        )

    def _out_of_domain_record(self) -> dict[str, Any]:
        if not any("out_of_domain" in m for m in self.methods.values()):
            return {}
        photos = self.out_of_domain()
        return {
            "out_of_domain_photos": photos["names"],
            "out_of_domain_baselines": photos["baselines"],
        }


def kept_epoch(result: engine.TrainResult) -> int | None:
    """The epoch whose weights were kept (lowest validation CIEDE2000), when the best were kept."""
    if result.best_checkpoint is None:
        return None
    return int(result.history.loc[result.history["val_ciede2000"].idxmin(), "epoch"])


def _scored(preds: Sequence[torch.Tensor], images: Sequence[torch.Tensor], names: list[str]):
    per = {"names": names, **metrics.per_image(preds, images)}
    return {"metrics": metrics.summarise(per), "per_image": per}
