"""Training curves beside the validation curves, with the epoch whose weights were kept.

Every method keeps the weights of its epoch with the lowest validation CIEDE2000
(`colorlib.workflow.fit`, `workflow.kept_epoch`). `training_curves` draws a method's history as
panels of losses that share a scale (the training losses, and the validation loss beside the
training loss it measures on other images), then one panel of the validation CIEDE2000 that
chose the epoch, with that epoch marked on every panel.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

COLOUR_ERROR = "val_ciede2000"
KEPT_COLOUR = "tab:green"

# How each history column reads on a legend (an unknown column keeps its name).
LABELS = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "loss_D": "D (training)",
    "loss_G_GAN": "G adversarial (training)",
    "loss_G_pixel": "G pixel (training)",
    "loss_G_perceptual": "G perceptual (training)",
    COLOUR_ERROR: "validation CIEDE2000",
}


def training_curves(
    history: pd.DataFrame,
    panels: Mapping[str, Sequence[str]],
    *,
    kept_epoch: int | None = None,
    title: str = "",
    log: bool | Collection[str] = False,
    labels: Mapping[str, str] | None = None,
) -> Figure:
    """One panel per entry of `panels` (its title -> the history columns drawn in it), then a
    last panel of the validation CIEDE2000, each against the epoch.

    `kept_epoch` (`workflow.kept_epoch(result)`): the epoch whose weights were kept, marked by a
    dashed line on every panel and a ring on the CIEDE2000 curve; None marks nothing. `log`:
    a logarithmic y axis on every loss panel (True) or on the panels named. `labels`: legend
    names for columns, over `LABELS`.
    """
    names = {**LABELS, **(labels or {})}
    needed = [c for columns in panels.values() for c in columns] + ["epoch", COLOUR_ERROR]
    missing = [c for c in dict.fromkeys(needed) if c not in history]
    if missing:
        raise ValueError(
            f"history has no column {', '.join(map(repr, missing))} "
            f"(it has {', '.join(map(str, history.columns))})"
        )
    if kept_epoch is not None and kept_epoch not in set(history["epoch"].astype(int)):
        raise ValueError(f"kept_epoch {kept_epoch} is not an epoch of the history")
    logged = set(panels) if log is True else set(log or ())
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(3.9 * n, 3.4), squeeze=False)
    epochs = history["epoch"].to_numpy(dtype=float)
    for ax, (panel, columns) in zip(axes[0], panels.items(), strict=False):
        for column in columns:
            validation = column.startswith("val_")
            ax.plot(
                epochs, history[column].to_numpy(dtype=float), marker="o", ms=3,
                ls="--" if validation else "-", label=names.get(column, column),
            )  # fmt: skip
        ax.set_title(panel, fontsize=10)
        ax.set_ylabel("loss")
        if panel in logged:
            ax.set_yscale("log")
    ax = axes[0][-1]
    error = history[COLOUR_ERROR].to_numpy(dtype=float)
    ax.plot(epochs, error, marker="o", ms=3, ls="--", color="black", label=names[COLOUR_ERROR])
    ax.set_title("validation CIEDE2000: picks the epoch", fontsize=10)
    ax.set_ylabel("CIEDE2000 (lower is better)")
    if kept_epoch is not None:
        at = float(error[np.flatnonzero(epochs == kept_epoch)[0]])
        ax.plot([kept_epoch], [at], "o", ms=11, mfc="none", mec=KEPT_COLOUR, mew=2)
        for a in axes[0]:
            a.axvline(
                kept_epoch, color=KEPT_COLOUR, ls=":", lw=1.5, label=f"kept: epoch {kept_epoch}"
            )
    for a in axes[0]:
        a.set_xlabel("epoch")
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
        if len(epochs) <= 12:
            a.set_xticks(epochs.astype(int))
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
