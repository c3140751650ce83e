"""The report's pages, assembled from the run folders' records.

Each notebook's ``metrics.json`` records its methods (title, source write-up, one-line account,
scores) and its figures and tables (file, caption, the method they belong to). `assemble` reads
those records, nothing else, and writes ``README.md`` (renders on GitHub), ``report.html`` (one
self-contained page, images embedded), ``comparison.csv`` and the comparison figures.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import pandas as pd

from colorlib import data, viz
from colorlib.errors import UserError
from colorlib.runs import RunFolder, save_png

COLUMNS = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "ciede2000": "CIEDE2000 ↓",
    "colourfulness": "colourfulness",
    "colourfulness_ratio": "colourfulness / GT",
    "auc": "AuC ↑",
}
EXTRA = {
    "train_seconds": "training time (s)",
    "parameters": "parameters",
    "epochs_run": "epochs run",
}
FORMATS = {
    "PSNR (dB) ↑": "{:.2f}",
    "SSIM ↑": "{:.3f}",
    "CIEDE2000 ↓": "{:.2f}",
    "colourfulness": "{:.1f}",
    "colourfulness / GT": "{:.2f}",
    "AuC ↑": "{:.3f}",
    "training time (s)": "{:.0f}",
    "parameters": "{:,.0f}",
    "epochs run": "{:.0f}",
}
NO_PHOTOS = (
    "This dataset's images are not shown or committed (no licence for redistribution, or "
    "identifiable people): the grid, the examples and the executed notebooks stay on the machine "
    "that ran the report."
)


def load_runs(out: str | Path) -> dict[str, dict[str, Any]]:
    """Every notebook's record under `out`, by notebook, in the course's order."""
    out = Path(out)
    found = {p.parent.name: RunFolder(p.parent).read_metrics() for p in out.glob("*/metrics.json")}
    if not found:
        raise UserError(f"{out} holds no notebook results (no */metrics.json): run the report")
    return dict(sorted(found.items()))


def compared(runs: dict[str, dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    """(notebook, method, entry) of every method recorded for the comparison, in order."""
    return [
        (nb, method, entry)
        for nb, record in runs.items()
        for method, entry in record["methods"].items()
        if entry.get("compare", True)
    ]


def comparison_table(runs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Baselines and every compared method, with training time, size and epochs."""
    first = next(iter(runs.values()))
    rows: dict[str, dict] = {f"baseline: {name}": dict(s) for name, s in first["baselines"].items()}
    for _, _, entry in compared(runs):
        rows[entry["title"]] = {**entry["metrics"], **{k: entry.get(k) for k in EXTRA}}
    table = pd.DataFrame(rows).T.reindex(columns=[*COLUMNS, *EXTRA])
    return table.rename(columns={**COLUMNS, **EXTRA})


def _format(table: pd.DataFrame) -> pd.DataFrame:
    shown = table.copy().astype(object)
    for col, fmt in FORMATS.items():
        shown[col] = [("—" if pd.isna(v) else fmt.format(float(v))) for v in table[col]]
    return shown


def findings(table: pd.DataFrame) -> dict[str, str]:
    """One sentence per method, from the numbers: against gray, and how vivid."""
    gray = table.loc["baseline: gray"]
    out = {}
    for title in table.index:
        if title.startswith("baseline"):
            continue
        row = table.loc[title]
        d = gray["CIEDE2000 ↓"] - row["CIEDE2000 ↓"]
        verdict = "better than" if d > 0 else "worse than"
        out[title] = (
            f"CIEDE2000 {row['CIEDE2000 ↓']:.2f} against {gray['CIEDE2000 ↓']:.2f} for gray "
            f"({verdict} gray by {abs(d):.2f}); PSNR {row['PSNR (dB) ↑']:.2f} dB; colourfulness "
            f"{row['colourfulness / GT']:.2f} of the ground truth's."
        )
    return out


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
    """The same held-out images: gray input, each method, ground truth."""
    first_nb, first = next(iter(runs.items()))
    names = first["split"]["test"][:6]
    base = RunFolder(out / first_nb)
    rows = {"gray input": base.read_previews("gray", names)}
    for nb, method, entry in compared(runs):
        rows[entry["title"]] = RunFolder(out / nb).read_previews(method, names)
    rows["ground truth"] = base.read_previews("ground_truth", names)
    return viz.image_grid(rows, col_titles=[Path(n).stem for n in names], cell=1.8)


# A section: (title, markdown body, [(image path relative to out, caption)]).
Section = tuple[str, str, list[tuple[str, str]]]


def _shown(nb: str, record: dict, method: str | None, photos: bool) -> list[tuple[str, str]]:
    return [
        (f"{nb}/{fig['file']}", fig["caption"])
        for fig in record["figures"].values()
        if fig["method"] == method and (photos or not fig["photo"])
    ]


def _tables(out: Path, nb: str, record: dict, method: str | None) -> str:
    parts = []
    for table in record["tables"].values():
        if table["method"] == method:
            frame = pd.read_csv(out / nb / table["file"], index_col=0)
            parts += [f"*{table['caption']}*", "", frame.to_markdown(), ""]
    return "\n".join(parts)


def sections(out: Path, runs: dict, found: dict[str, str], photos: bool) -> list[Section]:
    """One section per compared method, then one per notebook for what belongs to no method."""
    out_sections: list[Section] = []
    for nb, method, entry in compared(runs):
        record = runs[nb]
        text = (
            f"*Source:* `{entry['source']}`, notebook `{nb}`. {entry['account']}\n\n"
            f"*Our run:* {found[entry['title']]}"
        )
        if entry.get("stopped_early"):
            text += f" Early stopping ended training after epoch {entry['epochs_run']}."
        if entry.get("best_epoch") is not None:
            text += f" The weights kept are those of epoch {entry['best_epoch']}."
        if entry.get("perceptual_features"):
            text += f" Perceptual features: {entry['perceptual_features']}."
        tables = _tables(out, nb, record, method)
        body = text + ("\n\n" + tables if tables else "")
        out_sections.append((entry["title"], body, _shown(nb, record, method, photos)))
    for nb, record in runs.items():
        images = _shown(nb, record, None, photos)
        tables = _tables(out, nb, record, None)
        if images or tables:
            out_sections.append((f"Notebook {nb}", tables, images))
    return out_sections


def assemble(out: str | Path) -> Path:
    """Write README.md, report.html, comparison.csv and figures/ in `out`."""
    out = Path(out)
    runs = load_runs(out)
    table = comparison_table(runs)
    table.to_csv(out / "comparison.csv")
    shown = _format(table)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    first = next(iter(runs.values()))
    photos = photos_shareable(first["dataset"])
    if not photos:
        keep_photos_private(out, runs)
    # The grid is made either way: a local reader may look; only the report text leaves it out.
    save_png(_grid(out, runs), figures / "comparison_grid.png", dpi=100)
    scores = table.drop(columns=list(EXTRA.values())).astype(float)
    bars = viz.metric_bars(scores, ["CIEDE2000 ↓", "PSNR (dB) ↑", "colourfulness / GT"])
    save_png(bars, figures / "comparison_bars.png")

    env = first["environment"]
    run_info = out / "run.json"
    total = json.loads(run_info.read_text()).get("total_seconds") if run_info.exists() else None
    wall = sum(r["wall_seconds"] for r in runs.values())
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
    found = findings(table)
    parts = sections(out, runs, found, photos)
    md = [
        "# Colorization report",
        "",
        *[f"- {f}" for f in facts],
        "",
        "## Comparison",
        "",
        shown.to_markdown(),
        "",
        "Metrics: per test image at full resolution, then averaged. CIEDE2000 is the mean "
        "per-pixel colour difference; colourfulness is Hasler and Süsstrunk's M3; AuC is the "
        "area under the CDF of per-pixel ab error for thresholds 0-150 (Zhang et al. 2016).",
        "",
        "![The same held-out images by every method](figures/comparison_grid.png)"
        if photos
        else f"*{NO_PHOTOS}*",
        "",
        "![Metrics by method](figures/comparison_bars.png)",
        "",
    ]
    for title, body, images in parts:
        md += [f"## {title}", "", body, ""]
        md += [f"![{cap}]({rel})" for rel, cap in images]
        md.append("")
    md += [
        "## Notebooks",
        "",
        *[
            f"- [{p.name}]({p.name})" if photos else f"- {p.name} (local only)"
            for p in sorted(out.glob("[0-9][0-9]_*.ipynb"))
        ],
        "",
    ]
    (out / "README.md").write_text("\n".join(md))
    _write_html(out, facts, shown, parts, photos)
    return out / "README.md"


def _write_html(
    out: Path, facts: list[str], shown: pd.DataFrame, parts: list[Section], photos: bool
) -> Path:
    """One self-contained page: a notebook of markdown and embedded images through nbconvert."""
    import nbformat
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    from PIL import Image

    def image_cell(path: Path, caption: str):
        # JPEG inside the page: the same figure at a fraction of the PNG's size.
        jpeg = io.BytesIO()
        Image.open(path).convert("RGB").save(jpeg, format="JPEG", quality=85)
        encoded = base64.b64encode(jpeg.getvalue()).decode()
        cell = new_code_cell("")
        cell.outputs = [
            new_output("display_data", data={"image/jpeg": encoded, "text/plain": caption})
        ]
        return cell

    cells = [
        new_markdown_cell("# Colorization report\n\n" + "\n".join(f"- {f}" for f in facts)),
        new_markdown_cell("## Comparison\n\n" + shown.to_markdown()),
    ]
    if photos:
        cells.append(image_cell(out / "figures" / "comparison_grid.png", "comparison grid"))
    else:
        cells.append(new_markdown_cell(f"*{NO_PHOTOS}*"))
    cells.append(image_cell(out / "figures" / "comparison_bars.png", "metric bars"))
    for title, body, images in parts:
        cells.append(new_markdown_cell(f"## {title}\n\n{body}"))
        cells += [image_cell(out / rel, cap) for rel, cap in images]
    nb = new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
    )
    exporter = HTMLExporter()
    exporter.exclude_input = True
    exporter.exclude_input_prompt = True
    exporter.exclude_output_prompt = True
    html, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    path = out / "report.html"
    path.write_text(html)
    return path
