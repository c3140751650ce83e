"""The package's shape: who may import whom, no private names across modules, small modules."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "colorlib"
MODULES = sorted(PACKAGE.rglob("*.py"))


def imported_after(statement: str) -> set[str]:
    """Top-level module names in sys.modules after `statement`, in a fresh interpreter."""
    code = f"{statement}; import sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        ("colorlib.report", ("colorlib.workflow", "colorlib.engine", "ignite")),
        ("colorlib.assemble", ("colorlib.workflow", "colorlib.engine", "ignite")),
        ("colorlib.colorize", ("colorlib.engine", "colorlib.workflow", "ignite", "pandas")),
    ],
)
def test_light_modules_do_not_pull_in_the_training_stack(module, forbidden):
    loaded = imported_after(f"import {module}")
    assert module in loaded
    pulled = sorted(m for m in loaded if m.split(".")[0] in forbidden or m in forbidden)
    assert not pulled, f"importing {module} loads {pulled}"


def private_imports(path: Path) -> list[str]:
    """`from colorlib.x import _y` and `colorlib_module._y` uses in one file."""
    tree = ast.parse(path.read_text())
    found, aliases = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("colorlib"):
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(f"from {node.module} import {alias.name}")
                aliases.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            aliases.update(a.asname or a.name for a in node.names if a.name.startswith("colorlib"))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.value.id}.{node.attr}")
    return found


def test_no_module_uses_another_modules_private_names():
    tests = sorted((PACKAGE.parent / "tests").glob("*.py"))
    offenders = {p.name: private_imports(p) for p in [*MODULES, *tests]}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_private_name_check_can_fail(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from colorlib.color import _lab_f\nfrom colorlib import data\ndata._x\n")
    assert private_imports(sample) == ["from colorlib.color import _lab_f", "data._x"]


def test_every_module_is_under_450_lines():
    sizes = {p.relative_to(PACKAGE).as_posix(): len(p.read_text().splitlines()) for p in MODULES}
    assert max(sizes.values()) < 450, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
