"""The faces source's ColorNet numbers beside ours: the same quantity (test MSE of a*b* in [0, 1]),
computed independently here, and the table that puts the two side by side."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from torch import nn

from colorlib import color, data, sourcecheck
from colorlib.modelfile import ModelSpec

REPO = Path(__file__).resolve().parents[1]
SOURCES_DIR = Path(os.environ.get("COLORLIB_SOURCES") or REPO / ".." / "shared" / "sources")


class Constant(nn.Module):
    """A stand-in network: always answers `value` (B, 2, H, W) for an input (B, 1, H, W)."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x):
        return (
            self.value.expand(x.shape[0], 2, *x.shape[-2:]) if self.value.dim() < 4 else self.value
        )


def spec(io):
    return ModelSpec("stand-in", "colornet", io=io, size=32)


def test_a_grey_answer_scores_the_mean_squared_chroma_over_220_squared(photo_tensor):
    image = photo_tensor(48, 64)
    square = color.to_float(data.centre_square(image, 32))[None]
    ab = color.rgb_to_lab(square)[:, 1:]
    expected = float(((ab / 220) ** 2).mean())  # y = ab/220 + 1/2 against grey's 1/2
    grey_unit = Constant(torch.full((1, 2, 1, 1), 0.5))
    assert sourcecheck.test_mse(grey_unit, spec("unit"), [image]) == [pytest.approx(expected)]
    # The same answer in the Lab convention (ab/110 = 0) is the same error.
    grey_lab = Constant(torch.zeros(1, 2, 1, 1))
    assert sourcecheck.test_mse(grey_lab, spec("lab"), [image]) == [pytest.approx(expected)]


def test_the_true_colours_score_zero_and_one_value_per_image(photo_tensor):
    images = [photo_tensor(40, 40, seed=1), photo_tensor(32, 48, seed=2)]
    for image in images:
        _, ab = color.rgb_to_model_input(color.to_float(data.centre_square(image, 32))[None])
        truth = Constant((ab + 1) / 2)  # the unit convention's target
        assert sourcecheck.test_mse(truth, spec("unit"), [image]) == [pytest.approx(0, abs=1e-10)]
    grey = Constant(torch.full((1, 2, 1, 1), 0.5))
    assert len(sourcecheck.test_mse(grey, spec("unit"), images)) == 2


def test_the_table_puts_the_source_beside_ours_under_both_readings():
    ours = [30e-5, 46e-5]  # mean 38e-5, the source's sigmoid number
    runs = {"colornet": {"epochs_run": 9, "stopped_early": True, "kept_epoch": 4}}
    table = sourcecheck.side_by_side({"colornet": ours}, runs)
    assert len(table) == len(sourcecheck.REPORTED)
    row = table.loc["colornet (sigmoid output, 128 channels)"]
    assert row["source MSE"] == 38 and row["ours: a*b* only, ab/220"] == pytest.approx(38)
    other = "ours: L, a*, b* with L exact, 8-bit ab/255"
    assert row[other] == pytest.approx(38 * 2 / 3 * (220 / 255) ** 2, abs=0.01)
    assert row["ours / source"] == 1.0 and row["source epochs"] == "5 to 10"
    assert (row["ours: epochs run"], row["ours: epoch kept"]) == (9, 4)
    assert row["ours: stopped early"]
    lo, hi = (float(v) for v in row["ours: 95% interval (ab/220)"].split(" to "))
    assert 30 <= lo < 38 < hi <= 46
    missing = table.loc["colornet-tanh (tanh output)"]
    assert missing["source MSE"] == 46 and math.isnan(missing["ours: a*b* only, ab/220"])


def test_the_source_states_each_number_quoted():
    if not SOURCES_DIR.is_dir():
        pytest.skip(f"the source write-ups are not at {SOURCES_DIR} (set COLORLIB_SOURCES)")
    text = (SOURCES_DIR / "faces-regressor-and-colornet.txt").read_text()
    for reported in sourcecheck.REPORTED.values():
        assert f"{round(reported.mse / sourcecheck.UNIT)}e-5" in text, reported
    assert "between five and ten epochs" in text
