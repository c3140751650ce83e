"""`plots_training.training_curves`: loss panels, the validation CIEDE2000 and the kept epoch."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from colorlib import plots_training


def gan_history(epochs: int = 5) -> pd.DataFrame:
    e = np.arange(1, epochs + 1, dtype=float)
    return pd.DataFrame({
        "epoch": e,
        "loss_D": 0.7 - 0.05 * e,
        "loss_G_GAN": 0.7 + 0.1 * e,
        "loss_G_pixel": 0.2 / e,
        "val_loss": 0.15 + 0.01 * (e - 2) ** 2,
        "val_ciede2000": 14.0 + (e - 3) ** 2,  # lowest at epoch 3
    })  # fmt: skip


def lines_by_label(ax) -> dict[str, np.ndarray]:
    return {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ax.lines}


def test_each_panel_draws_its_columns_and_the_last_the_validation_colour_error():
    history = gan_history()
    fig = plots_training.training_curves(
        history,
        {"adversarial": ["loss_D", "loss_G_GAN"], "L1": ["loss_G_pixel", "val_loss"]},
        kept_epoch=3,
        log=["L1"],
    )
    try:
        adversarial, pixel, colour = fig.axes
        drawn = lines_by_label(pixel)
        np.testing.assert_allclose(drawn["G pixel (training)"], history["loss_G_pixel"])
        np.testing.assert_allclose(drawn["validation loss"], history["val_loss"])
        np.testing.assert_allclose(lines_by_label(adversarial)["D (training)"], history["loss_D"])
        np.testing.assert_allclose(
            lines_by_label(colour)["validation CIEDE2000"], history["val_ciede2000"]
        )
        assert pixel.get_yscale() == "log" and adversarial.get_yscale() == "linear"
        # The kept epoch is marked on every panel, at its x.
        for ax in fig.axes:
            kept = [line for line in ax.lines if line.get_label() == "kept: epoch 3"]
            assert len(kept) == 1 and list(kept[0].get_xdata()) == [3, 3]
    finally:
        plt.close(fig)


def test_without_a_kept_epoch_nothing_is_marked_and_one_epoch_still_draws():
    fig = plots_training.training_curves(gan_history(1), {"L1": ["loss_G_pixel", "val_loss"]})
    try:
        assert len(fig.axes) == 2
        assert not [ln for ax in fig.axes for ln in ax.lines if "kept" in ln.get_label()]
    finally:
        plt.close(fig)


def test_a_missing_column_or_epoch_is_named():
    with pytest.raises(ValueError, match="'loss_G_perceptual'"):
        plots_training.training_curves(gan_history(), {"terms": ["loss_G_perceptual"]})
    with pytest.raises(ValueError, match="kept_epoch 9"):
        plots_training.training_curves(gan_history(), {"L1": ["val_loss"]}, kept_epoch=9)
