"""The training engine: resume, NaN detection, early stopping, history, best checkpoint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from colorlib import color
from colorlib.engine import NonFiniteLossError, Trainer, load_best
from colorlib.errors import UserError
from colorlib.steps import GAN_LOSSES, gan_step, supervised_evaluator, supervised_step


class ToyLoader:
    """Batches of (L, ab) that depend on the epoch, like colorlib's BatchLoader."""

    def __init__(self, n_batches: int = 4, seed: int = 0) -> None:
        self.n_batches, self.seed, self.epoch = n_batches, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self):
        g = torch.Generator().manual_seed(self.seed * 1000 + self.epoch)
        for _ in range(self.n_batches):
            L = torch.rand(4, 1, 8, 8, generator=g) * 2 - 1
            ab = 0.3 * L.repeat(1, 2, 1, 1) + 0.1
            yield {"L": L, "ab": ab, "rgb": color.model_output_to_rgb(L, ab)}


def make_net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    # Dropout makes the result depend on the global RNG, which resume must restore.
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Dropout(0.2), nn.Conv2d(4, 2, 1))


def make_trainer(net, run_dir, max_epochs, lr=1e-2, **kwargs) -> Trainer:
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    step = supervised_step(net, opt, nn.MSELoss())
    return Trainer(
        step,
        to_save={"model": net, "optimizer": opt},
        checkpoint_dir=run_dir / "checkpoints",
        history_file=run_dir / "history.csv",
        settings={"lr": lr, "net": "toy"},
        max_epochs=max_epochs,
        seed=3,
        progress=False,
        **kwargs,
    )


def test_interrupted_run_resumes_to_the_same_result(tmp_path):
    straight = make_net()
    result = make_trainer(straight, tmp_path / "straight", 4).fit(ToyLoader())
    assert result.epochs_run == 4 and result.resumed_from == 0

    # Simulate a kill after epoch 2: a first process runs 2 epochs, a second one (fresh
    # objects, same run folder) is asked for 4 and must pick up at epoch 3.
    make_trainer(make_net(), tmp_path / "resumed", 2).fit(ToyLoader())
    net = make_net(seed=99)  # different init: everything must come from the checkpoint
    resumed = make_trainer(net, tmp_path / "resumed", 4).fit(ToyLoader())
    assert resumed.resumed_from == 2
    assert resumed.epochs_run == 4
    for a, b in zip(straight.state_dict().values(), net.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    pd_straight = result.history.drop(columns="seconds")
    pd_resumed = resumed.history.drop(columns="seconds")
    assert pd_straight.equals(pd_resumed)
    # Only one 'last' checkpoint is kept.
    assert len(list((tmp_path / "resumed" / "checkpoints").glob("last_checkpoint_*.pt"))) == 1
    assert (tmp_path / "resumed" / "history.csv").read_text().count("\n") == 5


def test_nan_loss_stops_with_a_clear_message(tmp_path):
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    calls = {"n": 0}

    def loss_fn(pred, target):
        calls["n"] += 1
        loss = nn.functional.mse_loss(pred, target)
        return loss * float("nan") if calls["n"] == 6 else loss

    trainer = Trainer(
        supervised_step(net, opt, loss_fn),
        to_save={"model": net, "optimizer": opt},
        checkpoint_dir=tmp_path / "checkpoints",
        max_epochs=3,
        progress=False,
    )
    with pytest.raises(NonFiniteLossError, match=r"loss 'loss' became nan at epoch 2, iteration 6"):
        trainer.fit(ToyLoader())
    # The epoch-1 checkpoint survives and the failed epoch wrote nothing.
    assert [p.name for p in (tmp_path / "checkpoints").glob("last_*")] == ["last_checkpoint_4.pt"]


class WorseningEvaluatorLoader(ToyLoader):
    """A validation set whose targets drift each epoch, so the val loss rises after epoch 1."""

    calls = 0

    def __iter__(self):
        self.calls += 1
        drift = 5.0 * (self.calls - 1)
        for batch in super().__iter__():
            yield {**batch, "ab": batch["ab"] + drift}


def test_early_stopping_stops_after_patience_and_keeps_best(tmp_path):
    net = make_net()
    val = WorseningEvaluatorLoader(n_batches=1, seed=7)
    trainer = make_trainer(
        net,
        tmp_path,
        20,
        evaluator=supervised_evaluator(net, nn.MSELoss()),
        val_loader=val,
        patience=2,
        keep_best="model",
    )
    result = trainer.fit(ToyLoader())
    # Best at epoch 1, then two epochs without improvement: stop after epoch 3.
    assert result.epochs_run == 3
    assert result.stopped_early
    assert list(result.history["val_loss"]) == sorted(result.history["val_loss"])
    assert result.best_checkpoint is not None and "best_model_1_" in result.best_checkpoint.name
    load_best(make_net(1), result.best_checkpoint)
    # Rerunning a stopped run does not train further.
    again = make_trainer(
        make_net(),
        tmp_path,
        20,
        evaluator=supervised_evaluator(net, nn.MSELoss()),
        val_loader=val,
        patience=2,
        keep_best="model",
    ).fit(ToyLoader())
    assert again.epochs_run == 3 and again.resumed_from == 3


class Scripted:
    """An evaluator whose metrics follow a script, one value per epoch."""

    def __init__(self, **script: list[float]) -> None:
        from ignite.engine import Engine, Events

        self.engine = Engine(lambda engine, batch: None)
        self.calls = 0

        @self.engine.on(Events.COMPLETED)
        def _fill(engine):
            engine.state.metrics.update({k: v[self.calls] for k, v in script.items()})
            self.calls += 1


def test_the_best_weights_follow_keep_by_while_stopping_follows_score(tmp_path):
    """ColorNet's set-up: stop on the validation loss, keep the lowest colour error."""
    net = make_net()
    scripted = Scripted(loss=[5.0, 1.0, 2.0, 3.0, 4.0], ciede2000=[9.0, 8.0, 7.0, 6.0, 9.5])
    result = make_trainer(
        net, tmp_path, 20, evaluator=scripted.engine, val_loader=[0], patience=3,
        keep_best="model", keep_by="ciede2000",
    ).fit(ToyLoader())  # fmt: skip
    assert result.epochs_run == 5  # loss best at epoch 2, three epochs without improvement
    assert "best_model_4_" in result.best_checkpoint.name  # colour error lowest at epoch 4
    assert list(result.history["val_ciede2000"]) == [9.0, 8.0, 7.0, 6.0, 9.5]


def test_supervised_evaluator_measures_the_colour_of_what_the_net_outputs():
    """A net that returns the true a*b* has no colour error; a gray one has some."""
    batch = next(iter(ToyLoader(n_batches=1)))

    class Truth(nn.Module):
        def forward(self, x):
            return batch["ab"]

    class Gray(nn.Module):
        def forward(self, x):
            return torch.zeros_like(batch["ab"])

    errors = {}
    for net in (Truth(), Gray()):
        evaluator = supervised_evaluator(net, nn.MSELoss())
        evaluator.run([batch])
        errors[type(net).__name__] = evaluator.state.metrics["ciede2000"]
    assert errors["Truth"] < 0.05 < 1.0 < errors["Gray"]


def test_trainer_rejects_inconsistent_arguments(tmp_path):
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    step = supervised_step(net, opt, nn.MSELoss())
    with pytest.raises(ValueError, match="max_epochs"):
        Trainer(step, to_save={"model": net}, checkpoint_dir=tmp_path, max_epochs=0)
    with pytest.raises(ValueError, match="patience needs an evaluator"):
        Trainer(step, to_save={"model": net}, checkpoint_dir=tmp_path, max_epochs=2, patience=3)


def test_gan_step_updates_d_then_g_and_reports_every_loss():
    from colorlib.losses import GANLoss

    torch.manual_seed(0)
    G = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh())
    D = nn.Sequential(nn.Conv2d(3, 1, 3, padding=1))
    opt_G = torch.optim.SGD(G.parameters(), lr=0.1)
    opt_D = torch.optim.SGD(D.parameters(), lr=0.1)
    step = gan_step(
        G,
        D,
        opt_G,
        opt_D,
        GANLoss("vanilla"),
        lambda_pixel=100.0,
        g_every=2,
        perceptual=lambda x, fake, real: (fake - real).abs().mean(),
        lambda_perceptual=10.0,
    )
    batch = next(iter(ToyLoader(n_batches=1)))
    g0 = [p.clone() for p in G.parameters()]
    d0 = [p.clone() for p in D.parameters()]
    out = step(batch)
    assert set(out) == {*GAN_LOSSES, "loss_G_perceptual"}
    assert out["loss_G"] == pytest.approx(
        out["loss_G_GAN"] + 100 * out["loss_G_pixel"] + 10 * out["loss_G_perceptual"], rel=1e-5
    )
    assert any(not torch.equal(a, b) for a, b in zip(g0, G.parameters(), strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(d0, D.parameters(), strict=True))
    assert all(p.requires_grad for p in D.parameters())  # D is unfrozen again
    # g_every=2: the second step updates D only.
    g1 = [p.clone() for p in G.parameters()]
    step(batch)
    assert all(torch.equal(a, b) for a, b in zip(g1, G.parameters(), strict=True))


def test_history_holds_the_epoch_means_of_the_step_losses(tmp_path):
    seen: list[float] = []
    net = make_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.0)

    def step(batch):
        value = float(len(seen))  # 0, 1, 2, ... so each epoch's mean is known
        seen.append(value)
        return {"loss": value, "other": 2 * value}

    trainer = Trainer(
        step,
        losses=("loss", "other"),
        to_save={"model": net, "optimizer": opt},
        checkpoint_dir=tmp_path,
        max_epochs=2,
        progress=False,
    )
    history = trainer.fit(ToyLoader(n_batches=4)).history
    assert list(history["loss"]) == [1.5, 5.5]  # means of 0..3 and 4..7
    assert list(history["other"]) == [3.0, 11.0]


def test_resuming_under_other_settings_is_refused_naming_both(tmp_path):
    make_trainer(make_net(), tmp_path, 1).fit(ToyLoader())
    with pytest.raises(UserError, match=r"lr: 0.01 -> 0.5") as info:
        make_trainer(make_net(), tmp_path, 2, lr=0.5).fit(ToyLoader())
    assert "last_checkpoint_4.pt" in str(info.value) and "\n" not in str(info.value)
    # The same settings resume as before.
    assert make_trainer(make_net(), tmp_path, 2).fit(ToyLoader()).resumed_from == 1


def test_a_truncated_checkpoint_is_named_and_an_odd_name_ignored(tmp_path):
    make_trainer(make_net(), tmp_path, 1).fit(ToyLoader())
    [last] = (tmp_path / "checkpoints").glob("last_checkpoint_*.pt")
    (tmp_path / "checkpoints" / "last_checkpoint_copy.pt").write_bytes(b"stray")
    last.write_bytes(last.read_bytes()[:200])
    with pytest.warns(UserWarning, match="last_checkpoint_copy.pt"):
        with pytest.raises(UserError, match=r"last_checkpoint_4\.pt is unreadable"):
            make_trainer(make_net(), tmp_path, 2).fit(ToyLoader())
