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
from colorlib.errors import UserError
from colorlib.losses import GANLoss

EPOCHS = 3
KILLED = 3  # exit code of a rank killed after epoch 2's checkpoint


def images(n: int, seed: int) -> list[torch.Tensor]:
    return [
        torch.from_numpy(photo_array((40, 32), seed + i)).permute(2, 0, 1).contiguous()
        for i in range(n)
    ]


def nets_and_step(kind: str) -> tuple[nn.Module, dict, steps.Step]:
    """(the net that colorizes, everything to checkpoint, the step) of one `kind`: "supervised",
    "gan" (as `workflow.fit_gan` builds it), or "unwrapped" (a GAN step of a notebook's own
    that never wraps its nets). Small nets without BatchNorm or dropout: on gloo each rank
    normalises with its own block, so only such nets match the one process exactly."""
    seed_everything(0)
    G = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 2, 3, padding=1))
    if kind == "supervised":
        optimizer = distributed.auto_optim(torch.optim.Adam(G.parameters(), lr=1e-2))
        step = steps.supervised_step(distributed.auto_model(G), optimizer, nn.MSELoss())
        return G, {"model": G, "optimizer": optimizer}, step
    D = nn.Sequential(nn.Conv2d(3, 8, 4, stride=2), nn.LeakyReLU(0.2), nn.Conv2d(8, 1, 3))
    opt_G = torch.optim.Adam(G.parameters(), lr=1e-2, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=1e-2, betas=(0.5, 0.999))
    wrap = distributed.auto_model if kind == "gan" else (lambda net: net)
    # g_every 2: every other step leaves G alone, which a wrapped G must survive too.
    step = steps.gan_step(wrap(G), wrap(D), opt_G, opt_D, GANLoss("lsgan"), g_every=2)
    return G, {"model": G, "D": D, "opt_G": opt_G, "opt_D": opt_D}, step


def train_job(local_rank: int, out: str, kind: str, kill_after: int) -> None:
    """One rank's run (every rank runs it; launched by `distributed.launch`)."""
    model, to_save, step = nets_and_step(kind)
    train = BatchLoader(images(6, 0), size=16, batch_size=8, samples_per_epoch=24,
                        augment=Augment(), seed=0)  # fmt: skip
    val = BatchLoader(images(3, 100), size=16, batch_size=8, train=False)

    def kill(epoch: int) -> None:
        if epoch == kill_after:
            os._exit(KILLED)  # as a killed job: no cleanup, no exception

    trainer = Trainer(
        step,
        losses=("loss",) if kind == "supervised" else steps.GAN_LOSSES,
        to_save=to_save,
        checkpoint_dir=Path(out) / "checkpoints",
        max_epochs=EPOCHS,
        evaluator=steps.supervised_evaluator(model, nn.MSELoss()),
        val_loader=val,
        keep_best="model",
        on_epoch=kill,
        running=(),
        progress=False,
    )
    try:
        result = distributed.fit(trainer, train, [n for n in to_save.values()
                                                   if isinstance(n, nn.Module)])  # fmt: skip
    except UserError as exc:
        (Path(out) / f"error{distributed.rank()}.txt").write_text(str(exc))
        return
    if distributed.rank() == 0:
        loss = "loss" if kind == "supervised" else "loss_G"
        torch.save(
            {
                "weights": {
                    f"{k}.{n}": v
                    for k, net in to_save.items()
                    if isinstance(net, nn.Module)
                    for n, v in net.state_dict().items()
                },  # fmt: skip
                "loss": result.history[loss].tolist(),
                "val_loss": result.history["val_loss"].tolist(),
                "resumed_from": result.resumed_from,
                "world": distributed.world_size(),
            },
            Path(out) / "result.pt",
        )


def run(out: Path, nproc: int, kind: str, kill_after: int = 0) -> dict:
    distributed.launch(train_job, nproc, str(out), kind, kill_after)
    return torch.load(out / "result.pt", weights_only=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> dict:
    """The one-process run of each kind, made when first asked for."""
    made: dict[str, dict] = {}

    def of(kind: str) -> dict:
        if kind not in made:
            made[kind] = run(tmp_path_factory.mktemp(f"one-{kind}"), 1, kind)
        return made[kind]

    return of


def same_weights(a: dict, b: dict) -> None:
    assert a["weights"].keys() == b["weights"].keys()
    for name in a["weights"]:
        torch.testing.assert_close(a["weights"][name], b["weights"][name], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("kind", ["supervised", "gan"])
def test_two_processes_train_like_one_with_the_same_global_batch(single, tmp_path, kind):
    two, one = run(tmp_path, 2, kind), single(kind)
    assert two["world"] == 2 and one["world"] == 1
    same_weights(two, one)
    # The epoch means are reduced over both ranks: the one process's numbers.
    assert two["loss"] == pytest.approx(one["loss"], rel=1e-4)
    assert two["val_loss"] == pytest.approx(one["val_loss"], rel=1e-4)
    # Rank 0 alone wrote the checkpoints: one last, one best.
    names = sorted(p.name.split("_")[0] for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["best", "last"]


@pytest.mark.parametrize("kind", ["supervised", "gan"])
def test_a_killed_two_process_run_resumes(single, tmp_path, kind):
    with pytest.raises(Exception, match=f"exit code {KILLED}|exitcode|exited"):
        run(tmp_path, 2, kind, kill_after=2)
    assert not (tmp_path / "result.pt").exists()
    # Named by iteration: epoch 2 of 3 batches each.
    assert [p.name for p in (tmp_path / "checkpoints").glob("last_*")] == ["last_checkpoint_6.pt"]
    resumed = run(tmp_path, 2, kind)
    assert resumed["resumed_from"] == 2
    same_weights(resumed, single(kind))
    assert resumed["loss"] == pytest.approx(single(kind)["loss"], rel=1e-4)


def test_a_step_that_does_not_wrap_its_nets_stops_after_one_step(single, tmp_path):
    distributed.launch(train_job, 2, str(tmp_path), "unwrapped", 0)
    # Both ranks stop with the same one-line message, before any checkpoint is written.
    errors = [(tmp_path / f"error{r}.txt").read_text() for r in (0, 1)]
    assert errors[0] == errors[1] and "distributed.auto_model" in errors[0]
    assert not (tmp_path / "checkpoints").exists() or not any((tmp_path / "checkpoints").iterdir())
    # In one process the same step trains as usual.
    assert single("unwrapped")["world"] == 1


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
@pytest.mark.parametrize(
    ("notebook", "method", "epochs"),
    [("03_colornet_early_stopping", "colornet", 2), ("05_pix2pix", "pix2pix_lab", 1)],
)
def test_a_notebook_runs_unchanged_under_torchrun(tmp_path, notebook, method, epochs):
    """scripts/distributed_notebook.py under torchrun, 2 gloo ranks: each rank's kernel inherits
    torchrun's RANK, WORLD_SIZE and MASTER_* and joins the group in `workflow.start`. 03 trains
    with `fit_supervised`, 05 with `fit_gan`."""
    repo = Path(__file__).resolve().parents[1]
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [torchrun, "--standalone", "--nproc_per_node", "2",
           repo / "scripts" / "distributed_notebook.py", repo / "notebooks" / f"{notebook}.ipynb",
           "--profile", "smoke", "--device", "cpu", "--out-dir", tmp_path]  # fmt: skip
    env = {**os.environ, "COLORLIB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    args = [str(c) for c in cmd]
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    run = tmp_path / notebook
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["methods"][method]["epochs_run"] == epochs
    # Rank 0 alone wrote the run folder (checkpoints included); rank 1 ran the whole notebook
    # too, into a scratch folder of its own.
    checkpoints = sorted(p.name for p in (run / method / "checkpoints").iterdir())
    assert [name.split("_")[0] for name in checkpoints] == ["best", "last"]
    executed = (tmp_path / f"{notebook}.ipynb").read_text()
    assert str(run / "metrics.json") in executed
