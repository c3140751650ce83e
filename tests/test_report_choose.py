"""Which notebooks a report runs: a notebook may declare the datasets it runs on (notebook 07
trains on the faces and BSDS500 whatever the report's dataset), and other reports skip it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from colorlib import report
from colorlib.errors import UserError


def notebook(folder: Path, name: str, datasets=None) -> Path:
    metadata = {"colorlib": {"datasets": datasets}} if datasets else {}
    path = folder / name
    path.write_text(json.dumps({"cells": [], "metadata": metadata, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip
    return path


@pytest.fixture()
def folder(tmp_path):
    notebook(tmp_path, "01_any.ipynb")
    notebook(tmp_path, "07_pair.ipynb", ["faces", "bsds500"])
    return tmp_path


def names(paths):
    return [p.stem for p in paths]


def test_a_notebook_runs_only_on_the_datasets_it_declares(folder):
    assert report.datasets_of(folder / "01_any.ipynb") is None
    assert report.datasets_of(folder / "07_pair.ipynb") == ["faces", "bsds500"]
    assert names(report.choose(None, folder)) == ["01_any", "07_pair"]
    assert names(report.choose(None, folder, "kodak24")) == ["01_any"]
    assert names(report.choose(None, folder, "/some/folder")) == ["01_any"]
    assert names(report.choose(None, folder, "bsds500")) == ["01_any", "07_pair"]
    assert names(report.choose(["07"], folder, "faces")) == ["07_pair"]


def test_asking_for_it_on_another_dataset_says_why_not(folder):
    with pytest.raises(UserError, match="07_pair runs on faces, bsds500, not on kodak24"):
        report.choose(["07"], folder, "kodak24")
    with pytest.raises(UserError, match="no such notebook"):
        report.choose(["09"], folder, "faces")


def test_the_course_notebook_07_declares_the_faces_and_bsds500():
    declared = {p.stem[:2]: report.datasets_of(p) for p in report.notebooks()}
    assert declared["07"] == ["faces", "bsds500"]
    assert all(v is None for k, v in declared.items() if k != "07")


def test_a_kodak24_report_skips_it_and_says_so(folder, tmp_path, monkeypatch):
    import papermill

    ran, said = [], []

    def execute_notebook(source, output, parameters, **kwargs):
        ran.append(Path(source).stem)
        Path(parameters["OUT_DIR"]).mkdir(parents=True)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(report, "assemble", lambda out: out)
    monkeypatch.setattr(report, "stamp", lambda nb, params: "stamp")
    report.run("smoke", root=tmp_path / "out", notebook_dir=folder, progress=False, log=said.append)
    assert ran == ["01_any"]
    assert any("07_pair: skipped" in line and "faces, bsds500" in line for line in said)
