"""Training engine on pytorch-ignite: one `Trainer` for supervised nets and GANs alike.

A method supplies a *step* (a closure that takes a batch, updates its nets and returns a dict of
float losses) and, optionally, an *evaluator* (an ignite `Engine` with metrics). The `Trainer`
adds what every run needs: seeding, a progress bar with running averages, per-epoch history,
NaN/inf detection, early stopping, atomic checkpoints of everything that changes, and resume.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import torch
from ignite.engine import Engine, Events
from ignite.handlers import Checkpoint, DiskSaver, EarlyStopping, global_step_from_engine
from ignite.handlers.tqdm_logger import ProgressBar
from ignite.metrics import Loss, RunningAverage
from torch import nn

from colorlib import color
from colorlib.losses import GANLoss, set_requires_grad
from colorlib.models import batch_statistics

Step = Callable[[Mapping[str, torch.Tensor]], dict[str, float]]
PairFn = Callable[[Mapping[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]


@runtime_checkable
class EpochAware(Protocol):
    """A loader whose random draws depend on the epoch (see `colorlib.data.BatchLoader`)."""

    def set_epoch(self, epoch: int) -> None: ...


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; training stopped before it could corrupt a checkpoint."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch so that a profile and seed give the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(name: str | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1"), else CUDA when present, else CPU."""
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# --- what a supervised net learns from a batch --------------------------------------------------


def lab_pair(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """L in [-1, 1] -> ab in [-1, 1] (the conventional normalisation)."""
    return batch["L"], batch["ab"]


def unit_pair(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """L and ab rescaled to [0, 1], as the ColorNet source normalised its tensors."""
    return (batch["L"] + 1) / 2, (batch["ab"] + 1) / 2


def mean_chroma_pair(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """L in [-1, 1] -> the image's mean (a*, b*) rescaled to [0, 1] for a sigmoid output."""
    return batch["L"], (batch["ab"].mean(dim=(2, 3)) + 1) / 2


def rgb_pair(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gray as 3-channel RGB -> RGB, both in [-1, 1] (the RGB-space Pix2Pix)."""
    return color.gray_rgb(batch["L"]) * 2 - 1, batch["rgb"] * 2 - 1


def mean_chroma_to_lab(y: torch.Tensor) -> torch.Tensor:
    """Invert `mean_chroma_pair`'s target: [0, 1] -> mean (a*, b*) in Lab units."""
    return (y * 2 - 1) * 110


def collect(loader: Iterable, pair: PairFn) -> tuple[torch.Tensor, torch.Tensor]:
    """All (input, target) pairs of a loader, concatenated (for small evaluation sets)."""
    xs, ys = zip(*(pair(batch) for batch in loader), strict=True)
    return torch.cat(xs), torch.cat(ys)


PAIRS: dict[str, PairFn] = {
    "lab": lab_pair,
    "unit": unit_pair,
    "mean_chroma": mean_chroma_pair,
    "rgb": rgb_pair,
}


def supervised_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    pair: PairFn = lab_pair,
    device: torch.device | str = "cpu",
) -> Step:
    """One optimisation step of `model` on `pair(batch)`; returns {"loss": value}.

    Mixed precision is used on CUDA only (bf16/fp16 gains nothing on a CPU and costs accuracy).
    """
    device = torch.device(device)
    amp = device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    def step(batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        model.train()
        x, y = (t.to(device) for t in pair(batch))
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return {"loss": loss.item()}

    return step


def supervised_evaluator(
    model: nn.Module,
    loss_fn: nn.Module,
    pair: PairFn = lab_pair,
    device: torch.device | str = "cpu",
    per_image_stats: bool = False,
) -> Engine:
    """An ignite evaluator whose metric "loss" is `loss_fn` averaged over the validation set.

    With `per_image_stats`, each image is run alone with BatchNorm on its own statistics, as
    such a model is used at test time (see `colorlib.models.batch_statistics`).
    """
    device = torch.device(device)

    def infer(engine: Engine, batch: Mapping[str, torch.Tensor]):
        model.eval()
        with torch.no_grad():
            x, y = (t.to(device) for t in pair(batch))
            if not per_image_stats:
                return model(x), y
            with batch_statistics(model):
                return torch.cat([model(x[i : i + 1]) for i in range(len(x))]), y

    evaluator = Engine(infer)
    Loss(loss_fn).attach(evaluator, "loss")
    return evaluator


def gan_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    gan_loss: GANLoss,
    *,
    pair: PairFn = lab_pair,
    pixel_loss: nn.Module | None = None,
    lambda_pixel: float = 100.0,
    perceptual: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    lambda_perceptual: float = 10.0,
    g_every: int = 1,
    device: torch.device | str = "cpu",
) -> Step:
    """One conditional-GAN step: update D on real and fake pairs, then G.

    D always sees the condition and the colour together, ``D(cat(x, y))``. G minimises the
    adversarial loss plus ``lambda_pixel * pixel_loss(fake, real)`` (L1 in pix2pix, MSE in the
    Lab GAN) plus, when given, ``lambda_perceptual * perceptual(x, fake, real)``. With
    ``g_every=k`` G is updated on every k-th step only (the Lab GAN source's option); its losses
    are still computed and reported every step.
    """
    device = torch.device(device)
    pixel_loss = pixel_loss if pixel_loss is not None else nn.L1Loss()
    amp = device.type == "cuda"
    scaler_D = torch.amp.GradScaler("cuda", enabled=amp)
    scaler_G = torch.amp.GradScaler("cuda", enabled=amp)
    count = {"steps": 0}

    def step(batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        G.train()
        D.train()
        x, real = (t.to(device) for t in pair(batch))
        with torch.autocast(device.type, enabled=amp):
            fake = G(x)

        set_requires_grad(D, True)
        opt_D.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            loss_D_real = gan_loss(D(torch.cat([x, real], 1)), True)
            loss_D_fake = gan_loss(D(torch.cat([x, fake.detach()], 1)), False)
            loss_D = (loss_D_real + loss_D_fake) / 2
        scaler_D.scale(loss_D).backward()
        scaler_D.step(opt_D)
        scaler_D.update()

        # D's weights are constants for G's update: no gradients wasted on them.
        set_requires_grad(D, False)
        opt_G.zero_grad(set_to_none=True)
        with torch.autocast(device.type, enabled=amp):
            loss_G_GAN = gan_loss(D(torch.cat([x, fake], 1)), True)
            loss_G_pixel = pixel_loss(fake, real)
            loss_G = loss_G_GAN + lambda_pixel * loss_G_pixel
            out = {}
            if perceptual is not None:
                loss_G_perc = perceptual(x, fake, real)
                loss_G = loss_G + lambda_perceptual * loss_G_perc
                out["loss_G_perceptual"] = loss_G_perc.item()
        if count["steps"] % g_every == 0:
            scaler_G.scale(loss_G).backward()
            scaler_G.step(opt_G)
            scaler_G.update()
        set_requires_grad(D, True)
        count["steps"] += 1
        return {
            "loss_D": loss_D.item(),
            "loss_D_real": loss_D_real.item(),
            "loss_D_fake": loss_D_fake.item(),
            "loss_G": loss_G.item(),
            "loss_G_GAN": loss_G_GAN.item(),
            "loss_G_pixel": loss_G_pixel.item(),
            **out,
        }

    return step


def lab_perceptual(
    features: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Adapt an RGB perceptual loss to (L, fake ab, real ab) in the Lab normalisation."""

    def loss(L: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> torch.Tensor:
        return features(
            color.model_output_to_rgb(L, fake_ab), color.model_output_to_rgb(L, real_ab)
        )

    return loss


# --- history ----------------------------------------------------------------------------------


class History:
    """Per-epoch records (train losses averaged over the epoch, validation metrics, seconds).

    It has a state_dict so that it travels inside checkpoints and a resumed run keeps its curve.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def append(self, row: Mapping[str, float]) -> None:
        self.rows.append({k: float(v) for k, v in row.items()})

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.rows = [dict(r) for r in state["rows"]]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def save_csv(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(path, index=False)
        return path


@dataclass
class TrainResult:
    history: pd.DataFrame
    epochs_run: int
    stopped_early: bool
    resumed_from: int  # epoch the run resumed after (0: fresh start)
    seconds: float  # wall time of this call, excluding time spent before a resume
    best_checkpoint: Path | None


# --- the trainer ------------------------------------------------------------------------------


class Trainer:
    """Runs `step` over a loader for up to `max_epochs`, with checkpoints and resume.

    Args:
        step: batch -> dict of float losses (see `supervised_step` and `colorlib.gan`).
        to_save: everything whose state must survive an interruption: nets, optimizers,
            schedulers. Saved each epoch, atomically, to ``run_dir/checkpoints``.
        run_dir: the run folder; a rerun with the same folder resumes from its last checkpoint.
        max_epochs: upper bound on epochs.
        seed: the run's seed; each epoch reseeds torch with ``seed + epoch`` so a resumed run
            draws the same dropout and augmentation as an uninterrupted one.
        evaluator, val_loader: run after every epoch; their metrics enter the history as
            ``val_<name>``.
        patience: stop when ``val_<score>`` has not improved for this many epochs.
        score: the evaluator metric that early stopping and the best checkpoint follow
            (lower is better).
        keep_best: the key in `to_save` of the net whose best weights (by ``val_<score>``) are
            kept as ``checkpoints/best_model_*.pt``.
        on_epoch: called as ``on_epoch(epoch)`` after each epoch's checkpoint, e.g. to colorize
            fixed images.
        running: the losses shown as running averages on the progress bar.
        progress: show a progress bar.
    """

    def __init__(
        self,
        step: Step,
        *,
        to_save: Mapping[str, Any],
        run_dir: str | Path,
        max_epochs: int,
        seed: int = 0,
        evaluator: Engine | None = None,
        val_loader: Iterable | None = None,
        patience: int | None = None,
        score: str = "loss",
        keep_best: str | None = None,
        on_epoch: Callable[[int], None] | None = None,
        running: Sequence[str] = ("loss",),
        progress: bool = True,
    ) -> None:
        if max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")
        if patience is not None and evaluator is None:
            raise ValueError("patience needs an evaluator and a val_loader to watch")
        if (evaluator is None) != (val_loader is None):
            raise ValueError("give both evaluator and val_loader, or neither")
        if keep_best is not None and (evaluator is None or keep_best not in to_save):
            raise ValueError(f"keep_best={keep_best!r} needs an evaluator and a key of to_save")
        self.step = step
        self.run_dir = Path(run_dir)
        self.checkpoint_dir = self.run_dir / "checkpoints"
        self.max_epochs = max_epochs
        self.seed = seed
        self.evaluator = evaluator
        self.val_loader = val_loader
        self.score = score
        self.keep_best = keep_best
        self.on_epoch = on_epoch
        self.running = tuple(running)
        self.progress = progress
        self.history = History()
        self.engine = Engine(self._run_step)
        self.early_stopping = (
            EarlyStopping(
                patience=patience,
                score_function=self._score,
                trainer=self.engine,
                mode="max",
            )
            if patience is not None
            else None
        )
        self._to_save = dict(to_save)
        self._last_output: dict[str, float] = {}
        self._epoch_sums: dict[str, float] = {}
        self._epoch_count = 0

    # The ignite process function: run the method's step, check it, accumulate epoch means.
    def _run_step(self, engine: Engine, batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        out = self.step(batch)
        for name, value in out.items():
            if not math.isfinite(value):
                raise NonFiniteLossError(
                    f"loss '{name}' became {value} at epoch {engine.state.epoch}, iteration "
                    f"{engine.state.iteration}. Nothing was saved from this epoch; the last good "
                    f"checkpoint is in {self.checkpoint_dir}. Lower the learning rate or check the "
                    "inputs for NaN, then rerun to resume."
                )
            self._epoch_sums[name] = self._epoch_sums.get(name, 0.0) + value
        self._epoch_count += 1
        return out

    def _score(self, evaluator: Engine) -> float:
        metrics = evaluator.state.metrics
        if self.score not in metrics:
            raise KeyError(
                f"early stopping follows metric '{self.score}', but the evaluator has only "
                f"{sorted(metrics)}"
            )
        return -float(metrics[self.score])

    def _objects(self, checkpointer: Checkpoint | None = None) -> dict[str, Any]:
        objects = dict(self._to_save)
        objects["trainer"] = self.engine
        objects["history"] = self.history
        if self.early_stopping is not None:
            objects["early_stopping"] = self.early_stopping
        if checkpointer is not None:
            objects["best_checkpointer"] = checkpointer
        return objects

    def last_checkpoint(self) -> Path | None:
        """The newest 'last_checkpoint_<epoch>.pt' in the run folder, if any."""
        found = sorted(
            self.checkpoint_dir.glob("last_checkpoint_*.pt"),
            key=lambda p: int(p.stem.rsplit("_", 1)[-1]),
        )
        return found[-1] if found else None

    def fit(self, train_loader: Iterable, resume: bool = True) -> TrainResult:
        engine = self.engine
        saver = DiskSaver(self.checkpoint_dir, create_dir=True, require_empty=False, atomic=True)

        best = None
        if self.keep_best is not None:
            best = Checkpoint(
                {"model": self._to_save[self.keep_best]},
                saver,
                filename_prefix="best",
                score_function=self._score,
                score_name=f"neg_val_{self.score}",
                global_step_transform=global_step_from_engine(engine),
                n_saved=1,
            )
        objects = self._objects(best)
        last = Checkpoint(objects, saver, filename_prefix="last", n_saved=1, include_self=True)

        resumed_from = 0
        previous = self.last_checkpoint() if resume else None
        if previous is not None:
            state = torch.load(previous, map_location="cpu", weights_only=True)
            Checkpoint.load_objects(to_load={**objects, "checkpointer": last}, checkpoint=state)
            resumed_from = engine.state.epoch

        @engine.on(Events.EPOCH_STARTED)
        def _reseed(engine: Engine) -> None:
            seed_everything(self.seed + engine.state.epoch)
            if isinstance(train_loader, EpochAware):
                train_loader.set_epoch(engine.state.epoch)
            self._epoch_sums, self._epoch_count = {}, 0
            self._epoch_started = time.perf_counter()

        @engine.on(Events.EPOCH_COMPLETED)
        def _record(engine: Engine) -> None:
            row: dict[str, float] = {"epoch": engine.state.epoch}
            row.update({k: v / max(self._epoch_count, 1) for k, v in self._epoch_sums.items()})
            if self.evaluator is not None:
                self.evaluator.run(self.val_loader)
                row.update({f"val_{k}": float(v) for k, v in self.evaluator.state.metrics.items()})
            row["seconds"] = time.perf_counter() - self._epoch_started
            self.history.append(row)
            self.history.save_csv(self.run_dir / "history.csv")  # watchable during long runs

        # Order matters: evaluator metrics are recorded before best/early-stopping read them and
        # the history row is in place before the checkpoint is written.
        if best is not None:
            self.evaluator.add_event_handler(Events.COMPLETED, best)
        if self.early_stopping is not None:
            self.evaluator.add_event_handler(Events.COMPLETED, self.early_stopping)
        engine.add_event_handler(Events.EPOCH_COMPLETED, last)
        if self.on_epoch is not None:
            engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: self.on_epoch(e.state.epoch))

        if self.progress:
            for name in self.running:
                RunningAverage(output_transform=_pick(name)).attach(engine, name)
            ProgressBar(persist=False).attach(engine, metric_names="all")

        started = time.perf_counter()
        try:
            if resumed_from < self.max_epochs and not self._stopped_before():
                engine.run(train_loader, max_epochs=self.max_epochs)
        finally:
            self.history.save_csv(self.run_dir / "history.csv")
        seconds = time.perf_counter() - started
        epochs_run = len(self.history.rows)
        return TrainResult(
            history=self.history.frame(),
            epochs_run=epochs_run,
            stopped_early=epochs_run < self.max_epochs,
            resumed_from=resumed_from,
            seconds=seconds,
            best_checkpoint=_best_file(best, self.checkpoint_dir),
        )

    def _stopped_before(self) -> bool:
        """A run that early-stopped and was checkpointed stays stopped when rerun."""
        es = self.early_stopping
        return es is not None and es.counter >= es.patience


def _pick(name: str) -> Callable[[Mapping[str, float]], float]:
    return lambda out: out[name]


def _best_file(best: Checkpoint | None, folder: Path) -> Path | None:
    if best is None or best.last_checkpoint is None:
        return None
    return folder / str(best.last_checkpoint)


def load_best(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights a `Trainer` kept as best (``best_model_*.pt``) into `model`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    return model
