"""colorlib.distributed: 2 gloo processes train like 1 process with the same global batch, write
checkpoints from rank 0 only, and resume after being killed; the loader's shards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import photo_array
from torch import nn

from colorlib import distributed, steps
from colorlib.data import Augment, BatchLoader
from colorlib.engine import Trainer, seed_everything

EPOCHS = 3
KILLED = 3  # exit code of a rank killed after epoch 2's checkpoint


def images(n: int, seed: int) -> list[torch.Tensor]:
    return [
        torch.from_numpy(photo_array((40, 32), seed + i)).permute(2, 0, 1).contiguous()
        for i in range(n)
    ]


def train_job(local_rank: int, out: str, kill_after: int) -> None:
    """One rank's run (every rank runs it; launched by `distributed.launch`). No BatchNorm: on
    gloo each rank normalises with its own block, so only a BN-free net matches exactly."""
    seed_everything(0)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1))
    optimizer = distributed.auto_optim(torch.optim.Adam(model.parameters(), lr=1e-2))
    step = steps.supervised_step(distributed.auto_model(model), optimizer, nn.MSELoss())
    train = BatchLoader(images(6, 0), size=16, batch_size=8, samples_per_epoch=24,
                        augment=Augment(), seed=0)  # fmt: skip
    val = BatchLoader(images(3, 100), size=16, batch_size=8, train=False)

    def kill(epoch: int) -> None:
        if epoch == kill_after:
            os._exit(KILLED)  # as a killed job: no cleanup, no exception

    trainer = Trainer(
        step,
        to_save={"model": model, "optimizer": optimizer},
        checkpoint_dir=Path(out) / "checkpoints",
        max_epochs=EPOCHS,
        evaluator=steps.supervised_evaluator(model, nn.MSELoss()),
        val_loader=val,
        keep_best="model",
        on_epoch=kill,
        progress=False,
    )
    result = trainer.fit(distributed.shard(train))
    distributed.barrier()
    if distributed.rank() == 0:
        torch.save(
            {
                "weights": model.state_dict(),
                "loss": result.history["loss"].tolist(),
                "val_loss": result.history["val_loss"].tolist(),
                "resumed_from": result.resumed_from,
                "world": distributed.world_size(),
            },
            Path(out) / "result.pt",
        )


def run(out: Path, nproc: int, kill_after: int = 0) -> dict:
    distributed.launch(train_job, nproc, str(out), kill_after)
    return torch.load(out / "result.pt", weights_only=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    return run(tmp_path_factory.mktemp("one"), 1)


def same_weights(a: dict, b: dict) -> None:
    for name in a["weights"]:
        torch.testing.assert_close(a["weights"][name], b["weights"][name], atol=1e-5, rtol=1e-4)


def test_two_processes_train_like_one_with_the_same_global_batch(single, tmp_path):
    two = run(tmp_path, 2)
    assert two["world"] == 2 and single["world"] == 1
    same_weights(two, single)
    # The epoch means are reduced over both ranks: the one process's numbers.
    assert two["loss"] == pytest.approx(single["loss"], rel=1e-4)
    assert two["val_loss"] == pytest.approx(single["val_loss"], rel=1e-4)
    # Rank 0 alone wrote the checkpoints: one last, one best.
    names = sorted(p.name.split("_")[0] for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best", "last"]


def test_a_killed_two_process_run_resumes(single, tmp_path):
    with pytest.raises(Exception, match=f"exit code {KILLED}|exitcode|exited"):
        run(tmp_path, 2, kill_after=2)
    assert not (tmp_path / "result.pt").exists()
    # Named by iteration: epoch 2 of 3 batches each.
    assert [p.name for p in (tmp_path / "checkpoints").glob("last_*")] == ["last_checkpoint_6.pt"]
    resumed = run(tmp_path, 2)
    assert resumed["resumed_from"] == 2
    same_weights(resumed, single)
    assert resumed["loss"] == pytest.approx(single["loss"], rel=1e-4)


def test_shards_of_a_batch_are_the_one_process_batch():
    whole = BatchLoader(images(5, 0), size=16, batch_size=4, samples_per_epoch=12,
                        augment=Augment(), seed=1)  # fmt: skip
    parts = []
    for rank in (0, 1):
        part = BatchLoader(images(5, 0), size=16, batch_size=4, samples_per_epoch=12,
                           augment=Augment(), seed=1, shard=(rank, 2))  # fmt: skip
        assert len(part) == len(whole)
        parts.append(list(part))
    for batch, a, b in zip(whole, *parts, strict=True):
        assert a["rgb"].shape[0] == 2
        assert torch.equal(torch.cat([a["rgb"], b["rgb"]]), batch["rgb"])
    with pytest.raises(ValueError, match="shard"):
        BatchLoader(images(5, 0), size=16, batch_size=3, shard=(0, 2))


@pytest.mark.slow
def test_notebook_03_runs_unchanged_under_torchrun(tmp_path):
    """scripts/distributed_notebook.py under torchrun, 2 gloo ranks: each rank's kernel inherits
    torchrun's RANK, WORLD_SIZE and MASTER_* and joins the group in `workflow.start`."""
    repo = Path(__file__).resolve().parents[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2",
           repo / "scripts" / "distributed_notebook.py",
           repo / "notebooks" / "03_colornet_early_stopping.ipynb",
           "--profile", "smoke", "--device", "cpu", "--out-dir", tmp_path]  # fmt: skip
    env = {**os.environ, "COLORLIB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = [str(c) for c in cmd]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    run = tmp_path / "03_colornet_early_stopping"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["methods"]["colornet"]["epochs_run"] == 2
    # Rank 0 alone wrote the run folder (checkpoints included); rank 1 ran the whole notebook
    # too, into a scratch folder of its own.
    checkpoints = sorted(p.name for p in (run / "colornet" / "checkpoints").iterdir())
    assert [name.split("_")[0] for name in checkpoints] == ["best", "last"]
    executed = (tmp_path / "03_colornet_early_stopping.ipynb").read_text()
    assert str(run / "metrics.json") in executed
