"""The steps every notebook shares: settings, data and split, training, scoring, recording.

A notebook starts an `Experiment` and then calls, for each method it teaches, one step at a time:

    result = workflow.fit_supervised(exp, model, spec, ...)   # or fit_gan, or fit(own step)
    scores = exp.score(model, spec)                           # full resolution, held-out images
    exp.record(spec, model, scores, result, title=...)         # export, previews, metrics entry

and `exp.finish()` writes ``metrics.json``. Where each file goes is `colorlib.runs`' business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import nn

from colorlib import data, devices, engine, inference, metrics, profiles, steps
from colorlib.errors import UserError
from colorlib.modelfile import ModelSpec, save_model
from colorlib.models import SelfAttention, count_parameters
from colorlib.runs import Run


@dataclass(frozen=True)
class Scores:
    """A model's full-resolution predictions of the test images, and their metrics."""

    predictions: list[torch.Tensor]
    metrics: dict[str, float]


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
        """Gray (ab = 0) and the training set's mean ab, scored like every method."""
        if self._baselines is None:
            test = self.part("test")
            self._baselines = metrics.baselines(self.part("train"), test)
            names = self.names("test")
            self.run.save_previews("gray", names, [metrics.gray_prediction(t) for t in test])
            self.run.save_previews("ground_truth", names, test)
        return self._baselines

    def score(self, model: nn.Module, spec: ModelSpec) -> Scores:
        """Colorize the test images at full resolution with `model` and measure the result."""
        preds, scores = inference.evaluate_model(model, spec, self.part("test"), self.device)
        return Scores(preds, scores)

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
        **extra: Any,
    ) -> dict[str, Any]:
        """Export `model`, keep previews of its predictions, and file its numbers.

        `title`, `source` (the write-up it follows) and `account` (one sentence on what it is)
        are what the report shows; `compare=False` keeps an experiment's run out of the
        report's comparison table.
        """
        self.baselines()  # its previews (gray, ground truth) sit beside every method's
        method = spec.method
        model_file = save_model(self.run.writing(self.run.model_file(method)), model, spec)
        self.run.save_previews(method, self.names("test"), scores.predictions)
        entry: dict[str, Any] = {
            "title": title,
            "source": source,
            "account": account,
            "compare": compare,
            "metrics": scores.metrics,
            "parameters": count_parameters(model),
            "checkpoint": model_file.relative_to(self.run.dir).as_posix(),
            "arch": spec.arch,
        }
        if result is not None:
            entry.update(
                epochs_run=result.epochs_run,
                stopped_early=result.stopped_early,
                best_epoch=best_epoch(result),
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
            methods=self.methods,
            **extra,
        )


def best_epoch(result: engine.TrainResult) -> int | None:
    """The epoch whose weights were kept (lowest validation loss), when the best were kept."""
    if result.best_checkpoint is None:
        return None
    return int(result.history.loc[result.history["val_loss"].idxmin(), "epoch"])


def _settings(exp: Experiment, spec: ModelSpec, **training: Any) -> dict[str, Any]:
    """What a method trains with, as its checkpoints record it (see `engine.Settings`)."""
    return {
        "profile": exp.profile,
        "dataset": exp.dataset,
        "seed": exp.seed,
        "settings": exp.cfg,
        "model": {"arch": spec.arch, "kwargs": spec.kwargs, "io": spec.io, "size": spec.size},
        "training": {k: _describe(v) for k, v in training.items()},
    }


def _describe(value: Any) -> Any:
    """A loss or other object as its class and plain attributes; plain values as they are."""
    if value is None or isinstance(value, int | float | str | bool | tuple | list | dict):
        return value
    plain = {
        k: v
        for k, v in vars(value).items()
        if not k.startswith("_") and isinstance(v, int | float | str | bool | tuple | type(None))
    }
    return {"class": type(value).__name__, **plain}


def fit(
    exp: Experiment,
    model: nn.Module,
    spec: ModelSpec,
    step: steps.Step,
    *,
    losses: Sequence[str],
    to_save: Mapping[str, Any],
    val_loss: nn.Module,
    epochs: int,
    settings: Mapping[str, Any],
    patience: int | None = None,
    snapshot_every: int | None = None,
    running: Sequence[str] = ("loss",),
    progress: bool = True,
    loader: Mapping[str, Any] | None = None,
) -> engine.TrainResult:
    """Run `step` (batch -> {loss name: value}; it updates the nets itself) for `epochs` epochs
    with colorlib's engine: `model` (the net that colorizes) is validated with `val_loss` after
    each epoch, everything in `to_save` is checkpointed, and a rerun resumes under the same
    `settings` (what the step trains with, for the checkpoint to record).

    With `patience`, training stops early on the validation loss and the best epoch's weights
    are loaded back into `model`. `loader`: `Experiment.loader` options for this method.
    """
    method, own = spec.method, dict(loader or {})
    trainer = engine.Trainer(
        step,
        losses=losses,
        to_save=to_save,
        checkpoint_dir=exp.run.checkpoint_dir(method),
        history_file=exp.run.history_file(method),
        settings=_settings(exp, spec, **settings, **own, epochs=epochs, patience=patience),
        max_epochs=epochs,
        seed=exp.seed,
        evaluator=steps.supervised_evaluator(
            model, val_loss, spec.convention.pair, exp.device, spec.batch_stats
        ),
        val_loader=exp.loader("val"),
        patience=patience,
        keep_best="model" if patience else None,
        on_epoch=_snapshots(exp, model, spec, snapshot_every),
        running=running,
        progress=progress,
    )
    result = trainer.fit(exp.loader("train", **own))
    if result.best_checkpoint is not None:
        engine.load_best(model, result.best_checkpoint)
    return result


def fit_supervised(
    exp: Experiment,
    model: nn.Module,
    spec: ModelSpec,
    *,
    loss_fn: nn.Module,
    lr: float,
    epochs: int,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
    patience: int | None = None,
    snapshot_every: int | None = None,
    progress: bool = True,
    loader: Mapping[str, Any] | None = None,
) -> engine.TrainResult:
    """Train `model` with Adam on its convention's pairs (`steps.supervised_step`), validating
    after each epoch; with `patience`, stop early and keep the best epoch's weights (as the
    ColorNet source's ignite set-up intended)."""
    model.to(exp.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    step = steps.supervised_step(model, optimizer, loss_fn, spec.convention.pair, exp.device)
    return fit(
        exp, model, spec, step,
        losses=("loss",), to_save={"model": model, "optimizer": optimizer}, val_loss=loss_fn,
        epochs=epochs, patience=patience, snapshot_every=snapshot_every, progress=progress,
        loader=loader,
        settings={"loss": loss_fn, "lr": lr, "betas": betas, "weight_decay": weight_decay},
    )  # fmt: skip


def fit_gan(
    exp: Experiment,
    G: nn.Module,
    D: nn.Module,
    spec: ModelSpec,
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
    loader: Mapping[str, Any] | None = None,
) -> engine.TrainResult:
    """Train a conditional GAN with Adam (D then G each step, see `steps.gan_step`)."""
    G.to(exp.device)
    D.to(exp.device)
    opt_G = torch.optim.Adam(G.parameters(), lr=lr, betas=betas)
    opt_D = torch.optim.Adam(D.parameters(), lr=lr, betas=betas)
    pixel = pixel_loss if pixel_loss is not None else nn.L1Loss()
    step = steps.gan_step(
        G, D, opt_G, opt_D, gan_loss, pair=spec.convention.pair, pixel_loss=pixel,
        lambda_pixel=lambda_pixel, perceptual=perceptual, lambda_perceptual=lambda_perceptual,
        g_every=g_every, device=exp.device,
    )  # fmt: skip
    losses = steps.GAN_LOSSES + (("loss_G_perceptual",) if perceptual is not None else ())
    return fit(
        exp, G, spec, step,
        losses=losses, to_save={"G": G, "D": D, "opt_G": opt_G, "opt_D": opt_D},
        # The pixel loss on the validation images tells whether G generalises at all.
        val_loss=pixel, epochs=epochs, snapshot_every=snapshot_every,
        running=("loss_D", "loss_G"), progress=progress, loader=loader,
        settings={
            "discriminator": {"arch": type(D).__name__, **getattr(D, "config", {})},
            "gan_loss": gan_loss, "pixel_loss": pixel, "lambda_pixel": lambda_pixel,
            "perceptual": perceptual is not None, "lambda_perceptual": lambda_perceptual,
            "g_every": g_every, "lr": lr, "betas": betas,
        },
    )  # fmt: skip


@dataclass
class Attention:
    image: torch.Tensor  # the uint8 input at the model's size
    weights: torch.Tensor  # (N, N) softmax weights, N = side * side positions
    gamma: float


def attention_of(
    G: nn.Module, spec: ModelSpec, image: torch.Tensor, device: torch.device | str
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
    exp: Experiment, model: nn.Module, spec: ModelSpec, every: int | None
) -> inference.Snapshots | None:
    if not every:
        return None
    run, method = exp.run, spec.method
    return inference.Snapshots(
        model,
        spec,
        exp.part("val")[:4],
        lambda epoch: run.writing(run.snapshot_file(method, epoch)),
        every=every,
        device=exp.device,
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
    overrides: Mapping[str, Any] | str | None = None,
    data_root: str | Path = "data",
) -> Experiment:
    """Settings, seed, device, run folder, images and the deterministic split. The gpu profile
    without a GPU stops at once unless DEVICE names a device or it is a dry run; a dry run keeps
    `profiles.DRY_RUN_IMAGES` validation and test images."""
    cfg = profiles.settings(profile, settings_name, overrides, dataset=dataset)
    rows = profiles.describe(profile, settings_name, overrides, dataset=dataset)
    engine.seed_everything(seed)
    dev = _device(device, profile, cfg["dry_run"])
    images = data.load_images(dataset, root=_data_root(data_root))
    _check_size(images, cfg["size"], profile, dataset)
    # The dataset's registry entry decides the grouping: faces split by subject.
    split = data.split(images, test_fraction=cfg["test_fraction"], seed=seed)
    if cfg["dry_run"]:
        n, held = profiles.DRY_RUN_IMAGES, ("val", "test", "val_names", "test_names")
        split = replace(split, **{part: getattr(split, part)[:n] for part in held})
    run = Run(out_dir, notebook, profile=profile, dataset=dataset, seed=seed, settings=cfg)
    return Experiment(notebook, profile, dataset, seed, cfg, dev, run, images, split, rows)


def _device(device: str, profile: str, dry_run: bool) -> torch.device:
    # Never a quiet fallback to the CPU for the gpu settings: they would take days there.
    if profile == "gpu" and not (device or dry_run or torch.cuda.is_available()):
        raise UserError(
            "PROFILE 'gpu' trains on a CUDA GPU, but PyTorch sees none: on Colab choose Runtime > "
            "Change runtime type > a GPU and rerun; on a cluster run it in a GPU job; or set "
            "DEVICE='cpu' to run it on the CPU anyway, or OVERRIDES {\"dry_run\": true} to try "
            "the settings in minutes"
        )
    return devices.pick_device(device or None)


def _check_size(images: data.ImageSet, size: int, profile: str, dataset: str) -> None:
    # Training crops are never upsampled: every image must be at least `size` on each side.
    i = min(range(len(images)), key=lambda k: min(images.images[k].shape[-2:]))
    h, w = images.images[i].shape[-2:]
    if min(h, w) < size:
        raise UserError(
            f"size {size} (profile {profile}) is larger than {images.names[i]} of {dataset} "
            f'({w}x{h}): pass OVERRIDES {{"size": N}}, N <= {min(h, w)}, or leave it out'
        )


def _data_root(root: str | Path) -> Path:
    """`data/` of the repository when run from `notebooks/` or the repository root."""
    root = Path(root)
    if root.is_absolute() or root.exists():
        return root
    repo_data = Path(__file__).resolve().parents[1] / root
    return repo_data if repo_data.exists() else root
