"""Rewrite the top README's results section from the committed reports' records.

    .venv/bin/python scripts/readme_results.py          # after make report (and the faces report)

Everything between the README's ``<!-- results:start -->`` and ``<!-- results:end -->`` lines is
generated here from the run records of ``report/cpu-kodak24``, ``report/cpu-faces`` and
``report/cpu-bsds500`` (their ``*/metrics.json``, through `colorlib.comparison`), so the README
never quotes a number the reports do not hold, and never claims a difference their per-image
spread does not support.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from colorlib import comparison, stats

REPO = Path(__file__).resolve().parents[1]

START, END = "<!-- results:start -->", "<!-- results:end -->"
SHOWN = [
    "CIEDE2000 ↓ [95% interval]",
    "CIEDE2000 min–max",
    "PSNR (dB) ↑",
    "SSIM ↑",
    "colourfulness / GT",
    "epoch kept",
    "training time (s)",
]
RANDOM_FEATURES = "†"


def shown(runs: dict) -> str:
    """The comparison table, a mark on each method whose perceptual loss had random features."""
    table = comparison.formatted(comparison.comparison_table(runs))[SHOWN]
    random = {e["title"] for _, _, e in comparison.compared(runs) if _random_features(e)}
    table.index = [f"{t} {RANDOM_FEATURES}" if t in random else t for t in table.index]
    return table.to_markdown()


def _random_features(entry: dict) -> bool:
    return "random" in str(entry.get("perceptual_features", "")).lower()


def facts(folder: Path, runs: dict) -> dict:
    record = next(iter(runs.values()))
    run_info = folder / "run.json"
    total = json.loads(run_info.read_text()).get("total_seconds") if run_info.exists() else None
    return {
        "train": len(record["split"]["train"]),
        "test": len(record["split"]["test"]),
        "images": sum(len(v) for v in record["split"].values()),
        "date": record["environment"]["date"],
        "hardware": record["environment"]["hardware"],
        "time": f"{total / 60:.1f} min" if total else "time not recorded",
        "link": os.path.relpath(folder, REPO),
    }


def _names(titles: list[str]) -> str:
    return "; ".join(titles) if titles else "none"


def against_gray(runs: dict) -> str:
    """Which methods beat gray, which lose, which cannot be told from it: by the spread."""
    diffs = comparison.against_gray(runs)
    gray = comparison.comparison_table(runs).loc["baseline: gray", "CIEDE2000 ↓"]
    better = [t for t, d in diffs.items() if d and d.supported and d.mean < 0]
    worse = [t for t, d in diffs.items() if d and d.supported and d.mean > 0]
    unknown = [t for t, d in diffs.items() if d is None]
    neither = [t for t in diffs if t not in {*better, *worse, *unknown}]
    images = max((d.pairs for d in diffs.values() if d), default=0)
    text = (
        f"against leaving the photographs gray (CIEDE2000 {gray:.2f}), "
        f"{len(better)} of the {len(diffs)} methods are better by more than the spread over the "
        f"{images} test images ({_names(better)}), {len(worse)} worse ({_names(worse)}) and "
        f"{len(neither)} cannot be told apart from gray (the 95% interval of the per-image "
        "difference includes 0)."
    )
    if unknown:
        text += f" No per-image scores were recorded for {_names(unknown)}: no claim on those."
    if 0 < images < stats.MIN_PAIRS:
        text += f" With {images} test images no difference is claimed at all."
    return text


def lowest(runs: dict) -> str:
    """The lowest mean CIEDE2000, and the methods whose per-image difference to it is within
    the spread (no ranking is claimed between those)."""
    methods = [r for r in comparison.rows(runs) if r.method is not None]
    best = min(methods, key=lambda r: r.metrics["ciede2000"])
    text = f"the lowest mean CIEDE2000 is {best.title}'s ({best.metrics['ciede2000']:.2f})"
    diffs = {r.title: comparison.paired(r, best) for r in methods if r is not best}
    if not diffs:
        return text
    if any(d is None for d in diffs.values()):
        return f"{text}; without per-image scores no ranking is claimed"
    tied = [
        f"{r.title} {r.metrics['ciede2000']:.2f}"
        for r in methods
        if r.title in diffs and not diffs[r.title].supported
    ]
    if tied:
        return f"{text}, not distinguishable from {_names(tied)}"
    return f"{text}, lower than every other method's beyond the spread"


def lab_vs_rgb(runs: dict) -> str:
    """The blog source's claim (Lab beats RGB) tested on the two Pix2Pix rows, each scored on
    its own output: words only as strong as the per-image spread allows."""
    by_method = {r.method: r for r in comparison.rows(runs) if r.method is not None}
    lab, rgb = by_method.get("pix2pix_lab"), by_method.get("pix2pix_rgb")
    diff = comparison.paired(lab, rgb) if lab and rgb else None
    if diff is None:
        return "Pix2Pix in Lab and in RGB were not both scored image by image: no claim"
    return (
        f"Pix2Pix (RGB), scored on its own output, averages {rgb.metrics['ciede2000']:.2f} and "
        f"Pix2Pix (Lab) {lab.metrics['ciede2000']:.2f}: Lab is "
        f"{stats.verdict(diff, other='Pix2Pix (RGB)')}"
    )


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def caveats(runs_by_name: dict[str, dict]) -> list[str]:
    """What the runs themselves say limits their numbers: random perceptual features (one note
    for the reports that share them), and each report's photos unlike its training set."""
    random: dict[tuple[str, str], list[str]] = {}
    elsewhere = []
    for name, runs in runs_by_name.items():
        for _, _, entry in comparison.compared(runs):
            if _random_features(entry):
                random.setdefault((entry["title"], entry["perceptual_features"]), []).append(name)
        ood = comparison.out_of_domain(runs)
        if ood is not None:
            elsewhere.append(f"**Models trained on {name}.** {ood[1]}")
    notes = [
        f"{RANDOM_FEATURES} On {_listed(names)}, the {title}'s perceptual loss ran on "
        f"{features}, not on ImageNet-trained VGG features."
        for (title, features), names in random.items()
    ]
    return notes + elsewhere


def section(
    kodak_dir: Path = REPO / "report" / "cpu-kodak24",
    faces_dir: Path = REPO / "report" / "cpu-faces",
    scenes_dir: Path = REPO / "report" / "cpu-bsds500",
) -> str:
    kodak, faces = comparison.load_runs(kodak_dir), comparison.load_runs(faces_dir)
    scenes = comparison.load_runs(scenes_dir)
    k, f, b = facts(kodak_dir, kodak), facts(faces_dir, faces), facts(scenes_dir, scenes)
    gpu = any(kodak_dir.parent.glob("gpu-*/*/metrics.json"))
    return "\n".join(
        [
            f"{k['test']} held-out photographs, scored at full resolution after training on "
            f"{k['train']}; from [{k['link']}]({k['link']}/README.md) ({k['hardware']}, "
            f"`make report`, {k['time']}, {k['date']}). In brackets the 95% bootstrap interval "
            "of the mean over the test images:",
            "",
            shown(kodak),
            "",
            f"On Kodak24, {against_gray(kodak)} One seed per method: the "
            "intervals cover the choice of test images, not the run-to-run drift of training.",
            "",
            f"On the {f['images']} faces ([{f['link']}]({f['link']}/README.md), {f['test']} "
            f"test faces of unseen subjects, {f['train']} training faces, {f['time']}), "
            f"{against_gray(faces)} There {lowest(faces)}; {lab_vs_rgb(faces)}.",
            "",
            f"On BSDS500's natural scenes ([{b['link']}]({b['link']}/README.md), the set's own "
            f"split: {b['test']} test scenes, {b['train']} training scenes, {b['time']}), "
            f"{against_gray(scenes)} There {lowest(scenes)}; {lab_vs_rgb(scenes)}.",
            "",
            "Portraits against scenes: notebook 07 trains ColorNet, the L1-only U-Net and "
            "Pix2Pix (Lab) on the faces and on BSDS500 alike and tests each on both and on "
            "Kodak24; its cross table and conclusions are in the section *Notebook "
            f"07_dataset_effect* of [{f['link']}]({f['link']}/README.md) and "
            f"[{b['link']}]({b['link']}/README.md).",
            "",
            *[
                f"{note}\n"
                for note in caveats({"Kodak24": kodak, "the faces": faces, "BSDS500": scenes})
            ],
            "These are small `cpu`-profile runs"
            + ("." if gpu else "; no `gpu`-profile report has been made (no GPU was available)."),
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
