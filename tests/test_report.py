"""The report: failure messages, up-to-date checks, and assembling README/HTML from runs."""

from __future__ import annotations

import json

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from colorlib import report
from colorlib.runs import write_json

SCORES = {
    "psnr": 22.0,
    "ssim": 0.9,
    "ciede2000": 11.0,
    "colourfulness": 1.0,
    "auc": 0.88,
    "colourfulness_gt": 40.0,
    "colourfulness_ratio": 0.025,
}


def write_notebook(folder, name, *sources):
    cells = [new_code_cell(sources[0], metadata={"tags": ["parameters"]})]
    cells += [new_code_cell(s) for s in sources[1:]]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    nbformat.write(nb, folder / name)
    return folder / name


def test_a_failing_notebook_is_named_with_its_cell(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    write_notebook(
        nbs,
        "01_fine.ipynb",
        "PROFILE = 'x'\nDATASET = ''\nSEED = 0\nOUT_DIR = ''",
        "import pathlib\npathlib.Path(OUT_DIR).mkdir(parents=True, exist_ok=True)",
    )
    write_notebook(
        nbs,
        "02_broken.ipynb",
        "PROFILE = 'x'\nDATASET = ''\nSEED = 0\nOUT_DIR = ''",
        "x = 1",
        "raise RuntimeError('the loss exploded')",
    )
    with pytest.raises(report.NotebookFailed) as info:
        report.run(
            "smoke",
            "kodak24",
            root=tmp_path / "out",
            notebook_dir=nbs,
            progress=False,
            log=lambda _: None,
        )
    message = str(info.value)
    # Cell 3 of the source; In [4] in the executed copy after papermill's parameters cell.
    assert "02_broken.ipynb failed at cell In [4]" in message
    assert "RuntimeError: the loss exploded" in message
    assert (tmp_path / "out" / "smoke-kodak24" / "02_broken.ipynb").exists()


def fake_run(out, notebook, methods, test_names=("a.png", "b.png"), dataset="kodak24"):
    folder = out / notebook
    for method in [*methods, "gray", "ground_truth"]:
        pred = folder / "predictions" / method
        pred.mkdir(parents=True, exist_ok=True)
        for n in test_names:
            Image.new("RGB", (24, 16), (100, 120, 140)).save(pred / n.replace(".png", ".jpg"))
    for m in methods:
        (folder / m).mkdir(parents=True, exist_ok=True)
        torch.save({}, folder / m / "model.pt")
    write_json(
        folder / "metrics.json",
        {
            "notebook": notebook,
            "profile": "smoke",
            "dataset": dataset,
            "seed": 0,
            "split": {"train": ["t.png"], "val": ["v.png"], "test": list(test_names)},
            "baselines": {"gray": SCORES, "mean_ab": {**SCORES, "ciede2000": 12.0}},
            "methods": {
                m: {
                    "metrics": {**SCORES, "ciede2000": 9.5},
                    "parameters": 1234,
                    "epochs_run": 3,
                    "train_seconds": 5.0,
                }
                for m in methods
            },
            "wall_seconds": 10.0,
            "environment": {
                "hardware": "test CPU",
                "device": "cpu",
                "python": "3.11",
                "torch": "2.14.1",
                "torchvision": "0.29.1",
                "ignite": "0.5.5",
                "date": "2026-11-21",
            },
        },
    )
    return folder


def test_assemble_writes_the_table_grid_and_a_self_contained_page(tmp_path):
    fake_run(tmp_path, "02_mean_chroma_regressor", ["regressor"])
    fake_run(tmp_path, "05_pix2pix", ["pix2pix_lab", "unet_l1"])
    readme = report.assemble(tmp_path)
    text = readme.read_text()
    assert "| Mean-chroma regressor" in text and "| Pix2Pix (Lab)" in text
    assert "| baseline: gray" in text and "1,234" in text
    assert "better than gray by 1.50" in text
    assert "test CPU" in text and "2026-11-21" in text
    assert (tmp_path / "figures" / "comparison_grid.png").exists()
    html = (tmp_path / "report.html").read_text()
    assert "data:image/jpeg;base64," in html and '<img src="figures' not in html
    table = report.comparison_table(report._load_metrics(tmp_path))
    assert list(table.index) == [
        "baseline: gray",
        "baseline: mean_ab",
        "Mean-chroma regressor",
        "Pix2Pix (Lab)",
        "U-Net, L1 only",
    ]


def test_up_to_date_needs_same_inputs_and_the_models(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = write_notebook(nbs, "05_pix2pix.ipynb", "PROFILE = 'x'")
    params = {"PROFILE": "smoke"}
    folder = fake_run(tmp_path, "05_pix2pix", ["pix2pix_lab"])
    (tmp_path / nb.name).write_text("{}")
    assert not report.up_to_date(nb, tmp_path, params)  # never stamped
    (folder / "stamp.txt").write_text(report._stamp(nb, params))
    assert report.up_to_date(nb, tmp_path, params)
    assert not report.up_to_date(nb, tmp_path, {"PROFILE": "cpu"})
    (folder / "pix2pix_lab" / "model.pt").unlink()
    assert not report.up_to_date(nb, tmp_path, params)


def test_run_rejects_unknown_profile_and_notebook_prefix(tmp_path):
    with pytest.raises(ValueError, match="unknown profile 'fast'"):
        report.run("fast", root=tmp_path)
    with pytest.raises(ValueError, match=r"no notebook matches \['99'\]"):
        report.run("smoke", root=tmp_path, only=["99"], log=lambda _: None)


def test_metrics_json_is_written_atomically(tmp_path):
    path = write_json(tmp_path / "m.json", {"x": torch.tensor(1.5), "p": tmp_path})
    assert json.loads(path.read_text()) == {"x": 1.5, "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_faces_report_shows_numbers_but_no_photographs(tmp_path):
    folder = fake_run(tmp_path, "05_pix2pix", ["pix2pix_lab"], dataset="faces")
    (folder / "figures").mkdir()
    for name in ("pix2pix_lab_losses", "pix2pix_lab_snapshots"):
        Image.new("RGB", (8, 8)).save(folder / "figures" / f"{name}.png")
    (tmp_path / "05_pix2pix.ipynb").write_text("{}")
    text = report.assemble(tmp_path).read_text()
    assert "| Pix2Pix (Lab)" in text
    assert "comparison_grid.png" not in text and "snapshots" not in text
    assert "pix2pix_lab_losses.png" in text  # plots stay
    assert "not shown or committed" in text and "05_pix2pix.ipynb (local only)" in text
    assert "comparison grid" not in (tmp_path / "report.html").read_text()
