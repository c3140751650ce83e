"""The notebook workflow end to end on a tiny folder: split, train, record, metrics.json."""

from __future__ import annotations

import json

import torch
from PIL import Image
from torch import nn

from colorlib import inference, workflow
from colorlib.models import define_G


def tiny_dataset(folder, n=10):
    folder.mkdir()
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        small = torch.rand(1, 3, 4, 4, generator=g)
        big = torch.nn.functional.interpolate(small, size=(48, 64), mode="bilinear")[0]
        arr = (big * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(folder / f"img{i:02d}.png")
    return folder


def test_experiment_trains_records_and_writes_metrics(tmp_path):
    data = tiny_dataset(tmp_path / "photos")
    exp = workflow.start(
        "03_test",
        settings_name="colornet",
        profile="smoke",
        dataset=str(data),
        seed=1,
        out_dir=tmp_path / "run",
        data_root=tmp_path,
    )
    sizes = exp.summary()["images"].to_dict()
    assert sizes == {"train": 8, "val": 1, "test": 1} and sum(sizes.values()) == 10
    kwargs = {"widths": [4, 8], "activation": "sigmoid"}
    spec = inference.ModelSpec(
        method="colornet", arch="colornet", kwargs=kwargs, io="unit", size=32
    )
    result, entry = workflow.fit_supervised(
        exp,
        "colornet",
        define_G("colornet", **kwargs),
        spec,
        loss_fn=nn.MSELoss(),
        lr=0.01,
        epochs=2,
        patience=1,
        progress=False,
    )
    assert result.epochs_run in (1, 2) and "best_epoch" in entry
    assert set(entry["metrics"]) >= {"psnr", "ssim", "ciede2000", "colourfulness", "auc"}
    model, loaded_spec = inference.load_model(tmp_path / "run" / entry["checkpoint"])
    assert loaded_spec == spec
    assert len(exp.previews("colornet")) == 1 and len(exp.previews("ground_truth")) == 1
    payload = exp.finish(note="x")
    on_disk = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert on_disk["methods"]["colornet"]["metrics"] == payload["methods"]["colornet"]["metrics"]
    assert on_disk["split"]["test"] == exp.names("test")
    assert {"gray", "mean_ab"} <= set(on_disk["baselines"])
    assert on_disk["environment"]["torch"] == torch.__version__
    assert on_disk["profile"] == "smoke" and on_disk["note"] == "x"


def test_resplit_validation_follows_the_split_percent(tmp_path):
    data = tiny_dataset(tmp_path / "photos", n=30)
    exp = workflow.start(
        "06_test",
        settings_name="sagan",
        profile="smoke",
        dataset=str(data),
        seed=0,
        out_dir=tmp_path / "run",
        data_root=tmp_path,
    )
    before = exp.split
    after = workflow.resplit_validation(before, 0.9, seed=0)
    pooled = sorted(before.train + before.val)
    assert sorted(after.train + after.val) == pooled
    assert len(after.val) == round(0.1 * len(pooled))
    assert after.test == before.test
    assert workflow.resplit_validation(before, 0.97, seed=0).val  # at least one image
