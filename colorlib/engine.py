"""Training engine on pytorch-ignite: one `Trainer` for supervised nets and GANs alike.

A method supplies a *step* (a closure that takes a batch, updates its nets and returns a dict of
float losses; see `colorlib.steps`) and, optionally, an *evaluator* (an ignite `Engine` with a
metric "loss"). The `Trainer` adds what every run needs: seeding, a progress bar with running
averages, per-epoch history, NaN/inf detection, early stopping, atomic checkpoints of everything
that changes, and resume (only under the settings the checkpoint was trained with).
"""

from __future__ import annotations

import json
import math
import random
import re
import time
import warnings
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
from ignite.metrics import Average, RunningAverage
from torch import nn

from colorlib.errors import UserError
from colorlib.files import atomic_path, load_torch

Step = Callable[[Mapping[str, torch.Tensor]], dict[str, float]]
_LAST = re.compile(r"last_checkpoint_(\d+)\.pt")


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


class History:
    """Per-epoch records (train losses averaged over the epoch, validation metrics, seconds).

    It has a state_dict so that it travels inside checkpoints and a resumed run keeps its curve
    (ignite keeps only the current epoch's metrics).
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


class Settings:
    """The settings a run trains with, stored in each checkpoint as canonical JSON.

    Resuming under other settings would pair the new settings with the old run's numbers, so
    `Trainer.fit` compares them first and refuses a mismatch, naming both.
    """

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.json = json.dumps(settings, sort_keys=True, default=str)

    def state_dict(self) -> dict[str, str]:
        return {"json": self.json}

    def load_state_dict(self, state: Mapping[str, str]) -> None:
        self.json = state["json"]

    def differences(self, stored: Mapping[str, str] | None) -> list[str]:
        """``name: stored -> now`` for every setting that differs (all, for a checkpoint that
        recorded none)."""
        now = _flatten(json.loads(self.json))
        if stored is None:
            return ["the checkpoint records no settings"]
        then = _flatten(json.loads(stored["json"]))
        keys = sorted(set(now) | set(then))
        return [
            f"{k}: {then.get(k, '(unset)')} -> {now.get(k, '(unset)')}"
            for k in keys
            if then.get(k) != now.get(k)
        ]


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


@dataclass
class TrainResult:
    history: pd.DataFrame
    epochs_run: int
    stopped_early: bool
    resumed_from: int  # epoch the run resumed after (0: fresh start)
    seconds: float  # wall time of this call, excluding time spent before a resume
    best_checkpoint: Path | None

    @property
    def train_seconds(self) -> float:
        """Training time of all epochs, resumed ones included."""
        return float(self.history["seconds"].sum()) if len(self.history) else 0.0


class Trainer:
    """Runs `step` over a loader for up to `max_epochs`, with checkpoints and resume.

    Args:
        step: batch -> dict of float losses (see `colorlib.steps`).
        losses: the names in the step's output to average over each epoch into the history.
        to_save: everything whose state must survive an interruption: nets, optimizers,
            schedulers. Saved each epoch, atomically, to `checkpoint_dir`.
        checkpoint_dir: where checkpoints go; a rerun with the same folder resumes from its
            last checkpoint, if it was trained with the same `settings`.
        settings: what the run trains with (JSON-friendly); see `Settings`.
        history_file: the per-epoch history as CSV, rewritten after every epoch.
        max_epochs: upper bound on epochs.
        seed: the run's seed; each epoch reseeds with ``seed + epoch`` so a resumed run draws the
            same dropout and augmentation as an uninterrupted one.
        evaluator, val_loader: run after every epoch; their metrics enter the history as
            ``val_<name>``.
        patience: stop when ``val_<score>`` has not improved for this many epochs.
        score: the evaluator metric early stopping follows (lower is better).
        keep_best: the key in `to_save` of the net whose best weights (by ``val_<keep_by>``)
            are kept as ``best_model_*.pt``.
        keep_by: the evaluator metric the best weights are chosen by (lower is better);
            `score` when not given. Stopping and keeping may follow different metrics: the
            ColorNet source stops on the validation loss, the report ranks by colour error.
        on_epoch: called as ``on_epoch(epoch)`` after each epoch's checkpoint.
        running: the losses shown as running averages on the progress bar.
        progress: show a progress bar.
    """

    def __init__(
        self,
        step: Step,
        *,
        losses: Sequence[str] = ("loss",),
        to_save: Mapping[str, Any],
        checkpoint_dir: str | Path,
        settings: Mapping[str, Any] | None = None,
        history_file: str | Path | None = None,
        max_epochs: int,
        seed: int = 0,
        evaluator: Engine | None = None,
        val_loader: Iterable | None = None,
        patience: int | None = None,
        score: str = "loss",
        keep_best: str | None = None,
        keep_by: str | None = None,
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
        self.losses = tuple(losses)
        self.checkpoint_dir = Path(checkpoint_dir)
        self.settings = Settings(settings or {})
        self.history_file = Path(history_file) if history_file is not None else None
        self.max_epochs = max_epochs
        self.seed = seed
        self.evaluator = evaluator
        self.val_loader = val_loader
        self.keep_best = keep_best
        self.on_epoch = on_epoch
        self.running = tuple(running)
        self.progress = progress
        self.history = History()
        self.engine = Engine(self._run_step)
        # Lower is better: ignite keeps the highest score, so the sign is flipped.
        self.keep_by = keep_by or score
        self.keep_fn = Checkpoint.get_default_score_fn(self.keep_by, -1.0)
        stop_fn = Checkpoint.get_default_score_fn(score, -1.0)
        self.early_stopping = (
            EarlyStopping(patience=patience, score_function=stop_fn, trainer=self.engine)
            if patience is not None
            else None
        )
        self._to_save = dict(to_save)

    # ignite's TerminateOnNan would end the run quietly; a notebook under papermill must fail
    # loudly instead, naming the loss, so this check raises.
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
        return out

    def _objects(self, checkpointer: Checkpoint | None = None) -> dict[str, Any]:
        objects = dict(self._to_save)
        objects["trainer"] = self.engine
        objects["history"] = self.history
        objects["settings"] = self.settings
        if self.early_stopping is not None:
            objects["early_stopping"] = self.early_stopping
        if checkpointer is not None:
            objects["best_checkpointer"] = checkpointer
        return objects

    def last_checkpoint(self) -> Path | None:
        """The newest ``last_checkpoint_<epoch>.pt`` in `checkpoint_dir`, if any."""
        found: list[tuple[int, Path]] = []
        for path in self.checkpoint_dir.glob("last_checkpoint_*.pt"):
            match = _LAST.fullmatch(path.name)
            if match is None:
                warnings.warn(f"ignoring {path}: not a name this trainer writes", stacklevel=2)
                continue
            found.append((int(match.group(1)), path))
        return max(found)[1] if found else None

    def _resume(self, objects: dict[str, Any], last: Checkpoint) -> int:
        """Load the last checkpoint, if any and if trained with these settings; its epoch."""
        previous = self.last_checkpoint()
        if previous is None:
            return 0
        state = load_torch(previous, "training checkpoint")
        if not isinstance(state, dict) or "trainer" not in state:
            raise UserError(f"{previous} is not a checkpoint of colorlib's trainer")
        differences = self.settings.differences(state.get("settings"))
        if differences:
            raise UserError(
                f"{previous} was trained with other settings ({'; '.join(differences)}): "
                f"resuming would mix the two runs. Choose another OUT_DIR, or delete "
                f"{self.checkpoint_dir} to train afresh with the new settings."
            )
        Checkpoint.load_objects(to_load={**objects, "checkpointer": last}, checkpoint=state)
        return self.engine.state.epoch

    def fit(self, train_loader: Iterable, resume: bool = True) -> TrainResult:
        engine = self.engine
        saver = DiskSaver(self.checkpoint_dir, create_dir=True, require_empty=False, atomic=True)

        best = None
        if self.keep_best is not None:
            best = Checkpoint(
                {"model": self._to_save[self.keep_best]},
                saver,
                filename_prefix="best",
                score_function=self.keep_fn,
                score_name=f"neg_val_{self.keep_by}",
                global_step_transform=global_step_from_engine(engine),
                n_saved=1,
            )
        objects = self._objects(best)
        last = Checkpoint(objects, saver, filename_prefix="last", n_saved=1, include_self=True)
        resumed_from = self._resume(objects, last) if resume else 0

        # ignite calls set_epoch only on a DistributedSampler (contrib.engines.common); our
        # loader draws its crops from (seed, epoch), so the trainer tells it the epoch.
        @engine.on(Events.EPOCH_STARTED)
        def _reseed(engine: Engine) -> None:
            seed_everything(self.seed + engine.state.epoch)
            if isinstance(train_loader, EpochAware):
                train_loader.set_epoch(engine.state.epoch)
            self._epoch_started = time.perf_counter()

        # Epoch means of the step's losses, by ignite's own metric (attached before the history
        # handler below, so they are complete when it reads them).
        for name in self.losses:
            Average(output_transform=_pick(name)).attach(engine, f"epoch_{name}")

        @engine.on(Events.EPOCH_COMPLETED)
        def _record(engine: Engine) -> None:
            row: dict[str, float] = {"epoch": engine.state.epoch}
            row.update({k: float(engine.state.metrics[f"epoch_{k}"]) for k in self.losses})
            if self.evaluator is not None:
                self.evaluator.run(self.val_loader)
                row.update({f"val_{k}": float(v) for k, v in self.evaluator.state.metrics.items()})
            row["seconds"] = time.perf_counter() - self._epoch_started
            self.history.append(row)
            self._save_history()  # watchable during long runs

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
            ProgressBar(persist=False).attach(engine, metric_names=list(self.running))

        started = time.perf_counter()
        if resumed_from < self.max_epochs and not self._stopped_before():
            engine.run(train_loader, max_epochs=self.max_epochs)
        self._save_history()
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

    def _save_history(self) -> None:
        if self.history_file is not None and self.history.rows:
            self.history_file.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(self.history_file) as tmp:
                self.history.frame().to_csv(tmp, index=False)

    def _stopped_before(self) -> bool:
        """A run that early-stopped and was checkpointed stays stopped when rerun."""
        es = self.early_stopping
        return es is not None and es.counter >= es.patience


def _pick(name: str) -> Callable[[Mapping[str, float]], float]:
    return lambda out: out[name]


def _best_file(best: Checkpoint | None, folder: Path) -> Path | None:
    if best is None or best.last_checkpoint is None:
        return None
    # ignite's DiskSaver already prefixes its folder, which may be relative: keep the name only.
    return folder / Path(best.last_checkpoint).name


def load_best(model: nn.Module, path: str | Path) -> nn.Module:
    """Load the weights a `Trainer` kept as best (``best_model_*.pt``) into `model`."""
    model.load_state_dict(load_torch(path, "best-model checkpoint"))
    return model
