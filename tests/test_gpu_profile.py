"""The gpu profile where students run it: never on the CPU by mistake, sizes that fit the data
(the faces at their own 128), the sources' augmentations, dry runs, and provenance shown in the
notebook and metrics.json."""

from __future__ import annotations

import json

import pytest
import torch

from colorlib import data, profiles, workflow
from colorlib.errors import UserError


@pytest.fixture()
def photos(tmp_path, make_photo):
    folder = tmp_path / "photos"
    for i in range(10):
        make_photo(folder / f"img{i:02d}.png", size=(300, 260), seed=i)
    return folder


def start(dataset, out, *, profile="gpu", settings_name="pix2pix", device="", data_root=None,
          **overrides):  # fmt: skip
    return workflow.start(
        "05_test", settings_name=settings_name, profile=profile, dataset=str(dataset), seed=1,
        out_dir=out, device=device, overrides=overrides, data_root=data_root or out,
    )  # fmt: skip


def test_the_gpu_profile_without_cuda_stops_at_once(tmp_path, photos, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="PROFILE 'gpu' trains on a CUDA GPU") as info:
        start(photos, tmp_path / "run")
    assert "DEVICE='cpu'" in str(info.value) and "dry_run" in str(info.value)
    assert not (tmp_path / "run").exists()  # nothing made before the check
    assert start(photos, tmp_path / "cpu", device="cpu").device.type == "cpu"
    assert start(photos, tmp_path / "dry", dry_run=True).device.type == "cpu"
    with pytest.raises(UserError, match="'cuda' was asked for"):
        start(photos, tmp_path / "cuda", device="cuda")


def test_a_dry_run_keeps_the_sizes_and_batches_and_a_few_test_images(tmp_path, photos):
    exp = start(photos, tmp_path / "run", dry_run=True)
    assert exp.device.type == "cpu" and exp.cfg["size"] == 256
    assert len(exp.split.val) <= profiles.DRY_RUN_IMAGES >= len(exp.split.test)
    assert len(exp.names("test")) == len(exp.part("test")) >= 1
    loader = exp.loader("train")
    batches = list(loader)
    assert len(batches) == 1 and batches[0]["L"].shape == (exp.cfg["batch_size"], 1, 256, 256)
    rgb = exp.loader("train", batch_size=exp.cfg["batch_size_rgb"], augment=exp.cfg["augment_rgb"])
    assert rgb.batch_size == exp.cfg["batch_size_rgb"] and rgb.augment is None


def test_the_loader_follows_the_sources_augmentation(tmp_path, photos):
    exp = start(photos, tmp_path / "run", device="cpu")
    loader = exp.loader("train")
    assert exp.cfg["augment"] == "hflip"  # provenance: the tutorial flips horizontally only
    assert (loader.augment.hflip, loader.augment.vflip) == (True, False)
    assert loader.augment.max_rotation_deg == 0 and loader.augment.brightness is None
    assert loader.crop_min_frac == exp.cfg["crop_min_frac"]
    assert len(loader) == 1  # "1x": one pass over the 8 training photos, batches of 32
    assert exp.loader("train", augment=False).augment is None
    cpu = start(photos, tmp_path / "cpu", profile="cpu")
    assert cpu.loader("train").augment == loader.augment  # cpu flips as the source does
    assert cpu.loader("train").crop_min_frac == 0.5


def test_images_smaller_than_the_size_are_a_user_error_naming_the_file(tmp_path, make_photo):
    folder = tmp_path / "small"
    for i in range(4):
        make_photo(folder / f"p{i}.png", size=(300, 300) if i else (200, 150), seed=i)
    with pytest.raises(UserError, match=r"size 256 .*p0\.png.*\(200x150\).*OVERRIDES"):
        start(folder, tmp_path / "run", device="cpu")
    assert start(folder, tmp_path / "ok", device="cpu", size=128).cfg["size"] == 128


def test_the_settings_and_their_provenance_are_shown_and_recorded(tmp_path, photos):
    exp = start(photos, tmp_path / "run", settings_name="labgan", device="cpu", epochs=3)
    table = exp.settings_table()
    assert set(table.index) == set(exp.cfg)
    assert table.loc["epochs", "value"] == 3 and table.loc["epochs", "overridden"]
    assert table.loc["lambda_mse", "from"] == "ours" and table.loc["lr", "from"] in profiles.SOURCES
    exp.finish()
    recorded = json.loads(exp.run.metrics_file.read_text())["provenance"]
    assert {r["setting"]: r["from"] for r in recorded} == table["from"].to_dict()


@pytest.fixture(scope="module")
def faces_root(tmp_path_factory, faces_mirror):
    """A data root holding the faces, copied once from the mirror."""
    root = tmp_path_factory.mktemp("data")
    data.download("faces", dest=root / "faces", mirror=faces_mirror, progress=False)
    return root


@pytest.mark.parametrize("notebook", profiles.NOTEBOOKS)
def test_the_gpu_profile_runs_on_the_faces_at_their_own_size(tmp_path, faces_root, notebook):
    # What --profile gpu --dataset faces did before: 256-px crops of 128-px faces, an error.
    exp = start("faces", tmp_path / "run", settings_name=notebook, data_root=faces_root,
                dry_run=True)  # fmt: skip
    assert exp.cfg["size"] == min(image.shape[-1] for image in exp.images.images) == 128
    batch = next(iter(exp.loader("train")))
    assert batch["L"].shape[-2:] == (128, 128)
    if notebook == "augmentation":
        copies = data.offline_augment(exp.part("train")[:3], copies=2, size=exp.cfg["size"])
        assert copies[0].shape == (3, 128, 128)
