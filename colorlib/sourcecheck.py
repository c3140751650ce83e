"""The faces source's ColorNet numbers beside ours, in its units (notebook 03).

The source (*faces-regressor-and-colornet*) reports one number per ColorNet variant: the "average
MSE loss" over its test faces, "input tensors normalized in the range of 0 to 1". `REPORTED`
holds those numbers with the source's words; `test_mse` computes the same quantity for a trained
model: per test image, the mean over the a* and b* channels and every pixel of the squared error,
both scaled to [0, 1] as y = (ab/110 + 1)/2, on the image's centre square at the model's training
size (a whole 128x128 face at 128). `side_by_side` puts the two in one table with the epochs each
run took.

Two details the source leaves open change the number by a known factor, so the table gives our
MSE under both readings (`READINGS`): whether its mean includes the L channel (its loss compares
the Lab images "by merging the input L channel with the output A and B", so L's error is 0 and
the mean over three channels is 2/3 of the a*b* one), and how a*b* were scaled to [0, 1]
(OpenCV's 8-bit Lab, which its OpenCV loading suggests, spans 255 a*b* units where ours spans
220: squared errors (220/255)^2 = 0.74 times ours).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from colorlib import color, data, stats
from colorlib.modelfile import ModelSpec
from colorlib.models import batch_statistics


@dataclass(frozen=True)
class Reported:
    """One ColorNet variant as the source reports it: its test MSE and where it says so."""

    variant: str
    mse: float
    where: str


_ACTIVATIONS = "Fig. 15, average MSE loss by output activation"
_FEATURES = "Optional Credit, changing the number of feature maps"
# Our method names (notebook 03) -> the source's numbers.
REPORTED: dict[str, Reported] = {
    "colornet": Reported("sigmoid output, 128 channels", 38e-5, _ACTIVATIONS),
    "colornet-relu": Reported("ReLU output", 41e-5, _ACTIVATIONS),
    "colornet-tanh": Reported("tanh output", 46e-5, _ACTIVATIONS),
    "colornet-w256": Reported("256 channels", 36e-5, _FEATURES),
    "colornet-w512": Reported("512 channels", 35e-5, _FEATURES),
    "colornet-deep5": Reported("5 + 5 layers", 40e-5, _FEATURES),
}
# "our network would always stop between five and ten epochs"
SOURCE_EPOCHS = (5, 10)
# Our a*b*-only MSE times these factors: the same errors under each reading of the source.
READINGS = {
    "a*b* only, ab/220": 1.0,
    "L, a*, b* with L exact, 8-bit ab/255": (2 / 3) * (220 / 255) ** 2,
}
UNIT = 1e-5  # the source writes its MSEs as multiples of 1e-5


@torch.no_grad()
def test_mse(
    model: nn.Module,
    spec: ModelSpec,
    images: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
) -> list[float]:
    """Per image: the MSE of the predicted a*b* against the true a*b*, both as y = (ab/110+1)/2
    in [0, 1], over the two channels and every pixel of the centre square at `spec.size`."""
    model.eval()
    convention, out = spec.convention, []
    for image in images:
        rgb = color.to_float(data.centre_square(image, spec.size))[None].to(device)
        L, ab = color.rgb_to_model_input(rgb)
        with batch_statistics(model) if spec.batch_stats else nullcontext():
            predicted = convention.to_ab(model(convention.model_input(L)), L)
        # ab is ab/110 in [-1, 1]: (x + 1) / 2 is the source's [0, 1] scale.
        out.append(float((((predicted - ab) / 2) ** 2).mean()))
    return out


def side_by_side(
    per_image: Mapping[str, Sequence[float]], runs: Mapping[str, Mapping[str, Any]]
) -> pd.DataFrame:
    """The source's test MSE and ours (x 1e-5, with a 95% bootstrap interval and under each of
    `READINGS`) for every variant of `REPORTED`, with the epochs early stopping ran.

    `per_image`: method -> `test_mse` values (variants not trained are left empty); `runs`:
    method -> its `Experiment.record` entry (epochs_run, stopped_early, kept_epoch)."""
    rows = {}
    for method, reported in REPORTED.items():
        row: dict[str, Any] = {"source MSE": reported.mse / UNIT}
        values = per_image.get(method)
        if values:
            lo, hi = stats.bootstrap_interval(values)
            mean = float(np.mean(values))
            for reading, factor in READINGS.items():
                row[f"ours: {reading}"] = mean * factor / UNIT
            row["ours: 95% interval (ab/220)"] = f"{lo / UNIT:.1f} to {hi / UNIT:.1f}"
            row["ours / source"] = mean / reported.mse
        entry = runs.get(method, {})
        row["source epochs"] = f"{SOURCE_EPOCHS[0]} to {SOURCE_EPOCHS[1]}"
        row["ours: epochs run"] = entry.get("epochs_run")
        row["ours: stopped early"] = entry.get("stopped_early")
        row["ours: epoch kept"] = entry.get("kept_epoch")
        rows[f"{method} ({reported.variant})"] = row
    return pd.DataFrame.from_dict(rows, orient="index").round(2)
