"""Training on several processes (GPUs, or CPU processes with gloo) with `ignite.distributed`.

The same notebook code runs as one process or as N launched by ``torchrun`` (one per GPU; see
scripts/hipergator_multigpu.sbatch). Under a launcher, `join` makes each process a rank of the
process group (NCCL on GPUs, gloo on the CPU) on its own GPU; `auto_model` wraps the net in
DistributedDataParallel, which averages the gradients; `shard` makes each rank draw the same
global batches as one process would and keep its block of every one, so N ranks train like one
process with the same global batch. Rank 0 alone writes the run folder and the checkpoints
(ignite's DiskSaver writes on rank 0); the other ranks write into a private scratch folder
(`RankRun`) and read the checkpoints from the real one, so a rerun resumes on every rank. The
epoch means of the losses and the validation metrics are ignite metrics, reduced over the ranks.

`launch` starts N local processes itself (ignite's `idist.Parallel`): the tests and benchmarks.
Nothing here runs, or costs anything, in a single process.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events
from torch import nn

from colorlib.errors import UserError
from colorlib.runs import Run, RunFolder


def rank() -> int:
    return idist.get_rank()


def world_size() -> int:
    return idist.get_world_size()


def launched() -> bool:
    """Started by torchrun (or another launcher setting WORLD_SIZE) as one of several ranks."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def join(device: torch.device) -> torch.device:
    """Join the launcher's process group, once, and return this rank's device: its own GPU
    (LOCAL_RANK) when `device` is CUDA, else `device`. In a single process: `device`."""
    if launched() and world_size() == 1:
        idist.initialize("nccl" if device.type == "cuda" else "gloo")
    if world_size() > 1 and device.type == "cuda":
        return idist.device()
    return device


def launch(fn: Callable[..., Any], nproc: int, *args: Any, backend: str = "gloo") -> None:
    """Run ``fn(local_rank, *args)`` in `nproc` new processes forming one process group (or in
    this process when `nproc` is 1)."""
    if nproc == 1:
        fn(0, *args)
        return
    with idist.Parallel(backend=backend, nproc_per_node=nproc) as parallel:
        parallel.run(fn, *args)


def auto_model(model: nn.Module) -> nn.Module:
    """`model` for the training step: wrapped in DistributedDataParallel under several ranks
    (BatchNorm synchronised on GPUs, so N GPUs see the statistics of the global batch; gloo has
    no SyncBatchNorm, so CPU ranks normalise with their own block), else `model` itself. Keep
    checkpointing and evaluating `model`: the wrapper shares its parameters."""
    if world_size() == 1:
        return model
    return idist.auto_model(model, sync_bn=idist.backend() == "nccl")


def auto_optim(optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """`optimizer` as ignite adapts it (unchanged for torch's own backends)."""
    return optimizer if world_size() == 1 else idist.auto_optim(optimizer)


def shard(loader: Any) -> Any:
    """A copy of a training `BatchLoader` that yields this rank's block of every global batch
    (the loader itself in a single process)."""
    n = world_size()
    if n == 1:
        return loader
    if loader.batch_size % n:
        raise UserError(
            f"batch_size {loader.batch_size} does not split evenly over {n} processes: pass "
            f'OVERRIDES {{"batch_size": N}} with N a multiple of {n}'
        )
    out = copy.copy(loader)
    out.shard = (rank(), n)
    return out


def fit(trainer: Any, loader: Any, nets: Sequence[nn.Module] = ()) -> Any:
    """`trainer.fit` on this rank's shard of `loader`; returns once every rank is done, so the
    checkpoints rank 0 wrote can be read by all. `nets`: the networks the step trains, checked
    to be the same on every rank after the first step (`check_in_step`)."""
    if nets:
        check_in_step(trainer.engine, nets)
    result = trainer.fit(shard(loader))
    barrier()
    return result


def check_in_step(engine: Engine, nets: Sequence[nn.Module]) -> None:
    """After `engine`'s first step, stop with one line if the ranks' `nets` differ: a step that
    updates nets not wrapped by `auto_model` trains one unsynchronised copy per process, each on
    its own shard, and would quietly report rank 0's. Nothing in a single process."""
    if world_size() == 1:
        return

    @engine.on(Events.ITERATION_COMPLETED)
    def _compare(engine: Engine) -> None:
        engine.remove_event_handler(_compare, Events.ITERATION_COMPLETED)  # once
        sums = torch.stack([p.detach().double().sum() for net in nets for p in net.parameters()])
        every = idist.all_gather(sums).reshape(world_size(), -1)  # the same on every rank
        if not torch.allclose(every, every[0].expand_as(every), rtol=1e-6, atol=1e-9):
            raise UserError(
                "the training step left different weights on each process: a step of your own "
                "must update the nets wrapped by colorlib.distributed.auto_model (as "
                "workflow.fit_supervised and fit_gan do), or run in one process, without torchrun"
            )


def same_on_every_rank(evaluator: Engine, model: nn.Module) -> Engine:
    """`evaluator`, made to score rank 0's `model` on every rank: its buffers (BatchNorm running
    statistics, which each CPU rank updates with its own block) are copied from rank 0 first, so
    every rank measures the same numbers and takes the same early-stopping and best-epoch
    decisions. Each rank scores the whole validation set."""
    if world_size() > 1:

        @evaluator.on(Events.STARTED)
        def _copy_buffers(_: Engine) -> None:
            for buffer in model.buffers():
                buffer.copy_(idist.broadcast(buffer, src=0))

    return evaluator


def barrier() -> None:
    """Wait for every rank (after training: rank 0 has written the checkpoints the others read)."""
    if world_size() > 1:
        idist.barrier()


class RankRun(Run):
    """The run folder of a rank other than 0: everything it writes goes to a private scratch
    folder (removed when the process ends), while checkpoints are read from, and written by rank
    0 to, the real folder `out_dir`."""

    def __init__(self, out_dir: str | Path, notebook: str, **facts: Any) -> None:
        self.shared = RunFolder(out_dir)
        scratch = tempfile.mkdtemp(prefix=f"colorlib-rank{rank()}-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        super().__init__(scratch, notebook, **facts)

    def checkpoint_dir(self, method: str) -> Path:
        return self.shared.checkpoint_dir(method)


def run_for_rank(out_dir: str | Path, notebook: str, **facts: Any) -> Run:
    """The run folder this rank writes: the real one on rank 0 (and in a single process)."""
    cls = Run if rank() == 0 else RankRun
    return cls(out_dir, notebook, **facts)
