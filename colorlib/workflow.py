"""The steps every notebook shares: settings, data and split, baselines, evaluation, records.

A notebook starts an `Experiment`, trains whatever it teaches, and hands each trained model to
`Experiment.record`, which scores it at full resolution on the held-out images, exports it for
`colorlib colorize`, saves its predictions and history, and files its numbers for
``metrics.json``. `Experiment.finish` writes that file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn

from colorlib import data, engine, inference, metrics, profiles
from colorlib.models import SelfAttention, count_parameters
from colorlib.runs import Run

# Largest side of the prediction previews kept for the report's grids (scores use full resolution).
PREVIEW_SIDE = 256


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
    methods: dict[str, dict[str, Any]] = field(default_factory=dict)
    _baselines: dict[str, dict[str, float]] | None = None

    # --- data ---------------------------------------------------------------------------------
    def indices(self, name: str) -> list[int]:
        parts = {"train": self.split.train, "val": self.split.val, "test": self.split.test}
        if name not in parts:
            raise ValueError(f"split part must be one of {sorted(parts)}, got {name!r}")
        return parts[name]

    def part(self, name: str) -> list[torch.Tensor]:
        """The uint8 images of split part "train", "val" or "test"."""
        return [self.images.images[i] for i in self.indices(name)]

    def names(self, name: str) -> list[str]:
        return [self.images.names[i] for i in self.indices(name)]

    def loader(
        self,
        part: str = "train",
        *,
        batch_size: int | None = None,
        augment: bool = True,
        size: int | None = None,
        seed_offset: int = 0,
        samples_per_epoch: int | None = None,
    ) -> data.BatchLoader:
        """Training: random augmented crops; "val"/"test": one centre crop per image."""
        train = part == "train"
        return data.BatchLoader(
            self.part(part),
            size=size or self.cfg["size"],
            batch_size=batch_size or self.cfg.get("batch_size", 16),
            samples_per_epoch=(samples_per_epoch or self.cfg.get("samples_per_epoch"))
            if train
            else None,
            train=train,
            augment=data.Augment() if (train and augment) else None,
            seed=self.seed + seed_offset,
            device=self.device,
        )

    def summary(self) -> pd.DataFrame:
        """How many images each part holds, and how many groups (faces: subjects)."""
        rows = {}
        for part in ("train", "val", "test"):
            idx = self.indices(part)
            rows[part] = {"images": len(idx), "groups": len({self.images.groups[i] for i in idx})}
        return pd.DataFrame(rows).T

    # --- scores -------------------------------------------------------------------------------
    def baselines(self) -> dict[str, dict[str, float]]:
        """Gray (ab = 0) and the training set's mean ab, scored like every method."""
        if self._baselines is None:
            self._baselines = metrics.baselines(self.part("train"), self.part("test"))
            self._save_previews("gray", [metrics.gray_prediction(t) for t in self.part("test")])
            self._save_previews("ground_truth", self.part("test"))
        return self._baselines

    def record(
        self,
        method: str,
        model: nn.Module,
        spec: inference.ModelSpec,
        result: engine.TrainResult | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Score `model` on the test images at full resolution; export it; file its numbers."""
        self.baselines()  # its previews (gray, ground truth) sit beside every method's
        preds, scores = inference.evaluate_model(model, spec, self.part("test"), self.device)
        folder = self.run.path(method)
        inference.save_model(folder / "model.pt", model, spec)
        self._save_previews(method, preds)
        entry: dict[str, Any] = {
            "metrics": scores,
            "parameters": count_parameters(model),
            "checkpoint": str((folder / "model.pt").relative_to(self.run.dir)),
            "arch": spec.arch,
        }
        if result is not None:
            result.history.to_csv(folder / "history.csv", index=False)
            entry.update(
                epochs_run=result.epochs_run,
                stopped_early=result.stopped_early,
                train_seconds=round(float(result.history["seconds"].sum()), 1),
            )
        entry.update(extra)
        self.methods[method] = entry
        return entry

    def table(self, methods: list[str] | None = None) -> pd.DataFrame:
        """Metrics of the baselines and the recorded methods, one row each."""
        rows = {f"baseline: {k}": v for k, v in self.baselines().items()}
        for name in methods or list(self.methods):
            rows[name] = self.methods[name]["metrics"]
        return pd.DataFrame(rows).T.round(4)

    def previews(self, method: str) -> list[torch.Tensor]:
        """The small prediction images saved for `method` (or "gray", "ground_truth")."""
        return read_previews(self.run.dir / "predictions" / method, self.names("test"))

    def _save_previews(self, method: str, images: list[torch.Tensor]) -> None:
        folder = self.run.path("predictions", method, "x").parent
        for name, img in zip(self.names("test"), images, strict=True):
            # JPEG keeps the committed report small; scores never read these files.
            Image.fromarray(_shrink(img).permute(1, 2, 0).numpy()).save(
                preview_file(folder, name), quality=92
            )

    def finish(self, **extra: Any) -> dict[str, Any]:
        """Write metrics.json: split, baselines, every recorded method, environment, time."""
        return self.run.finish(
            device=self.device,
            split={part: self.names(part) for part in ("train", "val", "test")},
            baselines=self.baselines(),
            methods=self.methods,
            **extra,
        )


def fit_supervised(
    exp: Experiment,
    method: str,
    model: nn.Module,
    spec: inference.ModelSpec,
    *,
    loss_fn: nn.Module,
    lr: float,
    epochs: int,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    patience: int | None = None,
    snapshot_every: int | None = None,
    progress: bool = True,
    **extra: Any,
) -> tuple[engine.TrainResult, dict[str, Any]]:
    """Train `model` with Adam on `spec.io`'s pairs, validate each epoch, record it.

    With `patience`, training stops early on the validation loss and the best epoch's weights
    are the ones scored and exported (as the ColorNet source's ignite set-up intended).
    """
    pair = engine.PAIRS[spec.io]
    model.to(exp.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    folder = exp.run.path(method)
    trainer = engine.Trainer(
        engine.supervised_step(model, optimizer, loss_fn, pair, exp.device),
        to_save={"model": model, "optimizer": optimizer},
        run_dir=folder,
        max_epochs=epochs,
        seed=exp.seed,
        evaluator=engine.supervised_evaluator(model, loss_fn, pair, exp.device, spec.batch_stats),
        val_loader=exp.loader("val"),
        patience=patience,
        keep_best="model" if patience else None,
        on_epoch=_snapshots(exp, model, spec, folder, snapshot_every),
        progress=progress,
    )
    result = trainer.fit(exp.loader("train"))
    if result.best_checkpoint is not None:
        engine.load_best(model, result.best_checkpoint)
        extra["best_epoch"] = int(result.history.loc[result.history["val_loss"].idxmin(), "epoch"])
    return result, exp.record(method, model, spec, result, **extra)


def fit_gan(
    exp: Experiment,
    method: str,
    G: nn.Module,
    D: nn.Module,
    spec: inference.ModelSpec,
    *,
    gan_loss: nn.Module,
    lr: float,
    epochs: int,
    betas: tuple[float, float] = (0.5, 0.999),
    pixel_loss: nn.Module | None = None,
    lambda_pixel: float = 100.0,
    perceptual: Any = None,
    lambda_perceptual: float = 0.0,
    g_every: int = 1,
    snapshot_every: int | None = None,
    progress: bool = True,
    **extra: Any,
) -> tuple[engine.TrainResult, dict[str, Any]]:
    """Train a conditional GAN (D then G each step), snapshot fixed images, record G."""
    G.to(exp.device)
    D.to(exp.device)
    opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    pair = engine.PAIRS[spec.io]
    folder = exp.run.path(method)
    pixel = pixel_loss if pixel_loss is not None else nn.L1Loss()
    step = engine.gan_step(
        G,
        D,
        opt_G,
        opt_D,
        gan_loss,
        pair=pair,
        pixel_loss=pixel,
        lambda_pixel=lambda_pixel,
        perceptual=perceptual,
        lambda_perceptual=lambda_perceptual,
        g_every=g_every,
        device=exp.device,
    )
    trainer = engine.Trainer(
        step,
        to_save={"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D},
        run_dir=folder,
        max_epochs=epochs,
        seed=exp.seed,
        # The pixel loss on the validation images tells whether G generalises at all.
        evaluator=engine.supervised_evaluator(G, pixel, pair, exp.device, spec.batch_stats),
        val_loader=exp.loader("val"),
        on_epoch=_snapshots(exp, G, spec, folder, snapshot_every),
        running=("loss_D", "loss_G"),
        progress=progress,
    )
    result = trainer.fit(exp.loader("train"))
    return result, exp.record(
        method, G, spec, result, discriminator_parameters=count_parameters(D), **extra
    )


def resplit_validation(split: data.Split, train_percent: float, seed: int) -> data.Split:
    """Pool train and val, keep `train_percent` for training and the rest (at least one image)
    for validation, as the SA-cGAN source's ``--splitPercent`` does; test is untouched."""
    if not 0.0 < train_percent < 1.0:
        raise ValueError(f"split_percent must be in (0, 1), got {train_percent}")
    pool = sorted(zip(split.train + split.val, split.train_names + split.val_names, strict=True))
    order = torch.randperm(len(pool), generator=torch.Generator().manual_seed(seed)).tolist()
    n_val = min(max(1, round((1 - train_percent) * len(pool))), len(pool) - 1)
    val = sorted(pool[i] for i in order[:n_val])
    train = sorted(pool[i] for i in order[n_val:])
    return data.Split(
        train=[i for i, _ in train],
        val=[i for i, _ in val],
        test=list(split.test),
        train_names=[n for _, n in train],
        val_names=[n for _, n in val],
        test_names=list(split.test_names),
    )


@dataclass
class Attention:
    image: torch.Tensor  # the uint8 input at the model's size
    weights: torch.Tensor  # (N, N) softmax weights, N = side * side positions
    gamma: float


def attention_of(
    G: nn.Module, spec: inference.ModelSpec, image: torch.Tensor, device: torch.device | str
) -> Attention:
    """Run G once on `image` (centre crop at its size) and read its self-attention weights."""
    layers = [m for m in G.modules() if isinstance(m, SelfAttention)]
    if len(layers) != 1:
        raise ValueError(f"expected one SelfAttention layer in the generator, found {len(layers)}")
    layer = layers[0]
    small = data.centre_square(image, spec.size)
    layer.keep_attention = True
    try:
        inference.predict(G, spec, small, device)
    finally:
        layer.keep_attention = False
    return Attention(small, layer.last_attention[0].cpu(), float(layer.gamma.detach().cpu()))


def _snapshots(
    exp: Experiment, model: nn.Module, spec: inference.ModelSpec, folder: Path, every: int | None
) -> inference.Snapshots | None:
    if not every:
        return None
    return inference.Snapshots(
        model, spec, exp.part("val")[:4], folder / "snapshots", every=every, device=exp.device
    )


def start(
    notebook: str,
    *,
    settings_name: str,
    profile: str,
    dataset: str,
    seed: int,
    out_dir: str | Path,
    device: str = "",
    overrides: Mapping[str, Any] | None = None,
    data_root: str | Path = "data",
) -> Experiment:
    """Settings, seed, device, run folder, images and the deterministic split."""
    cfg = profiles.settings(profile, settings_name, **dict(overrides or {}))
    engine.seed_everything(seed)
    dev = engine.pick_device(device or None)
    images = data.load_images(dataset, root=_data_root(data_root))
    # The dataset's registry entry decides the grouping: faces split by subject.
    split = data.split(images, test_fraction=cfg["test_fraction"], seed=seed)
    run = Run(out_dir, notebook, profile=profile, dataset=dataset, seed=seed, settings=cfg)
    return Experiment(notebook, profile, dataset, seed, cfg, dev, run, images, split)


def _data_root(root: str | Path) -> Path:
    """`data/` of the repository when run from `notebooks/` or the repository root."""
    root = Path(root)
    if root.is_absolute() or root.exists():
        return root
    repo_data = Path(__file__).resolve().parents[1] / root
    return repo_data if repo_data.exists() else root


def _shrink(image: torch.Tensor, side: int = PREVIEW_SIDE) -> torch.Tensor:
    _, h, w = image.shape
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = torch.nn.functional.interpolate(
        image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return small[0].round().clamp(0, 255).to(torch.uint8)


def preview_file(folder: Path, name: str) -> Path:
    """Where the preview of test image `name` lives in a method's predictions folder."""
    return folder / f"{Path(name).stem}.jpg"


def read_previews(folder: Path, names: Sequence[str]) -> list[torch.Tensor]:
    """The saved previews of the test images `names` from `folder`, as uint8 (3, H, W)."""
    return [
        torch.from_numpy(
            np.asarray(Image.open(preview_file(folder, n)).convert("RGB")).copy()
        ).permute(2, 0, 1)
        for n in names
    ]
