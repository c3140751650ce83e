"""Rewrite the top README's results section from the committed reports' comparison tables.

    .venv/bin/python scripts/readme_results.py          # after make report (and the faces report)

Everything between the README's ``<!-- results:start -->`` and ``<!-- results:end -->`` lines is
generated here from ``report/cpu-kodak24/comparison.csv`` and ``report/cpu-faces/comparison.csv``,
so the README never quotes a number the reports do not hold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
SHOWN = ["PSNR (dB) ↑", "SSIM ↑", "CIEDE2000 ↓", "colourfulness / GT", "training time (s)"]
FORMATS = {
    "PSNR (dB) ↑": "{:.2f}",
    "SSIM ↑": "{:.3f}",
    "CIEDE2000 ↓": "{:.2f}",
    "colourfulness / GT": "{:.2f}",
    "training time (s)": "{:.0f}",
}


def table(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / "comparison.csv", index_col=0)


def shown(frame: pd.DataFrame) -> str:
    out = frame[SHOWN].astype(object)
    for col, fmt in FORMATS.items():
        out[col] = ["—" if pd.isna(v) else fmt.format(float(v)) for v in frame[col]]
    return out.to_markdown()


def facts(folder: Path) -> dict:
    record = json.loads(next(folder.glob("*/metrics.json")).read_text())
    return {
        "train": len(record["split"]["train"]),
        "test": len(record["split"]["test"]),
        "date": record["environment"]["date"],
        "hardware": record["environment"]["hardware"],
        "minutes": json.loads((folder / "run.json").read_text())["total_seconds"] / 60,
    }


def against_gray(frame: pd.DataFrame) -> tuple[list[str], float]:
    gray = frame.loc["baseline: gray", "CIEDE2000 ↓"]
    methods = frame[~frame.index.str.startswith("baseline")]
    return list(methods.index[methods["CIEDE2000 ↓"] < gray]), gray


def section() -> str:
    kodak_dir, faces_dir = REPO / "report" / "cpu-kodak24", REPO / "report" / "cpu-faces"
    kodak, faces = table(kodak_dir), table(faces_dir)
    k, f = facts(kodak_dir), facts(faces_dir)
    k_better, k_gray = against_gray(kodak)
    f_better, f_gray = against_gray(faces)
    n = len(kodak) - 2
    best = faces[~faces.index.str.startswith("baseline")]["CIEDE2000 ↓"].nsmallest(2)
    return "\n".join(
        [
            f"{k['test']} held-out photographs, scored at full resolution after training on "
            f"{k['train']}; from [report/cpu-kodak24](report/cpu-kodak24/README.md) "
            f"({k['hardware']}, `make report`, {k['minutes']:.1f} min, {k['date']}):",
            "",
            shown(kodak),
            "",
            f"On Kodak24, {len(k_better)} of the {n} methods score a lower CIEDE2000 than leaving "
            f"the photographs gray ({k_gray:.2f})"
            + (f": {'; '.join(k_better)}." if k_better else ".")
            + f" With {k['test']} test images these differences are small against the run-to-run "
            f"drift of a few tenths, so the table is no ranking: {k['train']} unrelated training "
            f"photographs cannot teach the right colours for {k['test']} unrelated scenes, and a "
            "bold wrong colour costs more CIEDE2000 than no colour. The self-attention cGAN's "
            "perceptual term ran "
            "on random VGG16 features here (no network to fetch ImageNet weights). On the 750 "
            f"faces ([report/cpu-faces](report/cpu-faces/README.md), {f['test']} test faces of "
            f"unseen subjects, {f['train']} training faces, {f['minutes']:.1f} min), "
            f"{len(f_better)} of the {n} methods beat gray ({f_gray:.2f}); the lowest CIEDE2000 "
            f"there: {best.index[0]} {best.iloc[0]:.2f} and {best.index[1]} {best.iloc[1]:.2f}. "
            "These are small `cpu`-profile runs; no `gpu`-profile report has been made (no GPU "
            "was available).",
        ]
    )


def main() -> int:
    readme = REPO / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"error: {readme} has no {START} ... {END} section", file=sys.stderr)
        return 2
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{section()}\n{END}{tail}")
    print(f"rewrote the results section of {readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
