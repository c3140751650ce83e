"""The steps every notebook shares: settings, data and split, training, scoring, recording.

A notebook starts an `Experiment` (`colorlib.experiment`) and then calls, for each method it
teaches, one step at a time:

    result = workflow.fit_supervised(exp, model, spec, ...)   # or fit_gan, or fit(own step)
    scores = exp.score(model, spec)                           # full resolution, held-out images
    exp.record(spec, model, scores, result, title=...)         # export, previews, metrics entry

and `exp.finish()` writes ``metrics.json``. Where each file goes is `colorlib.runs`' business.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorlib import data, devices, distributed, engine, inference, profiles, steps
from colorlib.errors import UserError
from colorlib.experiment import Experiment, Scores, kept_epoch
from colorlib.modelfile import ModelSpec
from colorlib.models import SelfAttention

# Experiment, Scores and kept_epoch live in `colorlib.experiment`; notebooks reach them here.
__all__ = [
    "Experiment", "Scores", "attention_of", "fit", "fit_gan", "fit_supervised", "kept_epoch",
    "start",
]  # fmt: skip


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

    Every method keeps the weights of its epoch with the lowest validation CIEDE2000 (the error
    the report ranks by) and loads them back into `model`; with `patience`, training also stops
    early on the validation loss. `loader`: `Experiment.loader` options for this method.
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
        evaluator=distributed.same_on_every_rank(
            steps.supervised_evaluator(
                model, val_loss, spec.convention, exp.device, spec.batch_stats
            ),
            model,
        ),
        val_loader=exp.loader("val"),
        patience=patience,
        keep_best=_key_of(model, to_save),
        keep_by="ciede2000",
        on_epoch=_snapshots(exp, model, spec, snapshot_every),
        running=running,
        progress=progress,
    )
    nets = [value for value in to_save.values() if isinstance(value, nn.Module)]
    result = distributed.fit(trainer, exp.loader("train", **own), nets)
    if result.best_checkpoint is not None:
        engine.load_best(model, result.best_checkpoint)
    return result


def _key_of(model: nn.Module, to_save: Mapping[str, Any]) -> str:
    """The name `to_save` gives `model` (its best weights are kept under it)."""
    for key, value in to_save.items():
        if value is model:
            return key
    raise ValueError("to_save must hold the model that colorizes, to keep its best weights")


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
    net = distributed.auto_model(model)  # DistributedDataParallel under torchrun
    step = steps.supervised_step(net, optimizer, loss_fn, spec.convention.pair, exp.device)
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
        distributed.auto_model(G), distributed.auto_model(D), opt_G, opt_D, gan_loss,
        pair=spec.convention.pair, pixel_loss=pixel,
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
    dev = distributed.join(_device(device, profile, cfg["dry_run"]))  # under torchrun: its own GPU
    # OVERRIDES {"store": true}: a set larger than memory stays on disk, short side at `size`.
    store_side = cfg["size"] if cfg["store"] else None
    images = data.load_images(dataset, root=_data_root(data_root), store_side=store_side)
    _check_size(images, cfg["size"], profile, dataset)
    # The dataset's registry entry decides the grouping: faces split by subject.
    split = data.split(images, test_fraction=cfg["test_fraction"], seed=seed)
    if cfg["dry_run"]:
        n, held = profiles.DRY_RUN_IMAGES, ("val", "test", "val_names", "test_names")
        split = replace(split, **{part: getattr(split, part)[:n] for part in held})
    run = distributed.run_for_rank(
        out_dir, notebook, profile=profile, dataset=dataset, seed=seed, settings=cfg
    )
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
    stored = images.images
    shapes = (
        stored.shapes
        if isinstance(stored, data.StoredImages)
        else [tuple(image.shape[-2:]) for image in stored]
    )
    i = min(range(len(shapes)), key=lambda k: min(shapes[k]))
    h, w = shapes[i]
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
