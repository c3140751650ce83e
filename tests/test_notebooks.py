"""The notebooks' conventions: clean sources, a typed parameters cell first, a named source."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
REQUIRED = {"PROFILE", "DATASET", "SEED", "OUT_DIR", "DEVICE", "OVERRIDES", "PROGRESS"}


def test_there_are_seven_notebooks():
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


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


# --- each notebook is a lesson (learning goals, the maths, a summary and exercises) ------------


def lesson_text(nb) -> list[str]:
    """The markdown cells: the explanation a student reads."""
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def words(text: str) -> int:
    return len(re.findall(r"[A-Za-z][A-Za-z'\-]*", text))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_notebook_is_a_lesson(path):
    nb = nbformat.read(path, as_version=4)
    text = lesson_text(nb)
    body = "\n".join(text)
    assert words(body) >= 1000, f"{words(body)} words of explanation"
    display = re.findall(r"\$\$.+?\$\$", body, flags=re.S)
    assert len(display) >= 3, f"{len(display)} display equations"
    headings = [line for line in body.splitlines() if line.startswith("#")]
    assert re.search(r"^#+ .*learning goals", body, flags=re.I | re.M), headings
    assert any(re.fullmatch(r"#+ Summary", h.strip()) for h in headings), headings
    assert any(re.fullmatch(r"#+ Exercises", h.strip()) for h in headings), headings
    exercises = body[re.search(r"^#+ Exercises\s*$", body, flags=re.M).end() :]
    items = re.findall(r"^\d+\.\s", exercises, flags=re.M)
    assert len(items) >= 4, f"{len(items)} exercises"
    only_heading = [c for c in text if re.fullmatch(r"\s*#+ [^\n]*\s*", c)]
    assert not only_heading, f"markdown cells that are only a heading: {only_heading}"
    # The learning goals come first, the "Follows / Where ours differs" statement after them.
    goals = re.search(r"learning goals", body, flags=re.I).start()
    assert goals < body.index("**Follows:**")


def test_the_lesson_check_can_fail():
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("## The network")])
    assert words("\n".join(lesson_text(empty))) < 1000
    assert re.fullmatch(r"\s*#+ [^\n]*\s*", lesson_text(empty)[0])


def test_there_is_a_syllabus_and_solutions_for_instructors():
    root = Path(__file__).parents[1] / "notebooks"
    syllabus = (root / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.name in syllabus
        assert list((root / "solutions").glob(f"{path.stem[:2]}_*.md")), path.stem
