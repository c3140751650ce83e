"""Where students run the gpu profile: the notebooks' Colab set-up cell, and the cluster's
set-up script and SLURM job (run here against a stand-in `conda` that records what it is asked)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
PINS = (REPO / "requirements.txt").read_text()


def colab_cell(path: Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    return "".join(cells[2]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_colab_cell_is_cell_2_and_the_same_everywhere(path):
    cell = colab_cell(path)
    assert "google.colab" in cell
    assert cell == colab_cell(NOTEBOOKS[0])


def test_the_colab_cell_pins_what_requirements_pins():
    cell = colab_cell(NOTEBOOKS[0])
    for package in ("pytorch-ignite", "papermill"):
        [pin] = re.findall(rf"^{package}[^\s#]*", PINS, flags=re.M)
        assert f'"{pin}"' in cell, pin
    assert not re.search(r'"(torch|torchvision)[=<>"]', cell)  # Colab's own torch is kept


def test_the_colab_cell_survives_a_rerun_and_keeps_runs_on_drive():
    cell = colab_cell(NOTEBOOKS[0])
    # A clone left by an earlier (failed) run is reused, or removed when cut short.
    assert "pyproject.toml" in cell and "rmtree" in cell
    assert "drive.mount" in cell and "/content/drive/MyDrive" in cell and "resumes" in cell
    assert "torch.cuda.is_available()" in cell and "Change runtime type" in cell


def test_outside_colab_the_cell_changes_nothing():
    namespace = {"OUT_DIR": "runs/x", "PROFILE": "smoke", "DATASET": "kodak24"}
    exec(compile(colab_cell(NOTEBOOKS[0]), "cell2", "exec"), namespace)
    assert namespace["OUT_DIR"] == "runs/x" and "REPO" not in namespace


# --- the cluster: environment once on a login node, then a job that installs nothing ----------

FAKE_CONDA = r"""#!/bin/bash
echo "conda $*" >> "$CONDA_LOG"
if [ "$1 $2" = "env list" ]; then
    echo "base  /opt/conda"
    [ -n "$FAKE_ENV" ] && echo "colorlib  /opt/conda/envs/colorlib"
    exit 0
fi
if [ "$1" = run ]; then
    shift
    while [[ "$1" == -* ]]; do [ "$1" = -n ] && shift; shift; done
    case "$*" in
        *"sys.exit(0 if torch.cuda.is_available()"*) exit "${FAKE_NO_CUDA:-0}" ;;
        *"pip freeze"*) printf 'nvidia-cublas==13.1.1.3\nnumpy==2.1.0\n' ;;
    esac
fi
exit 0
"""


def run_script(tmp_path: Path, script: str, **env: str) -> tuple[subprocess.CompletedProcess, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "conda").write_text(FAKE_CONDA)
    (bin_dir / "conda").chmod(0o755)
    (bin_dir / "nvidia-smi").write_text("#!/bin/bash\nexit 0\n")
    (bin_dir / "nvidia-smi").chmod(0o755)
    log = tmp_path / "conda.log"
    log.write_text("")
    full_env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CONDA_LOG": str(log)}
    full_env.pop("TORCH_INDEX_URL", None)
    full_env.update(env)
    done = subprocess.run(["bash", str(REPO / "scripts" / script)], cwd=REPO, env=full_env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    return done, log.read_text()


def test_the_setup_creates_the_environment_and_its_own_kernel(tmp_path):
    done, calls = run_script(tmp_path, "hipergator_setup.sh")
    assert done.returncode == 0, done.stderr
    assert "conda env create -n colorlib -f environment.yml" in calls
    assert "pip uninstall" not in calls  # the PyPI build stays without TORCH_INDEX_URL
    assert "ipykernel install --user --name colorlib" in calls
    assert "--name python3" not in calls
    assert "pretrained.fetch_all()" in calls and "colorlib download faces" in calls


def test_a_second_setup_still_installs_the_cuda_build_asked_for(tmp_path):
    url = "https://download.pytorch.org/whl/cu126"
    done, calls = run_script(tmp_path, "hipergator_setup.sh", FAKE_ENV="1", TORCH_INDEX_URL=url)
    assert done.returncode == 0, done.stderr
    assert "env create" not in calls and "conda env update -n colorlib" in calls
    torch_pin = re.search(r"^torch==\S+", PINS, flags=re.M).group(0)
    vision_pin = re.search(r"^torchvision==\S+", PINS, flags=re.M).group(0)
    install = next(line for line in calls.splitlines() if "--index-url" in line)
    assert f"--index-url {url} {torch_pin} {vision_pin}" in install
    assert "--no-deps" not in calls  # the build brings its own nvidia-* libraries
    assert "pip uninstall -y nvidia-cublas" in calls  # and the other CUDA's are gone first


def test_the_job_stops_without_an_environment_or_without_a_gpu(tmp_path):
    done, calls = run_script(tmp_path, "hipergator_report.sbatch")
    assert done.returncode == 2 and "hipergator_setup.sh" in done.stderr
    done, calls = run_script(tmp_path, "hipergator_report.sbatch", FAKE_ENV="1", FAKE_NO_CUDA="1")
    assert done.returncode == 1 and "no CUDA GPU" in done.stderr
    assert "colorlib report" not in calls


def test_the_job_installs_nothing_and_runs_the_gpu_report_on_cuda(tmp_path):
    done, calls = run_script(tmp_path, "hipergator_report.sbatch", FAKE_ENV="1", DATASET="faces")
    assert done.returncode == 0, done.stderr
    assert "env create" not in calls and "pip install" not in calls
    checked = calls.index("torch.cuda.is_available()")
    report = calls.index("colorlib report --profile gpu --device cuda --dataset faces")
    assert checked < report


# --- installing torch: commands a user can paste ------------------------------------------------


def test_every_torch_index_in_the_readme_and_scripts_is_a_real_url_with_its_libraries():
    texts = {
        name: (REPO / name).read_text()
        for name in ("README.md", "Makefile", "environment.yml", "scripts/hipergator_setup.sh")
    }
    urls = re.findall(r"(?:--index-url|TORCH_INDEX_URL=)\s*(\S+)", texts["README.md"])
    assert {u.rstrip("`") for u in urls} >= {
        "https://download.pytorch.org/whl/cpu",
        "https://download.pytorch.org/whl/cu126",
    }
    for name, text in texts.items():
        assert "<PyTorch" not in text, name  # no placeholder to fill in
        for line in text.splitlines():
            assert not ("--index-url" in line and "--no-deps" in line), (name, line)


def test_make_setup_installs_the_pinned_pair_from_the_index_given():
    url = "https://download.pytorch.org/whl/cpu"
    argv = ["make", "-n", "-W", "requirements.txt", "setup", f"TORCH_INDEX_URL={url}"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if f"--index-url {url}" in line)
    pinned = next(i for i, line in enumerate(lines) if "-r requirements-dev.txt" in line)
    assert first < pinned and "requirements.txt" in lines[first]
