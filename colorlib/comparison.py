"""The numbers of the report's comparison, from the run folders' records.

Each notebook's ``metrics.json`` holds its methods' mean scores and per-image scores, and the
baselines' (gray, mean-ab) on the same images. Here they become the comparison table (every
mean with its bootstrap interval), the per-image table, the out-of-domain table and the
sentences that compare each method with gray: a difference is claimed only where the paired
per-image interval excludes 0 (`colorlib.stats`). `colorlib.assemble` lays them out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from colorlib import stats
from colorlib.errors import UserError
from colorlib.runs import RunFolder

COLUMNS = {
    "ciede2000": "CIEDE2000 ↓",
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "colourfulness": "colourfulness",
    "colourfulness_ratio": "colourfulness / GT",
    "auc": "AuC ↑",
}
CIEDE, LOW, HIGH = "CIEDE2000 ↓", "CIEDE2000 95% low", "CIEDE2000 95% high"
SPREAD = [LOW, HIGH, "CIEDE2000 min", "CIEDE2000 max"]
TRAINING = ["epoch kept", "epochs run", "kept by", "parameters", "training time (s)"]
FORMATS = {
    "PSNR (dB) ↑": "{:.2f}",
    "SSIM ↑": "{:.3f}",
    "colourfulness": "{:.1f}",
    "colourfulness / GT": "{:.2f}",
    "AuC ↑": "{:.3f}",
    "parameters": "{:,.0f}",
    "training time (s)": "{:.0f}",
}
METRICS_NOTE = (
    "Metrics: per test image at full resolution, then averaged. CIEDE2000 is the mean per-pixel "
    "colour difference; colourfulness is Hasler and Süsstrunk's M3; AuC is the area under the CDF "
    "of per-pixel ab error for thresholds 0-150 (Zhang et al. 2016). In brackets: the 95% "
    "bootstrap interval of the mean over the test images (2000 resamples, fixed seed). A method "
    "is called better or worse than gray only when the 95% interval of its per-image difference "
    f"to gray (method - gray, paired image by image) excludes 0 on at least {stats.MIN_PAIRS} "
    "images."
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


@dataclass(frozen=True)
class Row:
    """One line of a comparison: a baseline (method None) or a method, with its scores."""

    title: str
    metrics: dict[str, float]
    per_image: dict[str, list] | None
    notebook: str
    method: str | None = None
    entry: dict[str, Any] = field(default_factory=dict)

    def values(self, metric: str = "ciede2000") -> dict[str, float]:
        """The per-image scores of `metric`, by image name (empty when none were recorded)."""
        if not self.per_image or metric not in self.per_image:
            return {}
        return dict(zip(self.per_image["names"], self.per_image[metric], strict=True))


def baseline_rows(runs: dict, notebook: str, where: str = "test") -> dict[str, Row]:
    """Gray and mean-ab as `notebook` scored them, on its test images ("test") or on the
    photos unlike the training set ("out_of_domain")."""
    record = runs[notebook]
    if where == "test":
        per_image = record.get("baselines_per_image", {})
        scores = {k: (m, per_image.get(k)) for k, m in record["baselines"].items()}
    else:
        ood = record.get("out_of_domain_baselines", {})
        scores = {k: (v["metrics"], v.get("per_image")) for k, v in ood.items()}
    return {k: Row(f"baseline: {k}", m, pi, notebook) for k, (m, pi) in scores.items()}


def rows(runs: dict, where: str = "test") -> list[Row]:
    """Baselines (from the first notebook that scored them `where`; every notebook trains on
    the same images) and every compared method scored `where`."""
    key = "baselines" if where == "test" else "out_of_domain_baselines"
    first = next((nb for nb, record in runs.items() if key in record), None)
    found = list(baseline_rows(runs, first, where).values()) if first else []
    for nb, method, entry in compared(runs):
        scores = entry if where == "test" else entry.get("out_of_domain")
        if scores:
            per_image = scores.get("per_image")
            found.append(Row(entry["title"], scores["metrics"], per_image, nb, method, entry))
    return found


def paired(a: Row, b: Row, metric: str = "ciede2000") -> stats.Difference | None:
    """`a` - `b` image by image over the images both scored (None: no per-image scores)."""
    mine, theirs = a.values(metric), b.values(metric)
    names = [n for n in theirs if n in mine]
    return stats.compare([mine[n] for n in names], [theirs[n] for n in names]) if names else None


def against_gray(
    runs: dict, where: str = "test", metric: str = "ciede2000"
) -> dict[str, stats.Difference | None]:
    """Each method's `paired` difference to gray (method - gray), gray as the method's own
    notebook scored it."""
    out: dict[str, stats.Difference | None] = {}
    for row in rows(runs, where):
        if row.method is not None:
            gray = baseline_rows(runs, row.notebook, where).get("gray")
            out[row.title] = paired(row, gray, metric) if gray else None
    return out


def interval(row: Row, metric: str) -> tuple[float, float]:
    """The 95% bootstrap interval of `row`'s mean `metric` (NaN, NaN without per-image scores);
    colourfulness_ratio's is colourfulness's over the ground truth's mean."""
    gt = row.metrics.get("colourfulness_gt") or math.nan
    scale = 1 / gt if metric == "colourfulness_ratio" else 1.0
    values = row.values("colourfulness" if metric == "colourfulness_ratio" else metric)
    if not values:
        return math.nan, math.nan
    lo, hi = stats.bootstrap_interval(list(values.values()))
    return lo * scale, hi * scale


def _training(row: Row, titles: dict[str, str]) -> dict[str, Any]:
    entry = row.entry
    kept = entry.get("kept_epoch", entry.get("best_epoch"))
    kept_by = entry.get("kept_by")
    if "variant_of" in entry:
        parent = titles.get(entry["variant_of"], entry["variant_of"])
        kept_by = f"the weights of {parent}"
    return {
        "epoch kept": kept,
        "epochs run": entry.get("epochs_run"),
        "kept by": kept_by,
        "parameters": entry.get("parameters"),
        "training time (s)": entry.get("train_seconds"),
    }


def comparison_table(runs: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """Baselines and every compared method: mean scores, CIEDE2000's interval and range over
    the test images, the epoch kept and why, size and training time (numbers, for the CSV)."""
    titles = {method: entry["title"] for _, method, entry in compared(runs)}
    table = {}
    for row in rows(runs):
        ciede = list(row.values().values())
        table[row.title] = {
            **{label: row.metrics.get(key) for key, label in COLUMNS.items()},
            **dict(zip(SPREAD[:2], interval(row, "ciede2000"), strict=True)),
            "CIEDE2000 min": min(ciede) if ciede else math.nan,
            "CIEDE2000 max": max(ciede) if ciede else math.nan,
            **_training(row, titles),
        }
    return pd.DataFrame(table).T.reindex(columns=[*COLUMNS.values(), *SPREAD, *TRAINING])


def _number(value: Any, fmt: str = "{:.2f}") -> str:
    return "—" if value is None or pd.isna(value) else fmt.format(float(value))


def _kept(row: pd.Series) -> str:
    kept, run, why = row["epoch kept"], row["epochs run"], row["kept by"]
    why = "" if why is None or pd.isna(why) else str(why)
    if pd.isna(kept) and pd.isna(run):
        return why or "—"
    if pd.isna(kept):  # no best checkpoint: the last epoch's weights
        kept, why = run, why or "the last epoch"
    text = f"{kept:.0f} of {_number(run, '{:.0f}')}"
    return f"{text} ({why})" if why else text


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """`comparison_table` for reading: CIEDE2000 as "mean [low, high]" and its min-max."""
    shown = pd.DataFrame(index=table.index)
    shown["CIEDE2000 ↓ [95% interval]"] = [
        _number(r[CIEDE]) + ("" if pd.isna(r[LOW]) else f" [{r[LOW]:.2f}, {r[HIGH]:.2f}]")
        for _, r in table.iterrows()
    ]
    shown["CIEDE2000 min–max"] = [
        "—" if pd.isna(lo) else f"{lo:.2f}–{hi:.2f}"
        for lo, hi in zip(table["CIEDE2000 min"], table["CIEDE2000 max"], strict=True)
    ]
    for col in ["PSNR (dB) ↑", "SSIM ↑", "colourfulness", "colourfulness / GT", "AuC ↑"]:
        shown[col] = [_number(v, FORMATS[col]) for v in table[col]]
    shown["epoch kept"] = [_kept(r) for _, r in table.iterrows()]
    for col in ["parameters", "training time (s)"]:
        shown[col] = [_number(v, FORMATS[col]) for v in table[col]]
    return shown


def findings(runs: dict[str, dict[str, Any]]) -> dict[str, str]:
    """One sentence per method, from the numbers: against gray (a difference only where the
    per-image spread supports it), PSNR, and how vivid."""
    out = {}
    diffs = against_gray(runs)
    for row in rows(runs):
        if row.method is None:
            continue
        m, diff = row.metrics, diffs[row.title]
        if diff is None:
            gray = runs[row.notebook]["baselines"]["gray"]["ciede2000"]
            claim = f"against {gray:.2f} for gray (no per-image scores: no claim either way)"
        else:
            claim = (
                f"against {m['ciede2000'] - diff.mean:.2f} for gray: "
                f"{stats.verdict(diff, 'better than', 'worse than', 'gray')}; lower than gray's "
                f"on {diff.lower} of {diff.pairs} images"
            )
        out[row.title] = (
            f"CIEDE2000 {m['ciede2000']:.2f} {claim}. PSNR {m['psnr']:.2f} dB; colourfulness "
            f"{m['colourfulness_ratio']:.2f} of the ground truth's."
        )
    return out


def per_image_table(runs: dict, where: str = "test") -> pd.DataFrame:
    """CIEDE2000 of every image (rows) by baseline and method (columns), in gray's order."""
    found = [r for r in rows(runs, where) if r.values()]
    columns = {r.title.removeprefix("baseline: "): r.values() for r in found}
    names = list(next(iter(columns.values()), {}))
    return pd.DataFrame({t: [v.get(n, math.nan) for n in names] for t, v in columns.items()}, names)


def _wins(runs: dict, where: str) -> dict[str, str]:
    return {t: f"{d.lower} of {d.pairs}" for t, d in against_gray(runs, where).items() if d}


def per_image_markdown(runs: dict) -> str:
    frame = per_image_table(runs)
    shown = frame.map(lambda v: _number(v))
    wins = _wins(runs, "test")
    shown.loc["better than gray on"] = [wins.get(c, "—") for c in shown.columns]
    return shown.to_markdown()


def out_of_domain(runs: dict) -> tuple[str, str] | None:
    """The table and one sentence on the photos unlike the training set (None: not scored)."""
    found = rows(runs, "out_of_domain")
    if not any(r.method for r in found):
        return None
    diffs = against_gray(runs, "out_of_domain")
    photos = len(per_image_table(runs, "out_of_domain"))
    table = {}
    for row in found:
        lo, hi = interval(row, "ciede2000")
        diff = diffs.get(row.title)
        table[row.title] = {
            "CIEDE2000 ↓ [95% interval]": _number(row.metrics["ciede2000"])
            + ("" if math.isnan(lo) else f" [{lo:.2f}, {hi:.2f}]"),
            "colourfulness / GT": _number(row.metrics.get("colourfulness_ratio")),
            "better than gray on": f"{diff.lower} of {diff.pairs} photos" if diff else "—",
            "method - gray [95% interval]": (
                f"{diff.mean:+.2f} [{diff.lo:+.2f}, {diff.hi:+.2f}]" if diff else "—"
            ),
        }
    judged = [d for d in diffs.values() if d]
    better = sum(d.supported and d.mean < 0 for d in judged)
    worse = sum(d.supported and d.mean > 0 for d in judged)
    gray = next((r.metrics["ciede2000"] for r in found if r.title == "baseline: gray"), math.nan)
    means = [r.metrics["ciede2000"] for r in found if r.method]
    sentence = (
        f"On {photos} photos unlike the training set, gray scores a CIEDE2000 of {gray:.2f} and "
        f"the {len(means)} methods {min(means):.2f} to {max(means):.2f}: {better} "
        f"{'is' if better == 1 else 'are'} better than gray and {worse} worse (per-photo "
        f"interval excluding 0), {len(judged) - better - worse} cannot be told apart from it."
    )
    if judged:
        wins = [d.lower for d in judged]
        sentence += f" Each method beats gray on {min(wins)} to {max(wins)} of the {photos} photos."
    return pd.DataFrame(table).T.to_markdown(), sentence
