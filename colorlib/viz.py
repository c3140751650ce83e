"""Figures the notebooks and the report show. Each function returns a matplotlib Figure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure
from PIL import Image

from colorlib import color


def to_numpy(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """uint8 (3, H, W) tensor or (H, W, 3) array -> (H, W, 3) array."""
    if isinstance(image, torch.Tensor):
        return image.permute(1, 2, 0).cpu().numpy()
    return np.asarray(image)


def image_grid(
    rows: Mapping[str, Sequence[torch.Tensor | np.ndarray]],
    col_titles: Sequence[str] | None = None,
    cell: float = 2.2,
) -> Figure:
    """A grid with one row per entry of `rows` (its name on the left), images in columns.

    Each column is as wide as its first image's aspect asks, so portrait and landscape photos
    side by side both fill their cells.
    """
    names = list(rows)
    ncols = max(len(v) for v in rows.values())
    firsts = [to_numpy(next(rows[n][c] for n in names if c < len(rows[n]))) for c in range(ncols)]
    aspects = [img.shape[1] / img.shape[0] for img in firsts]
    fig, axes = plt.subplots(
        len(names),
        ncols,
        figsize=(cell * sum(aspects), cell * len(names)),
        squeeze=False,
        gridspec_kw={"width_ratios": aspects},
    )
    for r, name in enumerate(names):
        for c in range(ncols):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c < len(rows[name]):
                ax.imshow(to_numpy(rows[name][c]))
            if c == 0:
                ax.set_ylabel(name, fontsize=9)
            if r == 0 and col_titles is not None and c < len(col_titles):
                ax.set_title(col_titles[c], fontsize=8)
    fig.tight_layout()
    return fig


def lab_channels(image: torch.Tensor) -> Figure:
    """An image and its L, a*, b* channels, each with its own colour scale."""
    lab = color.rgb_to_lab(color.to_float(image)[None])[0].numpy()
    fig, axes = plt.subplots(1, 4, figsize=(13, 3))
    axes[0].imshow(to_numpy(image))
    axes[0].set_title("RGB")
    panels = [
        ("L* (lightness, 0..100)", lab[0], "gray", (0, 100)),
        ("a* (green - red)", lab[1], "RdYlGn_r", (-60, 60)),
        ("b* (blue - yellow)", lab[2], "YlGnBu_r", (-60, 60)),
    ]
    for ax, (title, data, cmap, (lo, hi)) in zip(axes[1:], panels, strict=True):
        shown = ax.imshow(data, cmap=cmap, vmin=lo, vmax=hi)
        ax.set_title(title)
        fig.colorbar(shown, ax=ax, fraction=0.046)
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def loss_curves(
    history: pd.DataFrame, columns: Sequence[str] | None = None, title: str = "", log: bool = False
) -> Figure:
    """Per-epoch curves of the named history columns (default: every loss column)."""
    columns = list(columns) if columns else [c for c in history if "loss" in c]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name in columns:
        ax.plot(history["epoch"], history[name], marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if log:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def early_stopping_curve(
    history: pd.DataFrame, patience: int, stopped_early: bool, title: str = ""
) -> Figure:
    """Train and validation loss with the epochs that matter marked: the lowest validation loss
    (what early stopping watches), the epoch kept (lowest validation CIEDE2000, drawn on a second
    axis when the history has it) and the last one, "stopped early" only when early stopping
    ended the run, not when it hit its epoch limit."""
    fig = loss_curves(history, ["loss", "val_loss"], title=title)
    ax = fig.axes[0]
    best = int(history.loc[history["val_loss"].idxmin(), "epoch"])
    ax.axvline(best, color="green", ls="--", lw=1, label=f"lowest val_loss: epoch {best}")
    last = int(history["epoch"].iloc[-1])
    why = (
        f"stopped early after {last} (patience {patience})"
        if stopped_early
        else (f"epoch limit {last} reached")
    )
    ax.axvline(last, color="red", ls=":", lw=1, label=why)
    handles, labels = ax.get_legend_handles_labels()
    if "val_ciede2000" in history:
        colour = ax.twinx()
        (line,) = colour.plot(
            history["epoch"], history["val_ciede2000"], color="purple", marker="s", ms=3, lw=1,
            label="val CIEDE2000 (right axis)",
        )  # fmt: skip
        colour.set_ylabel("CIEDE2000")
        kept = int(history.loc[history["val_ciede2000"].idxmin(), "epoch"])
        mark = colour.axvline(kept, color="purple", ls="-.", lw=1, label=f"kept: epoch {kept}")
        handles, labels = handles + [line, mark], labels + [line.get_label(), mark.get_label()]
    ax.legend(handles, labels, fontsize=7)
    fig.tight_layout()
    return fig


def scatter_true_vs_pred(
    true: np.ndarray,
    pred: np.ndarray,
    labels: Sequence[str] = ("a*", "b*"),
    train: tuple[np.ndarray, np.ndarray] | None = None,
) -> Figure:
    """Predicted against true values per output, with the identity line.

    `train` = (true, pred) of the training images, drawn lighter: the gap between the two
    clouds is the generalisation gap.
    """
    fig, axes = plt.subplots(1, len(labels), figsize=(4 * len(labels), 3.8))
    for i, (ax, name) in enumerate(zip(np.atleast_1d(axes), labels, strict=True)):
        values = [true[:, i], pred[:, i]]
        if train is not None:
            ax.scatter(
                train[0][:, i], train[1][:, i], s=12, alpha=0.35, color="gray", label="train"
            )
            values += [train[0][:, i], train[1][:, i]]
        ax.scatter(true[:, i], pred[:, i], s=22, alpha=0.9, color="tab:blue", label="test")
        lo = float(min(v.min() for v in values)) - 1
        hi = float(max(v.max() for v in values)) + 1
        ax.plot([lo, hi], [lo, hi], "k--", lw=1)
        ax.set_xlabel(f"true mean {name}")
        ax.set_ylabel(f"predicted mean {name}")
        ax.set_aspect("equal")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def snapshots(files: Mapping[int, str | Path], max_rows: int = 6) -> Figure:
    """The fixed images colorized after each saved epoch, ``{epoch: file}`` (see
    `colorlib.runs.RunFolder.snapshot_files`)."""
    if not files:
        raise FileNotFoundError("no snapshots were saved (is snapshot_every set?)")
    epochs = sorted(files)
    if len(epochs) > max_rows:  # keep first, last and evenly spaced ones between
        keep = np.linspace(0, len(epochs) - 1, max_rows).round().astype(int)
        epochs = [epochs[i] for i in sorted(set(keep))]
    strips = [np.asarray(Image.open(files[e]).convert("RGB")) for e in epochs]
    h, w = strips[0].shape[:2]
    fig, axes = plt.subplots(len(strips), 1, figsize=(min(2.0 * w / h, 14), 2.0 * len(strips)))
    for ax, strip, epoch in zip(np.atleast_1d(axes), strips, epochs, strict=True):
        ax.imshow(strip)
        ax.set_ylabel(f"epoch {epoch}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return fig


def attention_maps(
    image: torch.Tensor, attention: torch.Tensor, points: Sequence[tuple[int, int]]
) -> Figure:
    """Where a self-attention layer looks from a few query positions.

    `attention` is (N, N) for one image, N = side * side positions of the layer's feature map;
    row q is the softmax over all positions for query q. `points` are (row, col) fractions
    of the feature map scaled to its side.
    """
    n = attention.shape[-1]
    side = int(round(n**0.5))
    img = to_numpy(image)
    fig, axes = plt.subplots(1, len(points) + 1, figsize=(3 * (len(points) + 1), 3))
    axes[0].imshow(img)
    axes[0].set_title("input")
    for ax, (r, c) in zip(axes[1:], points, strict=True):
        weights = attention[r * side + c].reshape(side, side).cpu().numpy()
        ax.imshow(img, alpha=0.45)
        ax.imshow(
            weights,
            cmap="inferno",
            alpha=0.65,
            extent=(0, img.shape[1], img.shape[0], 0),
        )
        y = (r + 0.5) * img.shape[0] / side
        x = (c + 0.5) * img.shape[1] / side
        ax.plot(x, y, "c+", ms=14, mew=2)
        ax.set_title(f"query ({r}, {c})")
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    return fig


def metric_bars(
    table: pd.DataFrame,
    columns: Sequence[str],
    intervals: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """One panel per metric column, one row per method (names once, on the left).

    Each mean is a dot with its interval as a whisker (`intervals`: column -> (2, rows) array
    of low and high, NaN where unknown). The axis spans the values rather than starting at 0,
    so bars would mislead by their length: dots do not. Rows named "baseline: ..." are gray,
    and "baseline: gray"'s value is a dashed line across its panel.
    """
    intervals = intervals or {}
    rows = [str(i) for i in table.index]
    y = np.arange(len(rows))
    baseline = np.array([r.startswith("baseline") for r in rows])
    fig, axes = plt.subplots(
        1, len(columns), figsize=(2.2 + 2.8 * len(columns), 0.8 + 0.32 * len(rows)), sharey=True
    )
    for ax, name in zip(np.atleast_1d(axes), columns, strict=True):
        values = table[name].to_numpy(dtype=float)
        lo, hi = np.asarray(intervals.get(name, np.full((2, len(rows)), np.nan)), dtype=float)
        lo, hi = np.where(np.isnan(lo), values, lo), np.where(np.isnan(hi), values, hi)
        for mask, colour in ((baseline, "tab:gray"), (~baseline, "tab:blue")):
            # Clipped: a percentile interval can miss its own mean by rounding.
            err = np.clip(np.vstack([values[mask] - lo[mask], hi[mask] - values[mask]]), 0, None)
            ax.errorbar(values[mask], y[mask], xerr=err, fmt="o", color=colour, capsize=3, ms=5)
        if "baseline: gray" in rows:
            ax.axvline(values[rows.index("baseline: gray")], color="tab:gray", ls="--", lw=1)
        known = np.concatenate([lo, hi, values])
        known = known[np.isfinite(known)]
        if known.size:
            pad = max(0.08 * (known.max() - known.min()), 0.02 * abs(known.max()), 1e-3)
            ax.set_xlim(known.min() - pad, known.max() + pad)
        ax.set_title(name, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    first = np.atleast_1d(axes)[0]
    first.set_yticks(y, rows, fontsize=8)
    first.invert_yaxis()
    fig.tight_layout()
    return fig


def per_image_differences(diffs: pd.DataFrame, metric: str = "CIEDE2000") -> Figure:
    """Each test image's score minus gray's (`diffs`: rows images, columns methods), one row
    per method: a dot per image, the mean and its 95% bootstrap interval in black."""
    from colorlib import stats  # here: the other figures need no statistics

    fig, ax = plt.subplots(figsize=(7.5, 0.9 + 0.4 * len(diffs.columns)))
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(diffs))
    for y, method in enumerate(diffs.columns):
        values = diffs[method].dropna().to_numpy(dtype=float)
        if values.size == 0:
            continue
        ax.scatter(values, y + jitter[: values.size], s=12, alpha=0.55, color="tab:blue")
        lo, hi = stats.bootstrap_interval(values)
        ax.errorbar(
            values.mean(),
            y,
            xerr=[[values.mean() - lo], [hi - values.mean()]],
            fmt="D",
            color="black",
            capsize=4,
            ms=5,
        )
    ax.axvline(0, color="tab:gray", ls="--", lw=1)
    ax.set_yticks(range(len(diffs.columns)), [str(c) for c in diffs.columns], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(f"{metric} minus gray's, per image (left of 0: better than gray)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def ab_gamut(
    lab: torch.Tensor | np.ndarray,
    rgb: torch.Tensor | np.ndarray,
    levels: Sequence[float] = (25.0, 50.0, 75.0),
    *,
    width: float = 2.0,
    photos_ab: torch.Tensor | np.ndarray | None = None,
    box: float = color.AB_SCALE,
) -> Figure:
    """Where sRGB colours lie in the a*b* plane, and where photographs' pixels lie.

    `lab` and `rgb` are (3, N): sampled sRGB colours (in [0, 1]) and their Lab values. One panel
    per lightness in `levels` shows the samples with |L* - level| <= `width`, each drawn in its
    own colour; the dashed square is ab = +-`box`, the range that ab / `box` maps onto [-1, 1].
    With `photos_ab` ((2, M) a*, b* of photo pixels), a last panel draws their density (log
    scale) over the whole gamut's footprint in gray.
    """
    lab, rgb = np.asarray(lab, dtype=np.float64), np.asarray(rgb, dtype=np.float64)
    if lab.ndim != 2 or lab.shape[0] != 3 or rgb.shape != lab.shape:
        raise ValueError(f"lab and rgb must both be (3, N), got {lab.shape} and {rgb.shape}")
    panels = len(levels) + (photos_ab is not None)
    fig, axes = plt.subplots(1, panels, figsize=(3.4 * panels, 3.6), squeeze=False)
    axes = axes[0]
    lim = 1.15 * box
    for ax, level in zip(axes, levels, strict=False):
        near = np.abs(lab[0] - level) <= width
        ax.scatter(lab[1, near], lab[2, near], c=rgb[:, near].T.clip(0, 1), s=4, linewidths=0)
        ax.set_title(f"L* = {level:g} (±{width:g})", fontsize=9)
    if photos_ab is not None:
        ab = np.asarray(photos_ab, dtype=np.float64).reshape(2, -1)
        edges = np.linspace(-lim, lim, 93)
        gamut, _, _ = np.histogram2d(lab[1], lab[2], bins=(edges, edges))
        density, _, _ = np.histogram2d(ab[0], ab[1], bins=(edges, edges))
        ax = axes[-1]
        extent = (-lim, lim, -lim, lim)
        # Transposed: histogram2d's first axis is a*, imshow's rows are b*.
        ax.imshow(gamut.T > 0, origin="lower", extent=extent, cmap="Greys", vmin=0, vmax=4)
        # Empty bins stay blank rather than the colour of the smallest count.
        shown = np.ma.log10(np.ma.masked_equal(density.T, 0))
        im = ax.imshow(shown, origin="lower", extent=extent, cmap="viridis")
        fig.colorbar(im, ax=ax, fraction=0.046, label="log10 pixels")
        ax.set_title("photo pixels, all L*", fontsize=9)
    for ax in axes:
        ax.add_patch(plt.Rectangle((-box, -box), 2 * box, 2 * box, fill=False, ls="--", lw=1))
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xlabel("a* (green - red)")
        ax.set_ylabel("b* (blue - yellow)")
    fig.tight_layout()
    return fig
