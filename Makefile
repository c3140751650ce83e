# Two entry points for a fresh machine:  make report   and   make test
# Both create .venv if missing and install requirements-dev.txt (requirements.txt, torch pinned,
# plus pytest, nbval, ruff and JupyterLab) and colorlib.
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= cpu
DATASET ?= kodak24
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: setup report test unit notebooks lint bench clean-build

$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (colorlib)"
	touch $(INSTALLED)

setup: $(INSTALLED)

# The main job: every notebook through papermill, then report/<profile>-<dataset>/README.md.
report: setup
	$(PY) -m colorlib report --profile $(PROFILE) --dataset $(DATASET)

# Unit tests, then every notebook in the smoke profile, then nbval on the executed copies.
test: setup unit notebooks

unit: setup
	$(PY) -m pytest tests -q

notebooks: setup
	rm -rf build/smoke-kodak24
	$(PY) -m colorlib report --profile smoke --dataset kodak24 --root build --force --quiet
	COLORLIB_SMOKE_REPORT=build/smoke-kodak24 $(PY) -m pytest -q tests/test_smoke_report.py
	# nbval reruns each notebook; without checkpoints it retrains from scratch, so the checked
	# cells (split sizes, shapes, parameter counts, seeded metrics) prove they reproduce.
	find build/smoke-kodak24 -type d -name checkpoints -prune -exec rm -rf {} +
	$(PY) -m pytest --nbval-lax -q -p no:cacheprovider build/smoke-kodak24/0*.ipynb

lint: setup
	$(PY) -m ruff check colorlib tests benchmarks
	$(PY) -m ruff format --check colorlib tests benchmarks

bench: setup
	$(PY) benchmarks/bench_loader.py

clean-build:
	rm -rf build
