"""The report: failure messages, up-to-date checks, and assembling README/HTML from runs."""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pandas as pd
import pytest
import torch
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image

from colorlib import assemble, comparison, report, report_html, stats, viz
from colorlib.errors import UserError
from colorlib.runs import write_json

matplotlib.use("Agg")


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
    "colornet": "ColorNet",
    "colornet_relu": "ColorNet, ReLU output",
    "pix2pix_lab": "Pix2Pix (Lab)",
    "pix2pix_rgb": "Pix2Pix (RGB)",
    "pix2pix_rgb_true_l": "Pix2Pix (RGB), true L kept",
    "unet_l1": "U-Net, L1 only",
    "sa_cgan": "Self-attention cGAN",
}
EXPERIMENTS = {"colornet_relu"}  # recorded with compare=False
VARIANTS = {"pix2pix_rgb_true_l": "pix2pix_rgb"}
TEST_NAMES = tuple(f"kodim{i:02d}.png" for i in (3, 5, 8, 14, 18, 19, 21, 23))
OOD_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "hubble", "cat", "coins")
# CIEDE2000 of each method minus gray's, image by image: (shift, wobble). A shift of 1.5 with a
# wobble of 0.1 is a clear difference; a wobble of 0.6 around 0 is none.
SHIFTS = {
    "regressor": (2.0, 0.1),
    "colornet": (-0.5, 0.1),
    "colornet_relu": (-0.4, 0.1),
    "pix2pix_lab": (-1.5, 0.1),
    "pix2pix_rgb": (0.0, 0.6),
    "pix2pix_rgb_true_l": (-0.8, 0.1),
    "unet_l1": (-1.0, 0.1),
    "sa_cgan": (-1.45, 0.3),
    "mean_ab": (-0.2, 0.1),
}
OOD_SHIFTS = {"pix2pix_rgb": (0.0, 0.6)}  # every other method is clearly worse (+3) out of domain


def per_image(names, shift=0.0, wobble=0.0):
    """Scores of each image: gray's CIEDE2000 varies a lot between images, a method's is
    gray's plus `shift`, wobbling by +-`wobble` (alternating, so the mean shift is exact)."""
    ciede = [
        9.0 + 0.8 * i + (i % 3) + shift + wobble * (-1) ** i * (1 + (i // 2) % 2)
        for i in range(len(names))
    ]
    return {
        "names": list(names),
        "ciede2000": ciede,
        "psnr": [22.0 - 0.1 * i for i in range(len(names))],
        "ssim": [0.9] * len(names),
        "colourfulness": [10.0 + 2 * i for i in range(len(names))],
        "auc": [0.88] * len(names),
    }


def scores(values):
    means = {k: float(np.mean(v)) for k, v in values.items() if k != "names"}
    return {**means, "colourfulness_gt": 40.0, "colourfulness_ratio": means["colourfulness"] / 40}


def scored(names, shift, wobble):
    values = per_image(names, shift, wobble)
    return {"metrics": scores(values), "per_image": values}


def method_entry(method, names, ood):
    entry = {
        "title": TITLES[method],
        "source": "a-source",
        "account": f"what {method} is",
        "compare": method not in EXPERIMENTS,
        **scored(names, *SHIFTS[method]),
    }
    if method in VARIANTS:
        entry["variant_of"] = VARIANTS[method]
    else:
        entry.update(
            parameters=1234,
            epochs_run=25,
            stopped_early=False,
            kept_epoch=7,
            kept_by="lowest validation CIEDE2000",
            train_seconds=5.0,
        )
    if ood:
        entry["out_of_domain"] = scored(OOD_NAMES, *OOD_SHIFTS.get(method, (3.0, 0.1)))
    return entry


def fake_record(notebook, methods, test_names=TEST_NAMES, dataset="kodak24", figures=(), ood=False):
    """A notebook's metrics.json as `Experiment.finish` writes it; `figures` as
    (name, method, photo)."""
    gray, mean_ab = per_image(test_names), per_image(test_names, *SHIFTS["mean_ab"])
    record = {
        "notebook": notebook,
        "profile": "smoke",
        "dataset": dataset,
        "seed": 0,
        "split": {"train": ["t.png"], "val": ["v.png"], "test": list(test_names)},
        "baselines": {"gray": scores(gray), "mean_ab": scores(mean_ab)},
        "baselines_per_image": {"gray": gray, "mean_ab": mean_ab},
        "methods": {m: method_entry(m, test_names, ood) for m in methods},
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
    if ood:
        record["out_of_domain_baselines"] = {
            "gray": scored(OOD_NAMES, 0.0, 0.0),
            "mean_ab": scored(OOD_NAMES, *SHIFTS["mean_ab"]),
        }
    return record


def fake_run(out, notebook, methods, test_names=TEST_NAMES, figures=(), **options):
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
    record = fake_record(notebook, methods, test_names, figures=figures, **options)
    write_json(folder / "metrics.json", record)
    return folder


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
        record = json.dumps(fake_record(nb, methods, test_names=("a.png", "b.png")))
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


def test_metrics_json_is_written_atomically(tmp_path):
    path = write_json(tmp_path / "m.json", {"x": torch.tensor(1.5), "p": tmp_path})
    assert json.loads(path.read_text()) == {"x": 1.5, "p": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def readme_sections(text: str) -> dict[str, list[str]]:
    """Each "## " section of a README: its title -> the images it shows, in order."""
    found = {}
    for chunk in text.split("\n## ")[1:]:
        title, _, body = chunk.partition("\n")
        found[title.strip()] = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", body)
    return found


def html_sections(page: str) -> dict[str, list[str]]:
    """Each <h2> section of the HTML page: its title -> the captions of its figures."""
    found = {}
    for chunk in page.split("<h2>")[1:]:
        title, _, body = chunk.partition("</h2>")
        captions = re.findall(r"<figcaption>(.*?)</figcaption>", body, flags=re.S)
        found[html.unescape(title)] = [html.unescape(c) for c in captions]
    return found


def check_sections(out: Path) -> None:
    """Each method's section, in README.md and report.html, shows exactly the figures recorded
    for its method, in their order; every recorded figure that may be shown appears once."""
    runs = comparison.load_runs(out)
    photos = assemble.photos_shareable(next(iter(runs.values()))["dataset"])
    md = readme_sections((out / "README.md").read_text())
    page = html_sections((out / "report.html").read_text())
    for nb, method, entry in comparison.compared(runs):
        figures = [
            f
            for f in runs[nb]["figures"].values()
            if f["method"] == method and (photos or not f["photo"])
        ]
        assert md[entry["title"]] == [f"{nb}/{f['file']}" for f in figures], entry["title"]
        captions = [report_html.plain_addresses(f["caption"]) for f in figures]
        assert page[entry["title"]] == captions, entry["title"]
    shown = [p for images in md.values() for p in images if not p.startswith("figures/")]
    recorded = [
        f"{nb}/{f['file']}"
        for nb, record in runs.items()
        for f in record["figures"].values()
        if photos or not f["photo"]
    ]
    assert sorted(shown) == sorted(recorded)


def row_cells(text: str, title: str) -> list[str]:
    line = next(line for line in text.splitlines() if line.startswith(f"| {title} "))
    return [c.strip() for c in line.split("|")[1:-1]]


def test_assemble_writes_the_comparison_with_its_spread_and_the_per_image_table(tmp_path):
    folder = fake_run(tmp_path, "02_mean_chroma_regressor", ["regressor"])
    record = json.loads((folder / "metrics.json").read_text())
    record["methods"]["regressor"].update(kept_epoch=None, kept_by="the last epoch")
    write_json(folder / "metrics.json", record)
    pix2pix = ["pix2pix_lab", "pix2pix_rgb", "pix2pix_rgb_true_l", "unet_l1"]
    fake_run(tmp_path, "05_pix2pix", pix2pix)
    text = report.assemble(tmp_path).read_text()
    runs = comparison.load_runs(tmp_path)
    table = comparison.comparison_table(runs)
    titles = [TITLES[m] for m in ["regressor", *pix2pix]]
    assert list(table.index) == ["baseline: gray", "baseline: mean_ab", *titles]
    lab = per_image(TEST_NAMES, *SHIFTS["pix2pix_lab"])["ciede2000"]
    lo, hi = stats.bootstrap_interval(lab)
    row = table.loc["Pix2Pix (Lab)"]
    assert (row[comparison.LOW], row[comparison.HIGH]) == pytest.approx((lo, hi))
    assert (row["CIEDE2000 min"], row["CIEDE2000 max"]) == pytest.approx((min(lab), max(lab)))
    saved = pd.read_csv(tmp_path / "comparison.csv", index_col=0)
    assert saved.loc["Pix2Pix (Lab)", comparison.LOW] == pytest.approx(lo)
    cells = row_cells(text, "Pix2Pix (Lab)")
    assert cells[1:3] == [
        f"{np.mean(lab):.2f} [{lo:.2f}, {hi:.2f}]",
        f"{min(lab):.2f}–{max(lab):.2f}",
    ]
    assert "7 of 25 (lowest validation CIEDE2000)" in cells and "1,234" in cells
    assert "the weights of Pix2Pix (RGB)" in row_cells(text, "Pix2Pix (RGB), true L kept")
    assert "25 of 25 (the last epoch)" in row_cells(text, "Mean-chroma regressor")
    gray = per_image(TEST_NAMES)["ciede2000"]
    glo, ghi = stats.bootstrap_interval(gray)
    assert row_cells(text, "baseline: gray")[1] == f"{np.mean(gray):.2f} [{glo:.2f}, {ghi:.2f}]"
    assert "test CPU" in text and "2026-11-21" in text

    frame = comparison.per_image_table(runs)
    assert list(frame.index) == list(TEST_NAMES)
    assert list(frame.columns) == ["gray", "mean_ab", *titles]
    assert frame["Pix2Pix (Lab)"].tolist() == pytest.approx(lab)
    assert "## CIEDE2000 of each test image" in text and "| kodim03.png " in text
    # Regressor, Lab, RGB (a wobble around gray's), RGB with true L, U-Net.
    wins = ["—", "—", "0 of 8", "8 of 8", "4 of 8", "8 of 8", "8 of 8"]
    assert row_cells(text, "better than gray on")[1:] == wins
    assert "Photos unlike the training set" not in text  # none of the runs scored them
    for name in ("comparison_grid", "comparison_bars", "per_image_differences"):
        assert (tmp_path / "figures" / f"{name}.png").is_file()


def test_findings_claim_a_difference_only_where_the_per_image_spread_supports_it(tmp_path):
    fake_run(tmp_path, "05_pix2pix", ["regressor", "pix2pix_lab", "pix2pix_rgb"])
    found = comparison.findings(comparison.load_runs(tmp_path))
    gray = per_image(TEST_NAMES)["ciede2000"]
    lab = per_image(TEST_NAMES, *SHIFTS["pix2pix_lab"])["ciede2000"]
    _, lo, hi = stats.paired_difference(lab, gray)
    assert found["Pix2Pix (Lab)"].startswith(
        f"CIEDE2000 {np.mean(lab):.2f} against {np.mean(gray):.2f} for gray: better than gray "
        f"by 1.50 (difference -1.50, 95% interval [{lo:+.2f}, {hi:+.2f}]); lower than gray's "
        "on 8 of 8 images. PSNR"
    )
    assert "worse than gray by 2.00" in found["Mean-chroma regressor"]
    rgb = found["Pix2Pix (RGB)"]
    assert "not distinguishable from gray (difference +0.00, 95% interval [-" in rgb
    assert "better" not in rgb and "worse" not in rgb
    # The same clear shift on 4 images: too few images to claim anything.
    fake_run(tmp_path / "few", "05_pix2pix", ["pix2pix_lab"], test_names=TEST_NAMES[:4])
    few = comparison.findings(comparison.load_runs(tmp_path / "few"))["Pix2Pix (Lab)"]
    assert "not distinguishable from gray" in few and "4 images are too few to tell" in few


def test_the_html_page_requests_nothing_and_shows_every_caption(tmp_path):
    folder = fake_run(
        tmp_path,
        "05_pix2pix",
        ["pix2pix_lab", "unet_l1"],
        figures=[("pix2pix_lab_losses", "pix2pix_lab", False), ("examples", None, True)],
    )
    record = json.loads((folder / "metrics.json").read_text())
    record["methods"]["pix2pix_lab"]["account"] = (
        "From [the tutorial](https://example.org/pix2pix) and <https://example.org/paper>; "
        "see HTTP://example.com/x."
    )
    (folder / "tables").mkdir()
    pd.DataFrame({"val L1": [0.08]}, index=["epoch 2"]).to_csv(folder / "tables" / "t.csv")
    record["tables"] = {
        "t": {"file": "tables/t.csv", "caption": "an experiment", "method": "pix2pix_lab"}
    }
    write_json(folder / "metrics.json", record)
    (tmp_path / "05_pix2pix.ipynb").write_text("{}")
    report.assemble(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "http" not in page.lower()
    assert "<script" not in page and "<link" not in page and "url(" not in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith("data:image/jpeg;base64,") for s in sources)
    assert re.findall(r'href="([^"]*)"', page) == ["05_pix2pix.ipynb"]  # beside the page
    assert "<title>Colorization report: smoke on kodak24</title>" in page
    assert "the tutorial (example.org/pix2pix)" in page and "example.com/x" in page
    captions = re.findall(r"<figure><img [^>]*><figcaption>(.*?)</figcaption></figure>", page)
    assert len(captions) == page.count("<img ") == 5  # grid, bars, differences, 2 recorded
    assert {"caption of pix2pix_lab_losses", "caption of examples"} <= set(captions)
    assert page.count("<table>") == page.count('<div class="scroll"><table>') >= 3
    assert "overflow-x: auto" in page
    lab = page.split("<h2>Pix2Pix (Lab)</h2>")[1].split("<h2>")[0]
    assert "an experiment" in lab and "epoch 2" in lab  # the notebook's table, in its section
    check_sections(tmp_path)


def test_each_method_section_shows_exactly_its_own_figures(tmp_path):
    fake_run(
        tmp_path,
        "03_colornet_early_stopping",
        ["colornet", "colornet_relu"],
        figures=[
            ("colornet_curve", "colornet", False),
            ("relu_curve", "colornet_relu", False),  # an experiment: the notebook's section
            ("colornet_examples", "colornet", True),
        ],
    )
    fake_run(
        tmp_path,
        "05_pix2pix",
        ["pix2pix_lab", "pix2pix_rgb", "pix2pix_rgb_true_l", "unet_l1"],
        figures=[
            ("pix2pix_lab_losses", "pix2pix_lab", False),
            ("pix2pix_rgb_losses", "pix2pix_rgb", False),
            ("pix2pix_lab_snapshots", "pix2pix_lab", True),
            ("true_l_examples", "pix2pix_rgb_true_l", True),
            ("pix2pix_examples", None, True),
        ],
    )
    text = report.assemble(tmp_path).read_text()
    check_sections(tmp_path)
    md = readme_sections(text)
    assert md["Pix2Pix (Lab)"] == [
        "05_pix2pix/figures/pix2pix_lab_losses.png",
        "05_pix2pix/figures/pix2pix_lab_snapshots.png",
    ]
    assert md["Pix2Pix (RGB), true L kept"] == ["05_pix2pix/figures/true_l_examples.png"]
    assert md["U-Net, L1 only"] == []
    assert md["Notebook 03_colornet_early_stopping"] == [
        "03_colornet_early_stopping/figures/relu_curve.png"
    ]
    assert md["Notebook 05_pix2pix"] == ["05_pix2pix/figures/pix2pix_examples.png"]
    assert "A variant of Pix2Pix (RGB): no training of its own." in text
    assert "![caption of pix2pix_rgb_losses](05_pix2pix/figures/pix2pix_rgb_losses.png)" in text


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
    page = (tmp_path / "report.html").read_text()
    assert assemble.NO_PHOTOS in html.unescape(page)
    assert "The same test images by method" not in page and "snapshots" not in page
    assert "caption of pix2pix_lab_losses" in page
    check_sections(tmp_path)
    ignored = (tmp_path / ".gitignore").read_text().splitlines()
    assert {"*.ipynb", "*/predictions/", "figures/comparison_grid.png"} <= set(ignored)
    assert "05_pix2pix/figures/pix2pix_lab_snapshots.png" in ignored  # recorded as a photo
    assert "05_pix2pix/figures/pix2pix_lab_losses.png" not in ignored  # a plot: committed


def test_photos_unlike_the_training_set_get_their_own_table_and_sentence(tmp_path):
    fake_run(tmp_path, "05_pix2pix", ["pix2pix_lab", "pix2pix_rgb", "unet_l1"], ood=True)
    text = report.assemble(tmp_path).read_text()
    part = text.split("## Photos unlike the training set\n", 1)[1].split("\n## ", 1)[0]
    gray = np.mean(per_image(OOD_NAMES)["ciede2000"])
    worse = np.mean(per_image(OOD_NAMES, 3.0, 0.1)["ciede2000"])
    assert (
        f"On 8 photos unlike the training set, gray scores a CIEDE2000 of {gray:.2f} and the 3 "
        f"methods {gray:.2f} to {worse:.2f}: 0 are better than gray and 2 worse (per-photo "
        "interval excluding 0), 1 cannot be told apart from it. Each method beats gray on 0 to "
        "4 of the 8 photos."
    ) in part
    lab = row_cells(part, "Pix2Pix (Lab)")
    colourful = np.mean(per_image(OOD_NAMES)["colourfulness"]) / 40
    assert lab[1].startswith(f"{worse:.2f} [") and lab[2] == f"{colourful:.2f}"
    assert lab[3] == "0 of 8 photos" and lab[4].startswith("+3.00 [+")
    assert row_cells(part, "baseline: gray")[3:] == ["—", "—"]
    lab_section = text.split("\n## Pix2Pix (Lab)\n", 1)[1].split("\n## ", 1)[0]
    assert "On the photos unlike the training set: worse than gray by 3.00" in lab_section


def test_metric_bars_keep_labels_apart_and_zoom_on_the_values():
    import matplotlib.pyplot as plt

    titles = [
        "baseline: gray",
        "baseline: mean_ab",
        *[f"a long method title {i}" for i in range(7)],
    ]
    ciede = np.linspace(10.7, 12.9, len(titles))
    table = pd.DataFrame(
        {"CIEDE2000 ↓": ciede, "PSNR (dB) ↑": np.linspace(20.7, 22.2, len(titles))}, titles
    )
    fig = viz.metric_bars(
        table, list(table), {"CIEDE2000 ↓": np.vstack([ciede - 0.4, ciede + 0.5])}
    )
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
    assert len(boxes) == len(titles)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])
    assert min(b.x0 for b in boxes) >= 0  # inside the figure
    assert not [t for t in fig.axes[1].get_yticklabels() if t.get_visible() and t.get_text()]
    lo, hi = ax.get_xlim()
    assert 9.5 < lo < 10.3 and 13.4 < hi < 14.5  # around the values, not from 0
    segments = np.concatenate([c.get_segments() for c in ax.collections])
    assert segments[..., 0].min() == pytest.approx(ciede[0] - 0.4)  # whiskers: the intervals
    assert segments[..., 0].max() == pytest.approx(ciede[-1] + 0.5)
    plt.close(fig)


def load_readme_results():
    path = Path(__file__).resolve().parents[1] / "scripts" / "readme_results.py"
    spec = importlib.util.spec_from_file_location("readme_results", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_results_claim_only_what_the_spread_supports(tmp_path):
    kodak, faces = tmp_path / "cpu-kodak24", tmp_path / "cpu-faces"
    scenes = tmp_path / "cpu-bsds500"
    fake_run(kodak, "05_pix2pix", ["pix2pix_lab", "pix2pix_rgb"], test_names=TEST_NAMES[:4])
    fake_run(faces, "05_pix2pix", ["regressor", "pix2pix_lab", "pix2pix_rgb"], dataset="faces")
    fake_run(scenes, "05_pix2pix", ["pix2pix_rgb", "unet_l1"], dataset="bsds500")
    (scenes / "run.json").write_text(json.dumps({"total_seconds": 60}))
    features = "random VGG16 (ImageNet weights unavailable offline)"
    for f, options in ((kodak, {"test_names": TEST_NAMES[:4]}), (faces, {"dataset": "faces"})):
        folder = fake_run(f, "06_self_attention_cgan", ["sa_cgan"], **options)
        record = json.loads((folder / "metrics.json").read_text())
        record["methods"]["sa_cgan"]["perceptual_features"] = features
        write_json(folder / "metrics.json", record)
        (f / "run.json").write_text(json.dumps({"total_seconds": 120}))
    text = load_readme_results().section(kodak, faces, scenes)
    assert "| Pix2Pix (Lab) " in text and "| Self-attention cGAN † " in text
    on_kodak = text.split("On Kodak24, ", 1)[1].split("\n", 1)[0]
    assert "0 of the 3 methods are better" in on_kodak
    assert "3 cannot be told apart from gray" in on_kodak
    assert "With 4 test images no difference is claimed at all." in on_kodak
    on_faces = text.split("On the 10 faces", 1)[1].split("\n", 1)[0]
    assert (
        "2 of the 4 methods are better by more than the spread over the 8 test images "
        "(Pix2Pix (Lab); Self-attention cGAN), 1 worse (Mean-chroma regressor) and 1 cannot be "
        "told apart from gray"
    ) in on_faces
    lab = np.mean(per_image(TEST_NAMES, *SHIFTS["pix2pix_lab"])["ciede2000"])
    sa = np.mean(per_image(TEST_NAMES, *SHIFTS["sa_cgan"])["ciede2000"])
    assert (
        f"the lowest mean CIEDE2000 is Pix2Pix (Lab)'s ({lab:.2f}), not distinguishable from "
        f"Self-attention cGAN {sa:.2f}; Pix2Pix (RGB), scored on its own output, averages "
    ) in on_faces
    assert f"and Pix2Pix (Lab) {lab:.2f}: Lab is lower than Pix2Pix (RGB) by 1.50" in on_faces
    on_scenes = text.split("On BSDS500's natural scenes", 1)[1].split("\n", 1)[0]
    assert "the set's own split: 8 test scenes" in on_scenes and "1.0 min" in on_scenes
    assert "were not both scored image by image: no claim." in on_scenes  # no Lab row there
    assert (
        f"On Kodak24 and the faces, the Self-attention cGAN's perceptual loss ran on {features}"
    ) in text


SMOKE = os.environ.get("COLORLIB_SMOKE_REPORT")


@pytest.mark.skipif(not SMOKE, reason="COLORLIB_SMOKE_REPORT is not set")
def test_the_smoke_report_places_each_figure_under_its_method_and_requests_nothing():
    out = Path(SMOKE or ".")
    check_sections(out)
    record = next(iter(comparison.load_runs(out).values()))
    page = (out / "report.html").read_text()
    assert "http" not in page.lower()
    assert f"<title>Colorization report: {record['profile']} on {record['dataset']}</title>" in page
    assert page.count("<figcaption>") == page.count("<img ")
