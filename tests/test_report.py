"""The report: failure messages, up-to-date checks, and assembling README/HTML from runs."""

from __future__ import annotations

import json

import nbformat
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from colorlib import assemble, report
from colorlib.errors import UserError
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


TITLES = {
    "regressor": "Mean-chroma regressor",
    "pix2pix_lab": "Pix2Pix (Lab)",
    "pix2pix_rgb": "Pix2Pix (RGB)",
    "unet_l1": "U-Net, L1 only",
}


def fake_record(notebook, methods, test_names=("a.png", "b.png"), dataset="kodak24", figures=()):
    """A notebook's metrics.json as `Experiment.finish` writes it; `figures` as
    (name, method, photo)."""
    return {
        "notebook": notebook,
        "profile": "smoke",
        "dataset": dataset,
        "seed": 0,
        "split": {"train": ["t.png"], "val": ["v.png"], "test": list(test_names)},
        "baselines": {"gray": SCORES, "mean_ab": {**SCORES, "ciede2000": 12.0}},
        "methods": {
            m: {
                "title": TITLES[m],
                "source": "a-source",
                "account": f"what {m} is",
                "compare": True,
                "metrics": {**SCORES, "ciede2000": 9.5},
                "parameters": 1234,
                "epochs_run": 3,
                "train_seconds": 5.0,
            }
            for m in methods
        },
        "figures": {
            name: {
                "file": f"figures/{name}.png",
                "caption": f"caption of {name}",
                "method": method,
                "photo": photo,
            }
            for name, method, photo in figures
        },
        "tables": {},
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
    }


def fake_run(out, notebook, methods, test_names=("a.png", "b.png"), dataset="kodak24", figures=()):
    folder = out / notebook
    for method in [*methods, "gray", "ground_truth"]:
        pred = folder / "predictions" / method
        pred.mkdir(parents=True, exist_ok=True)
        for n in test_names:
            Image.new("RGB", (24, 16), (100, 120, 140)).save(pred / n.replace(".png", ".jpg"))
    for m in methods:
        (folder / m).mkdir(parents=True, exist_ok=True)
        torch.save({}, folder / m / "model.pt")
    for name, _, _ in figures:
        (folder / "figures").mkdir(exist_ok=True)
        Image.new("RGB", (8, 8)).save(folder / "figures" / f"{name}.png")
    write_json(
        folder / "metrics.json", fake_record(notebook, methods, test_names, dataset, figures)
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
    table = assemble.comparison_table(assemble.load_runs(tmp_path))
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
    (folder / "stamp.txt").write_text(report.stamp(nb, params))
    assert report.up_to_date(nb, tmp_path, params)
    assert not report.up_to_date(nb, tmp_path, {"PROFILE": "cpu"})
    (folder / "pix2pix_lab" / "model.pt").unlink()
    assert not report.up_to_date(nb, tmp_path, params)


def test_run_checks_its_arguments_before_any_work(tmp_path):
    with pytest.raises(UserError, match="--profile 'fast'"):
        report.run("fast", root=tmp_path)
    with pytest.raises(UserError, match=r"--only 99: no such notebook; there are 01_"):
        report.run("smoke", root=tmp_path, only=["99"], log=lambda _: None)
    with pytest.raises(UserError, match=r"--dataset 'kodak' is neither a known dataset"):
        report.run("cpu", "kodak", root=tmp_path, log=lambda _: None)
    assert list(tmp_path.iterdir()) == []  # no half-made report folder
    with pytest.raises(UserError, match="holds no notebook results"):
        report.assemble(tmp_path)


def test_run_executes_skips_what_is_up_to_date_and_merges_timings(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    for nb, methods in (("02_mean_chroma_regressor", ["regressor"]), ("05_pix2pix", ["unet_l1"])):
        record = json.dumps(fake_record(nb, methods))
        write_notebook(
            nbs,
            f"{nb}.ipynb",
            "PROFILE = 'x'\nDATASET = ''\nSEED = 0\nOUT_DIR = ''\nPROGRESS = True",
            "import json, pathlib\nfrom PIL import Image\n"
            "out = pathlib.Path(OUT_DIR)\n"
            f"record = json.loads({record!r})\n"
            "for m in [*record['methods'], 'gray', 'ground_truth']:\n"
            "    for n in ('a', 'b'):\n"
            "        (out / 'predictions' / m).mkdir(parents=True, exist_ok=True)\n"
            "        Image.new('RGB', (8, 8)).save(out / 'predictions' / m / f'{n}.jpg')\n"
            "for m in record['methods']:\n"
            "    (out / m).mkdir(parents=True, exist_ok=True)\n"
            "    (out / m / 'model.pt').write_bytes(b'x')\n"
            "(out / 'metrics.json').write_text(json.dumps(record))",
        )
    lines = []
    kwargs = dict(root=tmp_path / "out", notebook_dir=nbs, progress=False, log=lines.append)
    out = report.run("smoke", "kodak24", **kwargs)
    assert "| Mean-chroma regressor" in (out / "README.md").read_text()
    first = json.loads((out / "run.json").read_text())["notebook_seconds"]
    assert set(first) == {"02_mean_chroma_regressor", "05_pix2pix"}
    lines.clear()
    report.run("smoke", "kodak24", only=["05"], force=True, **kwargs)
    assert lines[0] == "[1/1] 05_pix2pix: running (smoke, kodak24)"
    again = json.loads((out / "run.json").read_text())["notebook_seconds"]
    assert again["02_mean_chroma_regressor"] == first["02_mean_chroma_regressor"]  # merged
    lines.clear()
    report.run("smoke", "kodak24", **kwargs)
    assert [line.split(": ", 1)[1] for line in lines[:2]] == ["up to date, skipped"] * 2


def test_each_method_section_shows_only_its_own_figures(tmp_path):
    fake_run(
        tmp_path,
        "05_pix2pix",
        ["pix2pix_lab", "pix2pix_rgb", "unet_l1"],
        figures=[
            ("pix2pix_lab_losses", "pix2pix_lab", False),
            ("pix2pix_rgb_losses", "pix2pix_rgb", False),
            ("pix2pix_examples", None, True),
        ],
    )
    runs = assemble.load_runs(tmp_path)
    table = assemble.comparison_table(runs)
    parts = {
        title: [rel for rel, _ in images]
        for title, _, images in assemble.sections(tmp_path, runs, assemble.findings(table), True)
    }
    assert parts["Pix2Pix (Lab)"] == ["05_pix2pix/figures/pix2pix_lab_losses.png"]
    assert parts["Pix2Pix (RGB)"] == ["05_pix2pix/figures/pix2pix_rgb_losses.png"]
    assert parts["U-Net, L1 only"] == []
    assert parts["Notebook 05_pix2pix"] == ["05_pix2pix/figures/pix2pix_examples.png"]
    text = report.assemble(tmp_path).read_text()
    assert "![caption of pix2pix_rgb_losses](05_pix2pix/figures/pix2pix_rgb_losses.png)" in text


def test_metrics_json_is_written_atomically(tmp_path):
    path = write_json(tmp_path / "m.json", {"x": torch.tensor(1.5), "p": tmp_path})
    assert json.loads(path.read_text()) == {"x": 1.5, "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_a_faces_report_shows_numbers_but_no_photographs(tmp_path):
    fake_run(
        tmp_path,
        "05_pix2pix",
        ["pix2pix_lab"],
        dataset="faces",
        figures=[
            ("pix2pix_lab_losses", "pix2pix_lab", False),
            ("pix2pix_lab_snapshots", "pix2pix_lab", True),
        ],
    )
    (tmp_path / "05_pix2pix.ipynb").write_text("{}")
    text = report.assemble(tmp_path).read_text()
    assert "| Pix2Pix (Lab)" in text
    assert "comparison_grid.png" not in text and "snapshots" not in text
    assert "pix2pix_lab_losses.png" in text  # plots stay
    assert "not shown or committed" in text and "05_pix2pix.ipynb (local only)" in text
    assert "comparison grid" not in (tmp_path / "report.html").read_text()
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert {"*.ipynb", "*/predictions/", "figures/comparison_grid.png"} <= set(ignored)
    assert "05_pix2pix/figures/pix2pix_lab_snapshots.png" in ignored  # recorded as a photo
    assert "05_pix2pix/figures/pix2pix_lab_losses.png" not in ignored  # a plot: committed
