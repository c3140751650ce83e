#!/bin/bash
# Once, on a login node of a SLURM cluster such as HiPerGator (it needs the network; the GPU job
# then needs none):   bash scripts/hipergator_setup.sh
#
# 1. creates the conda environment "colorlib" from environment.yml (Python 3.11, the pinned
#    torch 2.14.1 / torchvision 0.29.1 from PyPI: the CUDA 13.0 build, for NVIDIA drivers of
#    the 580 series or newer), or updates it when it exists;
# 2. with TORCH_INDEX_URL set (e.g. https://download.pytorch.org/whl/cu126 for older drivers,
#    whose nvidia-smi shows "CUDA Version: 12.x"), swaps in that build of the same versions,
#    every time, also when the environment already exists;
# 3. registers the Jupyter kernel "Python (colorlib)" (name colorlib; your python3 is untouched);
# 4. fetches the ImageNet weights (VGG16, ResNet-18) into torch's cache and the 750 faces.
#
# Then submit the job from the repository root:   sbatch scripts/hipergator_report.sbatch
set -euo pipefail
cd "$(dirname "$0")/.."
module load conda 2>/dev/null || true
ENV_NAME=${COLORLIB_ENV:-colorlib}
run() { conda run --no-capture-output -n "$ENV_NAME" "$@"; }

if conda env list | awk '{print $1}' | grep -qx "$ENV_NAME"; then
    conda env update -n "$ENV_NAME" -f environment.yml
else
    conda env create -n "$ENV_NAME" -f environment.yml
fi

if [ -n "${TORCH_INDEX_URL:-}" ]; then
    # The other build's own nvidia-* libraries come with it (no --no-deps); the PyPI build's
    # are removed first, so the two CUDA versions never mix.
    run python -m pip uninstall -y torch torchvision
    nvidia=$(run python -m pip freeze | grep -E '^nvidia-' | cut -d= -f1 || true)
    if [ -n "$nvidia" ]; then
        # shellcheck disable=SC2086  # one package name per word
        run python -m pip uninstall -y $nvidia
    fi
    run python -m pip install --index-url "$TORCH_INDEX_URL" \
        "$(grep -E '^torch==' requirements.txt)" "$(grep -E '^torchvision==' requirements.txt)"
fi
run python -c "import torch; print('torch', torch.__version__, 'built for CUDA', torch.version.cuda)"

run python -m ipykernel install --user --name "$ENV_NAME" --display-name "Python ($ENV_NAME)"
run python -c "from colorlib import pretrained; pretrained.fetch_all()"
run python -m colorlib download faces
echo "ready: sbatch scripts/hipergator_report.sbatch   (DATASET=faces sbatch ... for the faces)"
