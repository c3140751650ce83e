"""The report's pages, assembled from the run folders' records.

Each notebook's ``metrics.json`` records its methods (title, source write-up, one-line account,
scores, per-image scores) and its figures and tables (file, caption, the method they belong
to). `assemble` reads those records, nothing else, and writes ``README.md`` (renders on GitHub),
``report.html`` (one self-contained page, see `colorlib.report_html`), ``comparison.csv``,
``per_image_ciede2000.csv`` and the comparison figures. The numbers and the sentences that
judge them come from `colorlib.comparison`; this module lays them out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from colorlib import data, stats, viz
from colorlib.comparison import (
    COLUMNS,
    METRICS_NOTE,
    against_gray,
    compared,
    comparison_table,
    findings,
    formatted,
    interval,
    load_runs,
    out_of_domain,
    per_image_markdown,
    per_image_table,
    rows,
)
from colorlib.report_html import Block, write_html
from colorlib.runs import RunFolder, save_png

__all__ = ["assemble", "keep_photos_private", "load_runs", "photos_shareable", "sections"]

NO_PHOTOS = (
    "This dataset's images are not shown or committed (no licence for redistribution, or "
    "identifiable people): the grid, the examples and the executed notebooks stay on the machine "
    "that ran the report."
)


def photos_shareable(dataset: str) -> bool:
    """Whether a report may show the dataset's images: not for a registry dataset that is
    downloaded rather than shipped (no licence to redistribute, or identifiable people)."""
    spec = data.DATASETS.get(dataset)
    return spec is None or spec.embedded


PRIVATE = ".gitignore"


def keep_photos_private(out: Path, runs: dict[str, dict[str, Any]] | None = None) -> Path:
    """Write ``out/.gitignore`` so git never takes this report's photographs: the executed
    notebooks, the prediction previews, the grid and every figure recorded as a photo (before
    the notebooks have run, when nothing is recorded yet: every figure)."""
    lines = [
        "# Written by colorlib: this dataset's photos may not be shared (see the report).",
        "*.ipynb",
        "*/predictions/",
        "figures/comparison_grid.png",
    ]
    if runs is None:
        lines.append("*/figures/")
    else:
        lines += [
            f"{nb}/{fig['file']}"
            for nb, record in runs.items()
            for fig in record["figures"].values()
            if fig["photo"]
        ]
    path = out / PRIVATE
    path.write_text("\n".join(lines) + "\n")
    return path


def _grid(out: Path, runs: dict[str, dict[str, Any]]):
    """The same held-out images: gray input, each method with previews, ground truth."""
    first_nb, first = next(iter(runs.items()))
    names = first["split"]["test"][:6]
    base = RunFolder(out / first_nb)
    grid = {"gray input": base.read_previews("gray", names)}
    for nb, method, entry in compared(runs):
        folder = RunFolder(out / nb)
        if folder.preview_file(method, names[0]).exists():
            grid[entry["title"]] = folder.read_previews(method, names)
    grid["ground truth"] = base.read_previews("ground_truth", names)
    return viz.image_grid(grid, col_titles=[Path(n).stem for n in names], cell=1.8)


# A section: (title, markdown body, [(image path relative to out, caption)]).
Section = tuple[str, str, list[tuple[str, str]]]


def _owned(record: dict, kind: str, method: str | None) -> list[dict]:
    """The figures or tables of `record` that belong to `method`; for None, those of the
    notebook as a whole and of its experiments left out of the comparison."""
    mine = {m for m, e in record["methods"].items() if e.get("compare", True)}
    return [
        item
        for item in record[kind].values()
        if item["method"] == method or (method is None and item["method"] not in mine)
    ]


def _shown(nb: str, record: dict, method: str | None, photos: bool) -> list[tuple[str, str]]:
    figures = _owned(record, "figures", method)
    return [(f"{nb}/{f['file']}", f["caption"]) for f in figures if photos or not f["photo"]]


def _tables(out: Path, nb: str, record: dict, method: str | None) -> str:
    parts = []
    for table in _owned(record, "tables", method):
        frame = pd.read_csv(out / nb / table["file"], index_col=0)
        parts += [f"*{table['caption']}*", "", frame.to_markdown(), ""]
    return "\n".join(parts)


def _run_notes(entry: dict, titles: dict[str, str]) -> str:
    notes = []
    if "variant_of" in entry:
        parent = titles.get(entry["variant_of"], entry["variant_of"])
        notes.append(f"A variant of {parent}: no training of its own.")
    if entry.get("stopped_early"):
        notes.append(f"Early stopping ended training after epoch {entry['epochs_run']}.")
    kept = entry.get("kept_epoch", entry.get("best_epoch"))
    if kept is not None:
        why = f" ({entry['kept_by']})" if entry.get("kept_by") else ""
        notes.append(f"The weights kept are those of epoch {kept}{why}.")
    if entry.get("perceptual_features"):
        notes.append(f"Perceptual features: {entry['perceptual_features']}.")
    return " ".join(notes)


def sections(out: Path, runs: dict, found: dict[str, str], photos: bool) -> list[Section]:
    """One section per compared method, then one per notebook for what belongs to no method."""
    titles = {method: entry["title"] for _, method, entry in compared(runs)}
    ood = against_gray(runs, "out_of_domain")
    out_sections: list[Section] = []
    for nb, method, entry in compared(runs):
        record = runs[nb]
        text = (
            f"*Source:* `{entry['source']}`, notebook `{nb}`. {entry['account']}\n\n"
            f"*Our run:* {found[entry['title']]} {_run_notes(entry, titles)}".rstrip()
        )
        if ood.get(entry["title"]):
            verdict = stats.verdict(ood[entry["title"]], "better than", "worse than", "gray")
            text += f" On the photos unlike the training set: {verdict}."
        tables = _tables(out, nb, record, method)
        body = text + ("\n\n" + tables if tables else "")
        out_sections.append((entry["title"], body, _shown(nb, record, method, photos)))
    for nb, record in runs.items():
        images = _shown(nb, record, None, photos)
        tables = _tables(out, nb, record, None)
        if images or tables:
            out_sections.append((f"Notebook {nb}", tables, images))
    return out_sections


def _figures(out: Path, runs: dict, table: pd.DataFrame, photos: bool) -> list[Block]:
    """Draw the comparison figures into ``out/figures`` and return them as blocks."""
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    # The grid is made either way: a local reader may look; only the report text leaves it out.
    save_png(_grid(out, runs), figures / "comparison_grid.png", dpi=100)
    found = rows(runs)
    shown = ["CIEDE2000 ↓", "PSNR (dB) ↑", "colourfulness / GT"]
    spans = {
        COLUMNS[k]: np.array([interval(r, k) for r in found]).T
        for k in ("ciede2000", "psnr", "colourfulness_ratio")
    }
    scores = table[shown].astype(float)
    save_png(viz.metric_bars(scores, shown, spans), figures / "comparison_bars.png")
    blocks: list[Block] = []
    if photos:
        blocks.append(("figure", "figures/comparison_grid.png", "The same test images by method"))
    else:
        blocks.append(("text", f"*{NO_PHOTOS}*", ""))
    blocks.append(("figure", "figures/comparison_bars.png", "Mean scores with 95% intervals"))
    frame = per_image_table(runs)
    if "gray" in frame and len(frame.columns) > 2:
        diffs = frame.drop(columns=["gray", "mean_ab"], errors="ignore").sub(frame["gray"], axis=0)
        save_png(viz.per_image_differences(diffs), figures / "per_image_differences.png")
        caption = "CIEDE2000 of each test image minus gray's, by method (left of 0: better)"
        blocks.append(("figure", "figures/per_image_differences.png", caption))
    return blocks


def assemble(out: str | Path) -> Path:
    """Write README.md, report.html, comparison.csv, per_image_ciede2000.csv and figures/."""
    out = Path(out)
    runs = load_runs(out)
    table = comparison_table(runs)
    table.to_csv(out / "comparison.csv")
    per_image_table(runs).to_csv(out / "per_image_ciede2000.csv")
    first = next(iter(runs.values()))
    photos = photos_shareable(first["dataset"])
    if not photos:
        keep_photos_private(out, runs)
    env = first["environment"]
    run_info = out / "run.json"
    total = json.loads(run_info.read_text()).get("total_seconds") if run_info.exists() else None
    wall = sum(r["wall_seconds"] for r in runs.values())
    title = f"Colorization report: {first['profile']} on {first['dataset']}"
    facts = [
        f"**Profile** `{first['profile']}` · **dataset** `{first['dataset']}` · **seed** "
        f"{first['seed']} · test images: {len(first['split']['test'])} (scored at full "
        f"resolution), training images: {len(first['split']['train'])}",
        f"**Hardware** {env['hardware']} ({env['device']}) · Python {env['python']}, torch "
        f"{env['torch']}, torchvision {env['torchvision']}, ignite {env['ignite']} · "
        f"**date** {env['date']}",
        f"**Time** notebooks' own wall time {wall / 60:.1f} min"
        + (f"; papermill time of all notebooks {total / 60:.1f} min" if total else ""),
    ]
    head = [f"# {title}", "", *[f"- {f}" for f in facts], "", "## Comparison", ""]
    blocks: list[Block] = [
        ("text", "\n".join([*head, formatted(table).to_markdown(), "", METRICS_NOTE]), "")
    ]
    blocks += _figures(out, runs, table, photos)
    if not per_image_table(runs).empty:
        blocks.append(
            (
                "text",
                "## CIEDE2000 of each test image\n\nLower is better; the last row counts the "
                f"images on which each method is better than gray.\n\n{per_image_markdown(runs)}",
                "",
            )
        )
    ood = out_of_domain(runs)
    if ood is not None:
        blocks.append(("text", f"## Photos unlike the training set\n\n{ood[1]}\n\n{ood[0]}", ""))
    for heading, body, images in sections(out, runs, findings(runs), photos):
        blocks.append(("text", f"## {heading}\n\n{body}", ""))
        blocks += [("figure", rel, cap) for rel, cap in images]
    notebooks = [
        f"- [{p.name}]({p.name})" if photos else f"- {p.name} (local only)"
        for p in sorted(out.glob("[0-9][0-9]_*.ipynb"))
    ]
    blocks.append(("text", "\n".join(["## Notebooks", "", *notebooks]), ""))
    md = [text if kind == "text" else f"![{cap}]({text})" for kind, text, cap in blocks]
    (out / "README.md").write_text("\n\n".join(md) + "\n")
    write_html(out, title, blocks)
    return out / "README.md"
