"""Checks on a report the smoke profile made (``make notebooks`` points here with
COLORLIB_SMOKE_REPORT); skipped in a plain unit-test run, which makes no report."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from colorlib import runs

REPORT = os.environ.get("COLORLIB_SMOKE_REPORT")
pytestmark = pytest.mark.skipif(not REPORT, reason="COLORLIB_SMOKE_REPORT is not set")


def run_folders() -> list[Path]:
    return sorted(p.parent for p in Path(REPORT or ".").glob("*/metrics.json"))


def test_the_report_has_every_notebook():
    assert [p.name[:2] for p in run_folders()] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("folder", run_folders(), ids=lambda p: p.name)
def test_every_file_a_run_wrote_is_declared_by_the_run_folder_layout(folder):
    files = runs.RunFolder(folder).files()
    undeclared = [f.as_posix() for f in files if not runs.declared(f)]
    assert not undeclared, f"{folder.name} wrote files colorlib.runs does not declare"
    record = runs.RunFolder(folder).read_metrics()
    for figure in record["figures"].values():  # the record names files that exist
        assert (folder / figure["file"]).is_file()
    for method, entry in record["methods"].items():
        # A variant (another way of using a trained model) points at its parent's file.
        if "variant_of" not in entry:
            assert runs.RunFolder(folder).model_file(method).is_file()
        assert (folder / entry["checkpoint"]).is_file()
