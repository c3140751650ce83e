"""The notebook workflow end to end on a tiny folder: split, train, score, record, metrics.json,
and every file of the run folder declared by `colorlib.runs`."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from colorlib import data, runs, viz, workflow
from colorlib.errors import UserError
from colorlib.losses import GANLoss
from colorlib.modelfile import ModelSpec, load_model
from colorlib.models import define_D, define_G


@pytest.fixture()
def photos(tmp_path, make_photo):
    folder = tmp_path / "photos"
    for i in range(10):
        make_photo(folder / f"img{i:02d}.png", size=(64, 48), seed=i)
    return folder


def start(photos, out, settings_name="colornet", **overrides):
    return workflow.start(
        "03_test",
        settings_name=settings_name,
        profile="smoke",
        dataset=str(photos),
        seed=1,
        out_dir=out,
        data_root=photos.parent,
        overrides=overrides,
    )


def assert_every_file_declared(folder):
    files = runs.RunFolder(folder).files()
    assert files, "the run wrote nothing"
    undeclared = [f for f in files if not runs.declared(f)]
    assert not undeclared, f"files the run-folder layout does not declare: {undeclared}"


def test_experiment_trains_scores_records_and_writes_metrics(tmp_path, photos):
    exp = start(photos, tmp_path / "run")
    sizes = exp.summary()["images"].to_dict()
    assert sizes == {"train": 8, "val": 1, "test": 1} and sum(sizes.values()) == 10
    model = define_G("colornet", widths=[4, 8], activation="sigmoid")
    spec = ModelSpec.of(model, method="colornet", io="unit", size=32)
    assert (spec.arch, spec.kwargs) == ("colornet", {"widths": [4, 8], "activation": "sigmoid"})
    result = workflow.fit_supervised(
        exp, model, spec, loss_fn=nn.MSELoss(), lr=0.01, epochs=2, patience=1, progress=False
    )
    assert result.epochs_run in (1, 2)
    scores = exp.score(model, spec)
    assert set(scores.metrics) >= {"psnr", "ssim", "ciede2000", "colourfulness", "auc"}
    entry = exp.record(spec, model, scores, result, title="ColorNet", source="s", account="a")
    # The weights kept are those of the epoch with the lowest validation CIEDE2000.
    history = result.history.set_index("epoch")
    assert entry["kept_epoch"] == workflow.kept_epoch(result) == history["val_ciede2000"].idxmin()
    assert entry["kept_by"] == "lowest validation CIEDE2000"
    assert entry["per_image"]["names"] == exp.names("test")
    assert len(entry["per_image"]["ciede2000"]) == 1
    assert entry["per_image"]["ciede2000"][0] == pytest.approx(scores.metrics["ciede2000"])
    photos_elsewhere = entry["out_of_domain"]["per_image"]["names"]
    assert photos_elsewhere == [
        "astronaut",
        "chelsea",
        "coffee",
        "rocket",
        "motorcycle",
        "grace_hopper",
    ]
    _, loaded_spec = load_model(tmp_path / "run" / entry["checkpoint"])
    assert loaded_spec == spec
    assert len(exp.previews("colornet")) == 1 and len(exp.previews("ground_truth")) == 1
    exp.run.figure(
        viz.loss_curves(result.history, ["loss", "val_loss"]),
        "colornet_loss",
        method="colornet",
        caption="losses",
    )
    payload = exp.finish(note="x")
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["methods"]["colornet"]["metrics"] == payload["methods"]["colornet"]["metrics"]
    assert on_disk["methods"]["colornet"]["title"] == "ColorNet"
    assert on_disk["figures"]["colornet_loss"] == {
        "file": "figures/colornet_loss.png",
        "caption": "losses",
        "method": "colornet",
        "photo": False,
    }
    assert on_disk["split"]["test"] == exp.names("test")
    assert {"gray", "mean_ab"} <= set(on_disk["baselines"])
    assert on_disk["baselines_per_image"]["gray"]["names"] == exp.names("test")
    assert set(on_disk["out_of_domain_baselines"]) == {"gray", "mean_ab"}
    assert on_disk["environment"]["torch"] == torch.__version__
    assert on_disk["profile"] == "smoke" and on_disk["note"] == "x"
    # history.csv is written by the trainer alone, once per epoch.
    history = (tmp_path / "run" / "colornet" / "history.csv").read_text()
    assert history.count("\n") == result.epochs_run + 1
    assert_every_file_declared(tmp_path / "run")


def test_store_keeps_the_images_on_disk_and_the_notebook_code_trains_unchanged(tmp_path, photos):
    """OVERRIDES {"store": true}: the set larger than memory stays in the disk store at the
    training size; the same split, and the same notebook calls train and score."""
    in_memory = start(photos, tmp_path / "memory")
    exp = start(photos, tmp_path / "stored", store=True)
    assert exp.cfg["store"] is True and isinstance(exp.images.images, data.StoredImages)
    assert [exp.names(p) for p in ("train", "val", "test")] == [
        in_memory.names(p) for p in ("train", "val", "test")
    ]
    train = exp.part("train")
    assert isinstance(train, data.StoredImages) and len(train) == 8
    assert min(train[0].shape[-2:]) == exp.cfg["size"]  # short side stored at the training size
    assert list((photos.parent / ".cache").glob("*.store"))
    model = define_G("colornet", widths=[4, 8], activation="sigmoid")
    spec = ModelSpec.of(model, method="colornet", io="unit", size=exp.cfg["size"])
    result = workflow.fit_supervised(
        exp, model, spec, loss_fn=nn.MSELoss(), lr=0.01, epochs=1, patience=1, progress=False
    )
    assert result.epochs_run == 1
    assert 0 < exp.score(model, spec, out_of_domain=False).metrics["ciede2000"] < 100


def test_fit_gan_trains_g_and_d_and_snapshots_on_a_tiny_folder(tmp_path, photos):
    exp = start(photos, tmp_path / "run", settings_name="pix2pix")
    G = define_G("unet", in_channels=1, out_channels=2, ngf=4, image_size=32)
    D = define_D("patchgan", in_channels=3, ndf=4, n_layers=2)
    spec = ModelSpec.of(G, method="pix2pix_lab", io="lab", size=32, batch_stats=True)
    d_before = [p.detach().clone() for p in D.parameters()]
    result = workflow.fit_gan(
        exp, G, D, spec, gan_loss=GANLoss("vanilla"), lr=2e-4, epochs=2, snapshot_every=1,
        progress=False,
    )  # fmt: skip
    assert result.epochs_run == 2
    assert {"loss_D", "loss_G_GAN", "loss_G_pixel", "val_loss"} <= set(result.history.columns)
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters(), strict=True))
    assert sorted(exp.run.snapshot_files("pix2pix_lab")) == [1, 2]
    entry = exp.record(spec, G, exp.score(G, spec), result, title="P", source="s", account="a")
    # A GAN keeps its best epoch too, by validation colour error, not its last.
    assert entry["kept_epoch"] == result.history.set_index("epoch")["val_ciede2000"].idxmin()
    exp.finish()
    assert_every_file_declared(tmp_path / "run")


def test_rerunning_with_changed_settings_into_the_same_folder_is_refused(tmp_path, photos):
    def train(exp, lr):
        model = define_G("colornet", widths=[4, 8], activation="sigmoid")
        spec = ModelSpec.of(model, method="colornet", io="unit", size=32)
        return workflow.fit_supervised(
            exp, model, spec, loss_fn=nn.MSELoss(), lr=lr, epochs=1, progress=False
        )

    train(start(photos, tmp_path / "run"), lr=0.01)
    with pytest.raises(UserError, match=r"training.lr: 0.01 -> 0.02"):
        train(start(photos, tmp_path / "run"), lr=0.02)
    with pytest.raises(UserError, match=r"settings.batch_size: 8 -> 4"):
        train(start(photos, tmp_path / "run", batch_size=4), lr=0.01)
    assert train(start(photos, tmp_path / "run"), lr=0.01).resumed_from == 1


def test_layout_declares_what_runs_write_and_nothing_else():
    assert runs.declared("metrics.json")
    assert runs.declared("pix2pix_lab/checkpoints/last_checkpoint_120.pt")
    assert runs.declared("pix2pix_lab/checkpoints/best_model_3_neg_val_loss=-0.0838.pt")
    assert runs.declared("sa_cgan/snapshots/epoch_007.png")
    assert runs.declared("predictions/gray/kodim01.jpg")
    assert not runs.declared("colornet.csv")  # tables live in tables/
    assert not runs.declared("pix2pix_lab/history.csv.bak")
    assert not runs.declared("pix2pix_lab/checkpoints/last_checkpoint_x.pt")


def test_fit_runs_a_step_written_by_hand(tmp_path, photos):
    """What notebook 04 does: its own step closure, handed to the engine."""
    exp = start(photos, tmp_path / "run")
    model = define_G("colornet", widths=[4, 8], activation="sigmoid")
    spec = ModelSpec.of(model, method="colornet", io="unit", size=32)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    calls = []

    def step(batch):
        x, y = spec.convention.pair(batch)
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        calls.append(1)
        return {"mse": loss.item(), "twice": 2 * loss.item()}

    result = workflow.fit(
        exp, model, spec, step, losses=("mse", "twice"), to_save={"model": model},
        val_loss=nn.MSELoss(), epochs=2, settings={"lr": 0.1}, running=("mse",), progress=False,
    )  # fmt: skip
    assert len(calls) == 2 * len(exp.loader("train"))
    assert list(result.history["twice"]) == pytest.approx(list(2 * result.history["mse"]))
    assert {"val_loss", "seconds"} <= set(result.history.columns)
