"""The command line and the package as a user meets them: help, one-line errors, exit statuses,
the README's commands, and what ``pip install`` declares."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from colorlib import __main__ as cli
from colorlib import data, report
from colorlib.errors import USAGE_EXIT, UserError

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
TORCH_STACK = {"torch", "torchvision", "pytorch-ignite"}


def run_cli(*args: str, cwd: Path = REPO, prelude: str = "", timeout: float = 120):
    """`python -m colorlib ARGS` in a subprocess; `prelude` runs first (e.g. to hide torch)."""
    code = (
        "import runpy, sys\n"
        f"{prelude}\n"
        f"sys.argv = ['colorlib', *{list(args)!r}]\n"
        "runpy.run_module('colorlib', run_name='__main__', alter_sys=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def assert_one_line_error(stderr: str, *fragments: str) -> str:
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def user_mistake(capsys, argv: list[str], *fragments: str) -> str:
    assert cli.main(argv) == USAGE_EXIT
    captured = capsys.readouterr()
    assert captured.out == ""
    return assert_one_line_error(captured.err, *fragments)


# --- user mistakes: one line, exit status 2, nothing made -----------------------------------------


@pytest.mark.parametrize("hidden", ["torch", "torchvision", "ignite"])
def test_without_the_torch_stack_the_cli_says_how_to_install_it(hidden):
    done = run_cli("report", "--help", prelude=f"sys.modules[{hidden!r}] = None")
    assert done.returncode == USAGE_EXIT
    line = assert_one_line_error(done.stderr, "colorlib needs PyTorch", "pip install torch==")
    assert done.stdout == ""
    pins = re.findall(r"(torch(?:vision)?==[\w.]+)", line)
    required = (REPO / "requirements.txt").read_text().split()
    assert pins and all(pin in required for pin in pins), (pins, "not as requirements.txt pins")


def test_an_unknown_dataset_fails_before_any_work_in_a_real_subprocess(tmp_path):
    done = run_cli("report", "--dataset", "kodak", "--root", str(tmp_path / "reports"))
    assert done.returncode == USAGE_EXIT
    assert_one_line_error(done.stderr, "--dataset 'kodak'", "kodak24", "faces")
    assert not (tmp_path / "reports").exists()


def test_an_unknown_notebook_names_the_ones_there_are(tmp_path, capsys):
    line = user_mistake(capsys, ["report", "--only", "05", "09", "--root", str(tmp_path / "r")])
    assert "--only 09" in line and "'05'" not in line
    for nb in report.notebooks():
        assert nb.stem in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("make", "argv", "fragments"),
    [
        (None, ["--dataset", "kodak"], ["--dataset 'kodak'", "kodak24"]),
        ("file", ["--dataset", "{x}"], ["--dataset", "nor a folder"]),
        ("file", ["--root", "{x}"], ["--root", "is not a folder"]),
        ("file", ["--root", "{x}/below"], ["is not a folder", "is a file"]),
    ],
)
def test_bad_report_arguments(tmp_path, capsys, make, argv, fragments):
    x = tmp_path / "x"
    if make == "file":
        x.write_text("not a folder")
    root = ["--root", str(tmp_path / "r")] if "--root" not in argv else []
    user_mistake(capsys, ["report", *[a.format(x=x) for a in argv], *root], *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["x"] if make else [])


def test_assemble_only_needs_results(tmp_path, capsys):
    (tmp_path / "smoke-kodak24" / "05_pix2pix").mkdir(parents=True)
    (tmp_path / "smoke-kodak24" / "05_pix2pix" / "metrics.json").write_text("{}")
    argv = ["report", "--assemble-only", "--root", str(tmp_path)]
    user_mistake(capsys, argv, "cpu-kodak24", "no notebook results")
    user_mistake(capsys, [*argv, "--only", "05"], "--assemble-only", "--only")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["smoke-kodak24"]


@pytest.mark.parametrize("device", ["gpu", "cuda", "cuda:1", "cuda:x", "tpu"])
def test_a_device_this_machine_lacks(tmp_path, capsys, monkeypatch, device):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    argv = ["colorize", "--checkpoint", "m.pt", "--input", "a.png", "--output", str(tmp_path / "o")]
    user_mistake(capsys, [*argv, "--device", device], f"--device {device!r}")
    assert not (tmp_path / "o").exists()


def test_bad_download_folders(tmp_path, capsys):
    dest = ["--dest", str(tmp_path / "faces")]
    user_mistake(capsys, ["download", "faces", "--mirror", str(tmp_path / "no"), *dest], "mirror")
    (tmp_path / "f").write_text("")
    user_mistake(capsys, ["download", "faces", "--dest", str(tmp_path / "f")], str(tmp_path / "f"))


@pytest.mark.parametrize(
    "argv",
    [
        ["report", "--profile", "fast"],
        ["report", "--seed", "-1"],
        ["report", "--seed", "x"],
        ["report", "--only"],
        ["download", "kodak24"],
        ["colorize", "--input", "a.png"],
        ["frobnicate"],
        [],
    ],
)
def test_argparse_mistakes_exit_2_without_a_traceback(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == USAGE_EXIT
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: " in err.splitlines()[-1]


# --- what main does with the library's exceptions -------------------------------------------------


def fake_run(exc: BaseException):
    def run(*args, **kwargs):
        raise exc

    return run


def test_a_user_error_from_the_library_is_one_line_and_status_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report, "run", fake_run(UserError("OVERRIDES: 'epoch'\nis not a setting")))
    user_mistake(capsys, ["report", "--root", str(tmp_path)], "OVERRIDES: 'epoch' is not a setting")


def test_a_failed_notebook_is_status_1_with_its_message(tmp_path, capsys, monkeypatch):
    failed = report.NotebookFailed("05_pix2pix.ipynb failed at cell In [7] (RuntimeError: boom)")
    monkeypatch.setattr(report, "run", fake_run(failed))
    assert cli.main(["report", "--root", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"error: {failed}"


def test_an_interrupt_is_one_line_and_status_130(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(report, "run", fake_run(KeyboardInterrupt()))
    assert cli.main(["report", "--root", str(tmp_path)]) == 130
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_fault_in_colorlib_keeps_its_traceback(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "run", fake_run(ZeroDivisionError("a bug")))
    with pytest.raises(ZeroDivisionError):
        cli.main(["report", "--root", str(tmp_path)])


def test_report_gets_checked_arguments(tmp_path, capsys, monkeypatch):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"")
    seen = {}

    def run(profile, dataset, **kwargs):
        seen.update(kwargs, profile=profile, dataset=dataset)
        return Path(kwargs["root"]) / "smoke-photos"

    monkeypatch.setattr(report, "run", run)
    monkeypatch.chdir(tmp_path)
    argv = ["report", "--profile", "smoke", "--dataset", "photos", "--only", "05", "--quiet"]
    assert cli.main([*argv, "--root", "out", "--seed", "3"]) == 0
    assert seen["dataset"] == "photos"
    # The notebooks run in notebooks/: report.run hands them a folder as an absolute path.
    assert report.check_dataset("photos") == str(photos.resolve())
    assert (seen["profile"], seen["only"], seen["seed"], seen["progress"]) == (
        "smoke",
        ["05"],
        3,
        False,
    )
    assert "out/smoke-photos/README.md" in capsys.readouterr().out


def test_download_passes_its_options_and_prints_one_line(tmp_path, capsys, monkeypatch):
    calls = []

    def download(name, dest=None, mirror=None, progress=True):
        calls.append((name, dest, mirror, progress))
        return Path(dest)

    monkeypatch.setattr(data, "download", download)
    dest, mirror = str(tmp_path / "faces"), str(tmp_path / "mirror")
    argv = ["download", "faces", "--dest", dest, "--mirror", mirror, "--quiet"]
    assert cli.main(argv) == 0
    assert calls == [("faces", dest, mirror, False)]
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f"faces: {data.DATASETS['faces'].count} images ready in {dest} (SHA-256 checked)"
    ]


def test_download_offers_the_registrys_downloadable_sets():
    p = cli.parser()
    downloadable = [n for n, s in data.DATASETS.items() if not s.embedded]
    assert downloadable
    for name in downloadable:
        assert p.parse_args(["download", name]).dataset == name
    for name in set(data.DATASETS) - set(downloadable):
        with pytest.raises(SystemExit):
            p.parse_args(["download", name])


# --- help -----------------------------------------------------------------------------------------


def help_of(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as info:
        cli.main([*argv, "--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("command", "where"),
    [
        ("report", ["report/cpu-kodak24/README.md", "report.html", "<profile>-<dataset>"]),
        ("colorize", ["<output>/<stem>_colorized.png"]),
        ("download", ["data/<name>/"]),
        ("settings", ["standard output"]),
        ("cost", ["standard output", "ESTIMATE"]),
    ],
)
def test_help_has_examples_and_says_where_results_go(capsys, command, where):
    text = help_of(capsys, command)
    assert "examples:" in text and f"python -m colorlib {command}" in text
    assert "where results go" in text
    for fragment in where:
        assert fragment in " ".join(text.split()), fragment
    assert "``" not in text  # plain text, not reStructuredText


def test_every_option_has_help(capsys):
    top = help_of(capsys)
    assert "``" not in top and "examples:" in top
    p = cli.parser()
    [sub] = [a for a in p._actions if a.choices and "report" in a.choices]
    for name, command in sub.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if action.default not in (None, False, "==SUPPRESS==") and action.option_strings:
                assert "default" in action.help, f"{name} {action.option_strings} hides its default"


# --- the README's commands ------------------------------------------------------------------------


def bash_commands(text: str) -> list[str]:
    """The commands of the README's fenced bash blocks, continuation lines joined."""
    commands, inside, pending = [], False, ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("```"):
            inside = not inside and stripped == "```bash"
            continue
        if not inside or not stripped:
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        commands.append(pending + stripped)
        pending = ""
    return commands


def colorlib_argv(command: str) -> list[str] | None:
    words = shlex.split(command, comments=True)
    for i in range(len(words) - 1):
        if words[i : i + 2] == ["-m", "colorlib"] and words[i - 1].endswith("python"):
            return words[i + 2 :]
    return None


def test_the_readme_colorlib_commands_parse_and_pass_the_checks(monkeypatch):
    import torch

    # As on the machines the README's GPU commands are for: --device cuda must pass the checks.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    inline = re.findall(r"`((?:\.venv/bin/)?python -m colorlib [^`]+)`", README)
    commands = [c for c in [*bash_commands(README), *inline] if colorlib_argv(c) is not None]
    assert len(commands) >= 5, commands
    for command in commands:
        try:
            args = cli.parser().parse_args(colorlib_argv(command))
        except SystemExit:
            pytest.fail(f"README command does not parse: {command}")
        args.check(args)  # reads only: no folder is made


@pytest.mark.slow
def test_the_readme_papermill_example_runs(tmp_path):
    [command] = [c for c in bash_commands(README) if shlex.split(c)[0].endswith("papermill")]
    argv = shlex.split(command, comments=True)
    papermill, notebook, output = argv[:3]  # papermill INPUT OUTPUT -p NAME VALUE ...
    assert notebook.endswith(".ipynb") and output.endswith(".ipynb")
    # As written from the repository root, but run in tmp_path, so that the output notebook and
    # OUT_DIR (runs/05_pix2pix) land there; the programme and the notebook become absolute.
    exe = REPO / papermill
    argv[0] = str(exe if exe.exists() else Path(sys.executable).with_name("papermill"))
    argv[1] = str(REPO / notebook)
    done = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / output).is_file()
    overrides = json.loads(argv[argv.index("OVERRIDES") + 1])
    metrics = json.loads((tmp_path / "runs" / "05_pix2pix" / "metrics.json").read_text())
    assert metrics["profile"] == "smoke"
    assert metrics["settings"]["epochs"] == overrides["epochs"]
    trained = [m for m in metrics["methods"].values() if "variant_of" not in m]
    assert trained and {m["epochs_run"] for m in trained} == {overrides["epochs"]}


# --- the gpu profile: never on the CPU by mistake; dry runs; settings and cost -------------------


@pytest.fixture
def no_cuda(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_the_gpu_profile_without_cuda_stops_before_any_work(tmp_path, capsys, no_cuda):
    root = ["--root", str(tmp_path / "r")]
    user_mistake(capsys, ["report", "--profile", "gpu", *root], "--profile gpu", "--dry-run")
    user_mistake(capsys, ["report", "--profile", "gpu", "--device", "cuda", *root], "'cuda'")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("extra", [["--dry-run"], ["--device", "cpu"]])
def test_a_gpu_dry_run_or_an_explicit_device_runs_anywhere(tmp_path, monkeypatch, no_cuda, extra):
    seen = {}

    def run(profile, dataset, **kwargs):
        seen.update(kwargs)
        return report.report_dir(profile, dataset, kwargs["root"], kwargs["dry_run"])

    monkeypatch.setattr(report, "run", run)
    assert cli.main(["report", "--profile", "gpu", "--root", str(tmp_path), *extra]) == 0
    assert seen["dry_run"] == ("--dry-run" in extra)
    assert seen["device"] == ("cpu" if "cpu" in extra else "")


def test_report_passes_the_dry_run_and_device_to_every_notebook(tmp_path, monkeypatch, no_cuda):
    import papermill

    calls = []

    def execute_notebook(source, output, parameters, **kwargs):
        calls.append(parameters)
        Path(parameters["OUT_DIR"]).mkdir(parents=True)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(report, "assemble", lambda out: out)
    out = report.run("gpu", root=tmp_path, only=["02", "05"], dry_run=True, device="cpu",
                     progress=False, log=lambda _: None)  # fmt: skip
    assert out == tmp_path / "gpu-kodak24-dry-run"
    assert [Path(c["OUT_DIR"]).parent for c in calls] == [out.resolve()] * 2
    for params in calls:
        assert json.loads(params["OVERRIDES"]) == {"dry_run": True} and params["DEVICE"] == "cpu"
    calls.clear()
    report.run("smoke", root=tmp_path, only=["02"], progress=False, log=lambda _: None)
    assert "OVERRIDES" not in calls[0] and "DEVICE" not in calls[0]  # earlier stamps stay valid


def test_settings_prints_every_setting_with_where_it_comes_from(capsys):
    from colorlib import cost, profiles

    assert cli.main(["settings", "--profile", "gpu", "--dataset", "faces"]) == 0
    out = capsys.readouterr().out
    for nb in profiles.NOTEBOOKS:
        section = out.split(f"{cost.NOTEBOOK_OF[nb]} (gpu, faces)")[1].split(" (gpu, faces)")[0]
        for name, given in profiles.provenance(nb, "faces").items():
            line = next(line for line in section.splitlines() if line.startswith(f"{name} "))
            assert given.origin in line and str(given.value) in line, line
    assert "faces" in out and "ours" in out
    assert cli.main(["settings", "--profile", "cpu", "--markdown"]) == 0
    markdown = capsys.readouterr().out
    assert "### 05_pix2pix (cpu, kodak24)" in markdown and "| gpu value" in markdown


def test_cost_prints_steps_flops_and_estimated_gpu_time(capsys):
    import math

    from colorlib import cost, profiles

    assert cli.main(["cost", "--profile", "gpu", "--train-images", "40"]) == 0
    out = capsys.readouterr().out
    assert "ESTIMATE" in out and "total" in out
    for name, tflops in cost.GPUS.items():
        assert f"min {name}" in out and f"{name} at {tflops:g} TFLOP/s" in out
    cfg = profiles.settings("gpu", "pix2pix")
    steps = cfg["epochs"] * math.ceil(profiles.samples_per_epoch("1x", 40) / cfg["batch_size"])
    row = next(line.split() for line in out.splitlines() if " pix2pix_lab " in f" {line} ")
    assert row[:5] == [
        "05_pix2pix",
        "pix2pix_lab",
        str(cfg["batch_size"]),
        str(cfg["size"]),
        str(steps),
    ]
    line = user_mistake(capsys, ["cost", "--train-images", "0"], "--train-images 0")
    assert "at least 1" in line


# --- the package: what pip install declares ------------------------------------------------------


def dist_name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def declared() -> list[str]:
    tomllib = pytest.importorskip("tomllib")
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


def requirement_lines(name: str) -> list[str]:
    lines = (REPO / name).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_pyproject_declares_the_runtime_dependencies_but_not_the_torch_stack():
    deps = declared()
    assert deps and not {dist_name(d) for d in deps} & TORCH_STACK
    pinned = requirement_lines("requirements.txt")
    # requirements.txt: the torch stack (torch and torchvision pinned) plus what pyproject declares.
    assert {dist_name(p) for p in pinned} >= TORCH_STACK
    assert all("==" in p for p in pinned if dist_name(p) in {"torch", "torchvision"})
    rest = [p for p in pinned if dist_name(p) not in TORCH_STACK]
    assert sorted(rest) == sorted(deps)


def test_development_tools_are_in_requirements_dev():
    dev = requirement_lines("requirements-dev.txt")
    assert dev[0] == "-r requirements.txt"
    assert {"pytest", "nbval", "ruff", "jupyterlab"} <= {dist_name(d) for d in dev[1:]}
    assert not {"pytest", "nbval", "ruff", "jupyterlab"} & {
        dist_name(p) for p in requirement_lines("requirements.txt")
    }
    makefile = (REPO / "Makefile").read_text()
    assert "pip install -q -r requirements-dev.txt" in makefile
    assert "-r requirements-dev.txt" in (REPO / "environment.yml").read_text()


def test_no_declared_dependency_pulls_in_torch():
    """pip install colorlib must never resolve torch: walk the installed dependency graph."""
    from importlib import metadata

    requirements = pytest.importorskip("packaging.requirements")
    todo, seen = [dist_name(d) for d in declared()], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        assert name not in TORCH_STACK, f"a declared dependency requires {name}"
        try:
            needs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in needs:
            req = requirements.Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(dist_name(req.name))


def test_every_third_party_import_of_colorlib_is_declared():
    from importlib.metadata import packages_distributions

    modules = set()
    for path in (REPO / "colorlib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                modules |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = modules - set(sys.stdlib_module_names) - {"colorlib", "__future__"}
    ours = {dist_name(d) for d in declared()} | TORCH_STACK
    dists = packages_distributions()
    undeclared = {m for m in third_party if not {dist_name(d) for d in dists.get(m, [m])} & ours}
    assert not undeclared, f"imported by colorlib but not in pyproject.toml: {sorted(undeclared)}"
