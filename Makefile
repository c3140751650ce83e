# Two entry points for a fresh machine:  make report   and   make test
# Both create .venv if missing and install requirements-dev.txt (requirements.txt, torch pinned,
# plus pytest, nbval, ruff and JupyterLab) and colorlib.
#   make report PROFILE=gpu DEVICE=cuda       the sources' settings on a GPU
#   make setup TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
#                                             the pinned torch without its CUDA libraries
VENV ?= .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PROFILE ?= cpu
DATASET ?= kodak24
DEVICE ?=
TORCH_INDEX_URL ?=
# The faces and BSDS500: the copies beside the repository (as CI has them), else the web.
COLORLIB_FACES_MIRROR ?= $(wildcard $(abspath ../shared/datasets/face_images))
COLORLIB_BSDS500_MIRROR ?= $(wildcard $(abspath ../shared/datasets/bsds500))
export COLORLIB_FACES_MIRROR COLORLIB_BSDS500_MIRROR
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1

.PHONY: setup report test unit notebooks gpu-dry-run lint bench bench-scale clean-build

$(INSTALLED): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX_URL),$(PY) -m pip install -q --index-url $(TORCH_INDEX_URL) \
		$$(grep -E '^torch(vision)?==' requirements.txt))
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (colorlib)"
	touch $(INSTALLED)

setup: $(INSTALLED)

# The main job: every notebook through papermill, then report/<profile>-<dataset>/README.md.
report: setup
	$(PY) -m colorlib report --profile $(PROFILE) --dataset $(DATASET) $(if $(DEVICE),--device $(DEVICE))

# Unit tests, then every notebook in the smoke profile, then nbval on the executed copies, then
# the gpu profile's dry run. Tests never download pretrained weights (COLORLIB_OFFLINE).
test: export COLORLIB_OFFLINE = 1
test: setup unit notebooks gpu-dry-run

unit: export COLORLIB_OFFLINE = 1
unit: setup
	$(PY) -m pytest tests -q

notebooks: export COLORLIB_OFFLINE = 1
notebooks: setup
	rm -rf build/smoke-kodak24
	$(PY) -m colorlib report --profile smoke --dataset kodak24 --root build --force --quiet
	COLORLIB_SMOKE_REPORT=build/smoke-kodak24 $(PY) -m pytest -q tests/test_smoke_report.py \
		tests/test_report.py -k smoke_report
	# nbval reruns each notebook; without checkpoints it retrains from scratch, so the checked
	# cells (split sizes, shapes, parameter counts, seeded metrics) prove they reproduce.
	find build/smoke-kodak24 -type d -name checkpoints -prune -exec rm -rf {} +
	$(PY) -m pytest --nbval-lax -q -p no:cacheprovider build/smoke-kodak24/0*.ipynb
	# Notebook 07 trains on the faces and BSDS500 (a Kodak24 report leaves it out): run and
	# check it where both are at hand (CI has their copies), else say it was left out.
ifneq ($(and $(COLORLIB_FACES_MIRROR),$(COLORLIB_BSDS500_MIRROR)),)
	rm -rf build/smoke-faces
	$(PY) -m colorlib report --profile smoke --dataset faces --root build --only 07 --force --quiet
	COLORLIB_SMOKE_REPORT=build/smoke-faces $(PY) -m pytest -q tests/test_report.py -k smoke_report
	find build/smoke-faces -type d -name checkpoints -prune -exec rm -rf {} +
	$(PY) -m pytest --nbval-lax -q -p no:cacheprovider build/smoke-faces/07_*.ipynb
else
	@echo "notebook 07 left out: it needs COLORLIB_FACES_MIRROR and COLORLIB_BSDS500_MIRROR"
endif

# Every notebook with the gpu profile's architectures, image sizes and batch sizes, one batch per
# method and two test images, on the CPU: the sources' settings run end to end (on Kodak24 at
# 256 px, on the faces at their 128). nbval does not rerun it.
gpu-dry-run: export COLORLIB_OFFLINE = 1
gpu-dry-run: setup
	rm -rf build/gpu-kodak24-dry-run build/gpu-faces-dry-run
	for dataset in kodak24 faces; do \
		$(PY) -m colorlib report --profile gpu --dataset $$dataset --root build --dry-run \
			--force --quiet || exit 1; \
		find build/gpu-$$dataset-dry-run \( -name checkpoints -o -name '*.pt' \) -prune \
			-exec rm -rf {} + ; \
	done  # the checkpoints and models of full-size networks: gigabytes, proven and dropped

lint: setup
	$(PY) -m ruff check colorlib tests benchmarks
	$(PY) -m ruff format --check colorlib tests benchmarks

bench: setup
	$(PY) benchmarks/bench_loader.py

# Disk store vs memory at 1k/10k/50k synthetic photos (made once in /tmp), and 2-process
# training: long, mostly making and decoding the 61k photos the first time.
bench-scale: setup
	$(PY) benchmarks/bench_scale.py loader
	$(PY) benchmarks/bench_scale.py train

clean-build:
	rm -rf build
