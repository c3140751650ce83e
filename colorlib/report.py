"""The report: run every notebook with papermill, then assemble one comparison.

``run(profile, dataset)`` executes ``notebooks/NN_*.ipynb`` into ``report/<profile>-<dataset>/``
(each notebook's outputs in a folder of its own), skipping notebooks whose outputs are up to date,
and stops with the notebook and cell named when one fails. ``assemble(folder)`` reads their
``metrics.json`` files and writes ``README.md`` (renders on GitHub), ``report.html`` (one
self-contained page, images embedded), ``comparison.csv`` and the comparison figures.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pandas as pd
import papermill
from papermill.exceptions import PapermillExecutionError

from colorlib import data, profiles, viz
from colorlib.runs import save_png, write_json
from colorlib.workflow import read_previews

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
PACKAGE_DIR = Path(__file__).resolve().parent


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it, the cell, and the partly executed copy."""


@dataclass(frozen=True)
class Method:
    title: str
    notebook: str
    source: str
    account: str


# The report's methods, in the order of the course. Experiments and ablation runs stay in their
# notebooks' own tables.
METHODS: dict[str, Method] = {
    "regressor": Method(
        "Mean-chroma regressor",
        "02_mean_chroma_regressor",
        "faces-regressor-and-colornet",
        "Six strided 4x4 convolutions (32-512 channels) and a sigmoid predict an image's mean a*, "
        "b* from L; the image is painted with that one colour.",
    ),
    "colornet": Method(
        "ColorNet (early-stopped)",
        "03_colornet_early_stopping",
        "faces-regressor-and-colornet",
        "Three stride-2 convolutions (8, 32, 128) and three transposed convolutions back to a*b*, "
        "MSE, lr 0.01, ignite EarlyStopping (patience 5, at most 20 epochs).",
    ),
    "lab_gan": Method(
        "Lab GAN",
        "04_lab_gan",
        "lab-gan-and-pix2pix-flickr1024",
        "Residual encoder-decoder generator, strided-CNN discriminator, BCE with noisy labels plus "
        "1000 x MSE on a*b*, Adam lr 1e-4, beta1 0.5.",
    ),
    "pix2pix_lab": Method(
        "Pix2Pix (Lab)",
        "05_pix2pix",
        "pix2pix-lab-tutorial",
        "Recursive U-Net (1x1 bottleneck, dropout), 70x70 PatchGAN on L+ab, vanilla GAN + "
        "100 x L1, Adam 2e-4 (0.5, 0.999), N(0, 0.02) init.",
    ),
    "pix2pix_rgb": Method(
        "Pix2Pix (RGB)",
        "05_pix2pix",
        "lab-gan-and-pix2pix-flickr1024",
        "The same U-Net with InstanceNorm on gray-as-RGB in, RGB out; least-squares GAN + "
        "100 x L1. The blog source found it blurrier than Lab.",
    ),
    "unet_l1": Method(
        "U-Net, L1 only",
        "05_pix2pix",
        "pix2pix-lab-vs-rgb-blog",
        "The Lab Pix2Pix generator trained without a discriminator: what the adversary adds.",
    ),
    "sa_cgan": Method(
        "Self-attention cGAN",
        "06_self_attention_cgan",
        "self-attention-cgan",
        "U-Net generator with a SAGAN self-attention layer, PatchGAN, adversarial + 100 x L1 + "
        "10 x VGG16 perceptual loss.",
    ),
}

COLUMNS = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "ciede2000": "CIEDE2000 ↓",
    "colourfulness": "colourfulness",
    "colourfulness_ratio": "colourfulness / GT",
    "auc": "AuC ↑",
}


def notebooks(folder: Path = NOTEBOOK_DIR) -> list[Path]:
    found = sorted(folder.glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no notebooks in {folder}")
    return found


def report_dir(profile: str, dataset: str, root: str | Path = REPO / "report") -> Path:
    return Path(root) / f"{profile}-{Path(dataset).name}"


def _stamp(notebook: Path, parameters: dict) -> str:
    """Changes when the notebook, colorlib's code or the parameters change."""
    h = hashlib.sha256(notebook.read_bytes())
    for src in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(src.relative_to(PACKAGE_DIR).as_posix().encode())
        h.update(src.read_bytes())
    h.update(json.dumps(parameters, sort_keys=True).encode())
    return h.hexdigest()


def up_to_date(notebook: Path, out: Path, parameters: dict) -> bool:
    """True when this notebook ran to the end with these inputs and its models are still here."""
    folder = out / notebook.stem
    stamp = folder / "stamp.txt"
    return (
        stamp.exists()
        and stamp.read_text().strip() == _stamp(notebook, parameters)
        and (folder / "metrics.json").exists()
        and (out / notebook.name).exists()
        and all((folder / m / "model.pt").exists() for m in _methods_in(folder))
    )


def _methods_in(folder: Path) -> list[str]:
    return list(json.loads((folder / "metrics.json").read_text()).get("methods", {}))


def run(
    profile: str,
    dataset: str = "kodak24",
    *,
    root: str | Path = REPO / "report",
    only: Sequence[str] | None = None,
    force: bool = False,
    seed: int = 0,
    progress: bool = True,
    notebook_dir: Path = NOTEBOOK_DIR,
    log=print,
) -> Path:
    """Execute the notebooks (all, or those whose names start with one of `only`)."""
    if profile not in profiles.PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {profiles.PROFILES}")
    out = report_dir(profile, dataset, root)
    out.mkdir(parents=True, exist_ok=True)
    available = notebooks(notebook_dir)
    chosen = [nb for nb in available if not only or nb.name.startswith(tuple(only))]
    if not chosen:
        raise ValueError(
            f"no notebook matches {list(only or [])}; have {[n.name for n in available]}"
        )
    started = time.perf_counter()
    timings: dict[str, float] = {}
    for i, nb in enumerate(chosen, 1):
        params = {
            "PROGRESS": False,  # tqdm updates would flood the executed notebooks
            "PROFILE": profile,
            "DATASET": dataset,
            "SEED": seed,
            "OUT_DIR": str((out / nb.stem).resolve()),
        }
        tag = f"[{i}/{len(chosen)}] {nb.stem}"
        if not force and up_to_date(nb, out, params):
            log(f"{tag}: up to date, skipped")
            continue
        log(f"{tag}: running ({profile}, {dataset})")
        t0 = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(nb),
                str(out / nb.name),
                parameters=params,
                cwd=str(NOTEBOOK_DIR),
                kernel_name="python3",
                progress_bar=progress,
            )
        except PapermillExecutionError as err:
            raise NotebookFailed(
                # The cell as numbered in the executed copy (papermill's parameters cell counts).
                f"{nb.name} failed at cell In [{err.exec_count}] ({err.ename}: {err.evalue}). "
                f"The partly executed notebook is {out / nb.name}; fix the cause and rerun: "
                "finished notebooks are skipped and training resumes from its checkpoint."
            ) from err
        timings[nb.stem] = round(time.perf_counter() - t0, 1)
        (out / nb.stem / "stamp.txt").write_text(_stamp(nb, params) + "\n")
        log(f"{tag}: done in {timings[nb.stem]:.0f} s")
    total = round(time.perf_counter() - started, 1)
    if timings:
        # Merge, so rerunning one notebook keeps the others' times: the sum stays the time a
        # full run of these notebooks took.
        record = out / "run.json"
        seconds = json.loads(record.read_text())["notebook_seconds"] if record.exists() else {}
        seconds.update(timings)
        write_json(
            record,
            {
                "profile": profile,
                "dataset": dataset,
                "seed": seed,
                "notebook_seconds": seconds,
                "total_seconds": round(sum(seconds.values()), 1),
            },
        )
    log(f"notebooks finished in {total:.0f} s; assembling {out / 'README.md'}")
    assemble(out)
    return out


# --- assembling --------------------------------------------------------------------------------


def _load_metrics(out: Path) -> dict[str, dict]:
    found = {}
    for path in sorted(out.glob("*/metrics.json")):
        found[path.parent.name] = json.loads(path.read_text())
    if not found:
        raise FileNotFoundError(f"no */metrics.json under {out}: run the notebooks first")
    return found


def comparison_table(runs: dict[str, dict]) -> pd.DataFrame:
    """Baselines and every method of METHODS that ran, with time, size and epochs."""
    first = next(iter(runs.values()))
    rows: dict[str, dict] = {}
    for name, scores in first["baselines"].items():
        rows[f"baseline: {name}"] = {
            **scores,
            "train_seconds": None,
            "parameters": None,
            "epochs_run": None,
        }
    for key, method in METHODS.items():
        run_ = runs.get(method.notebook)
        if run_ is None or key not in run_["methods"]:
            continue
        entry = run_["methods"][key]
        rows[method.title] = {
            **entry["metrics"],
            "train_seconds": entry.get("train_seconds"),
            "parameters": entry.get("parameters"),
            "epochs_run": entry.get("epochs_run"),
        }
    table = pd.DataFrame(rows).T
    keep = [*COLUMNS, "train_seconds", "parameters", "epochs_run"]
    table = table[keep].rename(
        columns={
            **COLUMNS,
            "train_seconds": "training time (s)",
            "parameters": "parameters",
            "epochs_run": "epochs run",
        }
    )
    return table


def _format(table: pd.DataFrame) -> pd.DataFrame:
    formats = {
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
    shown = table.copy().astype(object)
    for col, fmt in formats.items():
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


def _grid(out: Path, runs: dict[str, dict]):
    """The same held-out images: gray input, each method, ground truth."""
    any_run = next(iter(runs.values()))
    names = any_run["split"]["test"][:6]
    base = out / next(iter(runs)) / "predictions"
    rows = {"gray input": read_previews(base / "gray", names)}
    for key, method in METHODS.items():
        folder = out / method.notebook / "predictions" / key
        if folder.exists():
            rows[method.title] = read_previews(folder, names)
    rows["ground truth"] = read_previews(base / "ground_truth", names)
    return viz.image_grid(rows, col_titles=[Path(n).stem for n in names], cell=1.8)


FIGURES = [  # (notebook, figure file, caption)
    ("02_mean_chroma_regressor", "regressor_loss", "Regressor: training and validation MSE"),
    ("02_mean_chroma_regressor", "regressor_scatter", "Regressor: predicted vs true mean a*, b*"),
    ("03_colornet_early_stopping", "colornet_early_stopping", "ColorNet: early stopping"),
    ("04_lab_gan", "lab_gan_losses", "Lab GAN: D and G losses"),
    ("05_pix2pix", "pix2pix_lab_losses", "Pix2Pix (Lab): D and G losses"),
    ("05_pix2pix", "pix2pix_rgb_losses", "Pix2Pix (RGB): D and G losses"),
    ("05_pix2pix", "pix2pix_lab_snapshots", "Pix2Pix (Lab): fixed images over epochs"),
    ("06_self_attention_cgan", "sa_cgan_losses", "SA-cGAN: L1 and perceptual terms"),
    ("06_self_attention_cgan", "attention_maps", "SA-cGAN: attention from three query points"),
]


# Figures that show the dataset's photographs (the others are plots).
PHOTO_FIGURES = frozenset({"pix2pix_lab_snapshots", "attention_maps"})


def photos_shareable(dataset: str) -> bool:
    """Whether a report may show the dataset's images: not for a registry dataset that is
    downloaded rather than shipped (the faces: no licence, identifiable people)."""
    spec = data.DATASETS.get(dataset)
    return spec is None or spec.embedded


def assemble(out: str | Path) -> Path:
    """Write README.md, report.html, comparison.csv and figures/ in `out`."""
    out = Path(out)
    runs = _load_metrics(out)
    table = comparison_table(runs)
    table.to_csv(out / "comparison.csv")
    shown = _format(table)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    photos = photos_shareable(next(iter(runs.values()))["dataset"])
    # The grid is made either way: a local reader may look; only the report text leaves it out.
    save_png(_grid(out, runs), figures / "comparison_grid.png", dpi=100)
    scores = table.drop(columns=["training time (s)", "parameters", "epochs run"]).astype(float)
    bars = viz.metric_bars(scores, ["CIEDE2000 ↓", "PSNR (dB) ↑", "colourfulness / GT"])
    save_png(bars, figures / "comparison_bars.png")

    env = next(iter(runs.values()))["environment"]
    first = next(iter(runs.values()))
    run_info = json.loads((out / "run.json").read_text()) if (out / "run.json").exists() else {}
    wall = sum(r["wall_seconds"] for r in runs.values())
    facts = [
        f"**Profile** `{first['profile']}` · **dataset** `{first['dataset']}` · **seed** "
        f"{first['seed']} · test images: {len(first['split']['test'])} (scored at full "
        f"resolution), training images: {len(first['split']['train'])}",
        f"**Hardware** {env['hardware']} ({env['device']}) · Python {env['python']}, torch "
        f"{env['torch']}, torchvision {env['torchvision']}, ignite {env['ignite']} · "
        f"**date** {env['date']}",
        f"**Time** notebooks' own wall time {wall / 60:.1f} min"
        + (
            f"; papermill time of all notebooks {run_info['total_seconds'] / 60:.1f} min"
            if run_info.get("total_seconds")
            else ""
        ),
    ]
    found = findings(table)
    sections = _sections(out, runs, found, photos)
    no_photos = (
        "This dataset's images are not shown or committed (no licence, identifiable people): "
        "the grid, the examples and the executed notebooks stay on the machine that ran the "
        "report."
    )

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
        else f"*{no_photos}*",
        "",
        "![Metrics by method](figures/comparison_bars.png)",
        "",
    ]
    for title, body, images in sections:
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
    _write_html(out, facts, shown, sections, photos)
    return out / "README.md"


def _sections(
    out: Path, runs: dict, found: dict[str, str], photos: bool = True
) -> list[tuple[str, str, list]]:
    shown = [(nb, fig, cap) for nb, fig, cap in FIGURES if photos or fig not in PHOTO_FIGURES]
    sections = []
    for key, method in METHODS.items():
        if method.title not in found:
            continue
        text = (
            f"*Source:* `{method.source}`, notebook `{method.notebook}`. {method.account}\n\n"
            f"*Our run:* {found[method.title]}"
        )
        entry = runs[method.notebook]["methods"][key]
        if entry.get("stopped_early"):
            text += f" Early stopping ended training after epoch {entry['epochs_run']}."
        if entry.get("perceptual_features"):
            text += f" Perceptual features: {entry['perceptual_features']}."
        images = [
            (f"{nb}/figures/{fig}.png", cap)
            for nb, fig, cap in shown
            if nb == method.notebook
            and (out / nb / "figures" / f"{fig}.png").exists()
            and fig.startswith(key.split("_")[0])
        ]
        sections.append((method.title, text, images))
    extra = []
    for nb, fig, cap in shown:
        path = out / nb / "figures" / f"{fig}.png"
        if path.exists() and not any(
            f"{nb}/figures/{fig}.png" == r for _, _, im in sections for r, _ in im
        ):
            extra.append((f"{nb}/figures/{fig}.png", cap))
    if extra:
        sections.append(("More figures", "", extra))
    return sections


def _write_html(
    out: Path, facts: list[str], shown: pd.DataFrame, sections, photos: bool = True
) -> Path:
    """One self-contained page: a notebook of markdown and embedded PNGs through nbconvert."""
    from nbconvert import HTMLExporter
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
    from PIL import Image

    def png_cell(path: Path, caption: str):
        # JPEG inside the page: the same figure at a fraction of the PNG's size.
        jpeg = io.BytesIO()
        Image.open(path).convert("RGB").save(jpeg, format="JPEG", quality=85)
        data = base64.b64encode(jpeg.getvalue()).decode()
        cell = new_code_cell("")
        cell.outputs = [
            new_output("display_data", data={"image/jpeg": data, "text/plain": caption})
        ]
        return cell

    cells = [
        new_markdown_cell("# Colorization report\n\n" + "\n".join(f"- {f}" for f in facts)),
        new_markdown_cell("## Comparison\n\n" + shown.to_markdown()),
    ]
    if photos:
        cells.append(png_cell(out / "figures" / "comparison_grid.png", "comparison grid"))
    cells.append(png_cell(out / "figures" / "comparison_bars.png", "metric bars"))
    for title, body, images in sections:
        cells.append(new_markdown_cell(f"## {title}\n\n{body}"))
        cells += [png_cell(out / rel, cap) for rel, cap in images]
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
