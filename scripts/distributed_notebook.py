"""Run one course notebook on every rank of a torchrun launch (one process per GPU, or per CPU
process with gloo): each rank executes it unchanged in its own kernel, which inherits torchrun's
RANK / WORLD_SIZE / MASTER_* and joins the process group in `workflow.start`.

    torchrun --standalone --nproc_per_node 4 scripts/distributed_notebook.py \\
        notebooks/03_colornet_early_stopping.ipynb --profile gpu --dataset /data/photos \\
        --out-dir runs/photos

Rank 0's executed copy is <out-dir>/<notebook>.ipynb beside the run folder <out-dir>/<notebook>/
(which rank 0 alone writes); the other ranks' copies go to a temporary folder. A rerun resumes
from the last checkpoint.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import papermill


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path)
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--dataset", default="kodak24")
    parser.add_argument("--out-dir", type=Path, default=Path("runs"))
    parser.add_argument("--device", default="", help="empty: CUDA when present, else the CPU")
    parser.add_argument("--overrides", default="{}", help='JSON, e.g. {"batch_size": 64}')
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    name = args.notebook.stem
    out_dir = args.out_dir.resolve()
    # Only rank 0's copy is kept; the others would overwrite it with the same cells.
    executed = out_dir if rank == 0 else Path(tempfile.mkdtemp(prefix=f"colorlib-nb-rank{rank}-"))
    executed.mkdir(parents=True, exist_ok=True)
    papermill.execute_notebook(
        str(args.notebook),
        str(executed / f"{name}.ipynb"),
        cwd=str(args.notebook.resolve().parent),
        kernel_name="python3",
        progress_bar=False,
        parameters={
            "PROFILE": args.profile,
            "DATASET": args.dataset,
            "SEED": args.seed,
            "OUT_DIR": str(out_dir / name),
            "DEVICE": args.device,
            "OVERRIDES": args.overrides,
            # Off on every rank: the bars' running averages are reduced over the ranks, so
            # all must show them or none (and bars would only bloat the executed copies).
            "PROGRESS": False,
        },
    )


if __name__ == "__main__":
    main()
