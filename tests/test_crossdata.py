"""Training on one set and testing on others (notebook 07): experiments sharing a run folder,
training parts thinned by group, test sets, per-image scores and the tables built from them."""

from __future__ import annotations

from collections import Counter

import matplotlib
import numpy as np
import pytest
import torch

from colorlib import crossdata, data, workflow
from colorlib.errors import UserError
from colorlib.modelfile import ModelSpec
from colorlib.models import define_G

matplotlib.use("Agg")


@pytest.fixture()
def folders(tmp_path, make_photo):
    """Two small "datasets" of 10 synthetic photos each, of different sizes."""
    made = {}
    for k, (name, size) in enumerate((("portraits", (40, 48)), ("scenes", (72, 48)))):
        for i in range(10):
            make_photo(tmp_path / name / f"{name}{i:02d}.png", size=size, seed=10 * k + i)
        made[name] = str(tmp_path / name)
    return made


def start(dataset, out, profile="smoke", data_root="data", **overrides):
    return workflow.start("07_test", settings_name="dataset_effect", profile=profile,
                          dataset=dataset, seed=0, out_dir=out, data_root=data_root,
                          overrides=overrides)  # fmt: skip


@pytest.fixture()
def pair(tmp_path, folders):
    exp = start(folders["portraits"], tmp_path / "run")
    return exp, crossdata.experiments(exp, tuple(folders.values()), data_root=tmp_path)


def test_each_training_set_gets_its_own_experiment_in_the_one_run(pair, folders):
    exp, exps = pair
    portraits, scenes = exps[folders["portraits"]], exps[folders["scenes"]]
    assert portraits.run is exp.run and scenes.run is exp.run
    assert scenes.methods is exp.methods  # one metrics.json records both sets' methods
    assert scenes.dataset == folders["scenes"] and scenes.cfg == exp.cfg
    assert all(name.startswith("scenes") for name in scenes.images.names)
    for e in exps.values():
        parts = [set(e.names(p)) for p in ("train", "val", "test")]
        assert not (parts[0] & parts[2]) and not (parts[1] & parts[2])
        assert len(parts[2]) <= exp.cfg["test_images"]
        # Each set's baselines are computed on its own test images, not the first set's.
        assert e.baselines_per_image()["gray"]["names"] == e.names("test")
    assert crossdata.method_name("colornet", "faces") == "colornet_faces"


def test_a_report_dataset_outside_the_training_sets_is_refused(tmp_path):
    exp = start("kodak24", tmp_path / "run")
    with pytest.raises(UserError, match="faces and bsds500"):
        crossdata.experiments(exp)


def test_thinning_keeps_every_groups_share_and_the_original_order():
    groups = [f"s{i % 45}" for i in range(675)]  # subjects interleaved, as the faces' files are
    kept = crossdata.thin(list(range(675)), 200, groups)
    assert len(set(kept)) == 200 and kept == sorted(kept)
    assert set(Counter(groups[i] for i in kept).values()) == {4, 5}
    assert crossdata.thin([5, 1, 3], None) == [5, 1, 3] == crossdata.thin([5, 1, 3], 3)
    assert crossdata.thin(list(range(10)), 5) == [0, 2, 4, 6, 8]


def test_a_dry_run_and_test_images_cap_the_split():
    names = [f"im{i}" for i in range(20)]
    images = data.ImageSet([torch.zeros(3, 4, 4, dtype=torch.uint8)] * 20, names, names, "x")
    split = data.split(images, test_fraction=0.5, seed=0)
    cfg = {"train_images": 4, "test_images": None, "dry_run": False}
    small = crossdata.limited(split, images, cfg)
    assert len(small.train) == 4 and small.test == split.test and small.val == split.val
    assert small.train_names == [names[i] for i in small.train]
    dry = crossdata.limited(split, images, {**cfg, "dry_run": True, "test_images": 1})
    assert len(dry.val) == 2 and dry.test == split.test[:1]


def test_every_model_is_scored_on_every_image_of_every_test_set(pair, folders):
    _, exps = pair
    tests = crossdata.test_sets(exps)  # each folder's test split, then Kodak24 (capped: smoke)
    assert list(tests) == [*folders.values(), "kodak24"]
    assert tests["kodak24"].whole and not tests[folders["scenes"]].whole
    assert len(tests["kodak24"].images) == exps[folders["scenes"]].cfg["test_images"]
    torch.manual_seed(0)
    model = define_G("colornet", widths=[4, 8], activation="sigmoid")
    spec = ModelSpec.of(model, method="colornet", io="unit", size=32)
    found = crossdata.evaluate(model, spec, tests, keep=[folders["portraits"]],
                               full=[folders["portraits"]])  # fmt: skip
    for name, test in tests.items():
        per = found[name].per_image
        assert per["names"] == test.names and len(per["ciede2000"]) == len(test.images)
        assert found[name].metrics["ciede2000"] == pytest.approx(np.mean(per["ciede2000"]))
    kept = found[folders["portraits"]].as_scores()
    assert [p.shape for p in kept.predictions] == [
        t.shape for t in tests[folders["portraits"]].images
    ]
    assert "psnr" in kept.metrics and set(found["kodak24"].per_image) == {
        "names", "ciede2000", "colourfulness", "colourfulness_gt"
    }  # fmt: skip
    with pytest.raises(ValueError, match="not kept"):
        found["kodak24"].as_scores()


def test_the_tables_come_from_the_per_image_scores(pair, folders):
    _, exps = pair
    tests = crossdata.test_sets(exps, others=())
    scores = crossdata.baseline_scores(exps, tests)
    a, b = folders.values()
    assert set(scores) == {("gray", ""), ("mean colour", a), ("mean colour", b)}
    # A stand-in "model" per training set: the other set's mean colour, so the two rows differ.
    scores[("copy", a)] = scores[("mean colour", b)]
    scores[("copy", b)] = scores[("mean colour", a)]
    table = crossdata.cross_table(scores, list(tests))
    assert table.loc[f"copy (trained on {a})", f"CIEDE2000 {b}"] == pytest.approx(
        table.loc[f"mean colour (trained on {b})", f"CIEDE2000 {b}"], abs=0.01
    )
    assert table.loc["gray", f"colourfulness {a}"] < 1  # gray has (almost) no colour
    assert table.loc["ground truth", f"colourfulness {a}"] > 1
    diffs = crossdata.differences(scores, ["mean colour", "copy"], list(tests), a, b)
    row = diffs.loc[f"copy on {a}"]
    assert row["difference"] == pytest.approx(-diffs.loc[f"mean colour on {a}", "difference"])
    assert not row["supported"]  # a handful of test images never supports a claim
    figure = crossdata.heatmaps(scores, ["mean colour", "copy"], list(tests))
    assert len(figure.axes) == 4
    assert all(im.get_array().shape == (2, 2) for ax in figure.axes for im in ax.get_images())


def test_a_difference_is_supported_only_when_it_is_larger_than_the_spread():
    rng = np.random.default_rng(0)
    images = rng.normal(12.0, 3.0, 30)
    per = {"names": [str(i) for i in range(30)]}
    scores = {
        ("m", "a"): {"t": {**per, "ciede2000": list(images - 1.0 + rng.normal(0, 0.2, 30))}},
        ("m", "b"): {"t": {**per, "ciede2000": list(images)}},
        ("n", "a"): {"t": {**per, "ciede2000": list(images + rng.normal(0, 0.5, 30))}},
        ("n", "b"): {"t": {**per, "ciede2000": list(images + rng.normal(0, 0.5, 30))}},
    }
    diffs = crossdata.differences(scores, ["m", "n"], ["t"], "a", "b")
    assert diffs.loc["m on t", "supported"] and diffs.loc["m on t", "difference"] < -0.8
    assert diffs.loc["m on t", "images where a is lower"] >= 28


def test_only_the_set_that_ships_with_the_course_may_be_shown():
    assert crossdata.shareable("kodak24")
    assert not crossdata.shareable("faces") and not crossdata.shareable("bsds500")
    assert not crossdata.shareable("/some/folder")


@pytest.mark.slow
def test_the_faces_and_bsds500_train_on_as_many_images(tmp_path, faces_mirror, bsds500_mirror):
    root = tmp_path / "data"
    data.download("faces", dest=root / "faces", mirror=faces_mirror, progress=False)
    data.download("bsds500", dest=root / "bsds500", mirror=bsds500_mirror, progress=False)
    exp = start("bsds500", tmp_path / "run", profile="cpu", data_root=root)
    exps = crossdata.experiments(exp, data_root=root)
    bsds, faces = exps["bsds500"], exps["faces"]
    assert {p: len(bsds.indices(p)) for p in ("train", "val", "test")} == {
        "train": 200, "val": 100, "test": 200
    }  # fmt: skip
    assert all(n.startswith("train/") for n in bsds.names("train"))
    assert len(faces.split.train) == 200 and len(faces.split.test) == 45
    subjects = Counter(faces.images.groups[i] for i in faces.split.train)
    assert len(subjects) == 45 and set(subjects.values()) == {4, 5}
    held = {faces.images.groups[i] for i in faces.split.test}
    assert not held & set(subjects)  # split by person, as in every notebook
