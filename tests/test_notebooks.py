"""The notebooks' conventions: clean sources, a typed parameters cell first, a named source."""

from __future__ import annotations

import ast
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED = {"PROFILE", "DATASET", "SEED", "OUT_DIR", "DEVICE", "OVERRIDES", "PROGRESS"}


def test_there_are_six_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    # Stored without outputs, so diffs stay clean; executed copies live in report/.
    assert all(not c.outputs and c.execution_count is None for c in code)
    first = code[0]
    assert "parameters" in first.metadata.get("tags", [])
    tree = ast.parse(first.source)
    typed = {node.target.id for node in tree.body if isinstance(node, ast.AnnAssign)}
    assert typed >= REQUIRED, f"missing typed parameters: {REQUIRED - typed}"
    commented = [line for line in first.source.splitlines() if "=" in line and "#" in line]
    assert len(commented) == len(first.source.splitlines()), "each parameter needs a comment"
    assert nb.cells[0].cell_type == "markdown" and "**Follows:**" in nb.cells[0].source
    assert "**Where ours differs:**" in nb.cells[0].source
    # Every notebook ends by writing its metrics.json.
    assert "finish(" in code[-1].source
