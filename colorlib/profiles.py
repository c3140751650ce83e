"""Run profiles: what each notebook trains, and how long, in `smoke`, `cpu` and `gpu`.

- ``smoke``: proves the notebook runs end to end (CI, 2 cores, well under a minute each).
- ``cpu``: real, meaningful results on a 2-core laptop (a few minutes a notebook).
- ``gpu``: the source write-ups' settings (256x256 where they used it, their epochs, widths and
  learning rates).

A notebook asks for its own settings with ``settings(PROFILE, "colornet", OVERRIDES)``; it gets a
plain dict. OVERRIDES is a dict or, as ``papermill -p OVERRIDES '{"epochs": 3}'`` passes it, a JSON
object string; an override of a name the notebook does not have is an error, not a silent typo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from colorlib.errors import UserError

PROFILES = ("smoke", "cpu", "gpu")

# Shared by every notebook: the held-out fraction (None: the dataset's own, e.g. 5 of 50 face
# subjects, 8 of 24 Kodak images).
_DATA: dict[str, Any] = {"test_fraction": None}

_NOTEBOOKS: dict[str, dict[str, dict[str, Any]]] = {
    "augmentation": {
        "smoke": {"size": 64, "offline_copies": 2, "examples": 4},
        "cpu": {"size": 128, "offline_copies": 10, "examples": 6},
        "gpu": {"size": 256, "offline_copies": 10, "examples": 6},
    },
    # Source: 128x128 L in, Adam lr 1e-4, weight decay 1e-5, 200 epochs.
    "regressor": {
        "smoke": {
            "size": 64,
            "epochs": 1,
            "batch_size": 8,
            "samples_per_epoch": 16,
            "lr": 1e-4,
            "weight_decay": 1e-5,
        },
        "cpu": {
            "size": 128,
            "epochs": 20,
            "batch_size": 16,
            "samples_per_epoch": 320,
            "lr": 1e-4,
            "weight_decay": 1e-5,
        },
        "gpu": {
            "size": 128,
            "epochs": 200,
            "batch_size": 32,
            "samples_per_epoch": 6750,
            "lr": 1e-4,
            "weight_decay": 1e-5,
        },
    },
    # Source: lr 0.01, at most 20 epochs, early stopping with patience 5 on a validation set.
    "colornet": {
        "smoke": {
            "size": 32,
            "epochs": 2,
            "patience": 5,
            "batch_size": 8,
            "samples_per_epoch": 16,
            "lr": 0.01,
            "experiments": False,
        },
        "cpu": {
            "size": 128,
            "epochs": 20,
            "patience": 5,
            "batch_size": 16,
            "samples_per_epoch": 160,
            "lr": 0.01,
            "experiments": True,
        },
        "gpu": {
            "size": 256,
            "epochs": 20,
            "patience": 5,
            "batch_size": 32,
            "samples_per_epoch": 6750,
            "lr": 0.01,
            "experiments": True,
        },
    },
    # Source: 256x256, Adam lr 1e-4, beta1 0.5, 100-300 epochs, BCE with noisy labels,
    # MSE on ab weighted 1000, batch 2-32.
    "labgan": {
        "smoke": {
            "size": 32,
            "epochs": 1,
            "batch_size": 4,
            "samples_per_epoch": 8,
            "lr": 1e-4,
            "beta1": 0.5,
            "lambda_mse": 1000.0,
            "n_blocks": 5,
            "ndf": 8,
            "g_every": 1,
            "snapshot_every": 1,
        },
        "cpu": {
            "size": 64,
            "epochs": 10,
            "batch_size": 16,
            "samples_per_epoch": 160,
            "lr": 1e-4,
            "beta1": 0.5,
            "lambda_mse": 1000.0,
            "n_blocks": 5,
            "ndf": 32,
            "g_every": 1,
            "snapshot_every": 2,
        },
        "gpu": {
            "size": 256,
            "epochs": 100,
            "batch_size": 16,
            "samples_per_epoch": 6750,
            "lr": 1e-4,
            "beta1": 0.5,
            "lambda_mse": 1000.0,
            "n_blocks": 5,
            "ndf": 64,
            "g_every": 1,
            "snapshot_every": 10,
        },
    },
    # Source: U-Net with 8 downsamplings at 256 (1x1 bottleneck), 70x70 PatchGAN,
    # vanilla GAN + 100 x L1, Adam lr 2e-4, betas (0.5, 0.999).
    "pix2pix": {
        "smoke": {
            "size": 32,
            "epochs": 1,
            "batch_size": 4,
            "samples_per_epoch": 8,
            "ngf": 8,
            "ndf": 8,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "snapshot_every": 1,
        },
        "cpu": {
            "size": 64,
            "epochs": 25,
            "batch_size": 16,
            "samples_per_epoch": 256,
            "ngf": 32,
            "ndf": 32,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "snapshot_every": 5,
        },
        "gpu": {
            "size": 256,
            "epochs": 100,
            "batch_size": 16,
            "samples_per_epoch": 6750,
            "ngf": 64,
            "ndf": 64,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "snapshot_every": 10,
        },
    },
    # Source: conditional GAN + self-attention, L1 x 100, perceptual x 10, split 0.97.
    "sagan": {
        "smoke": {
            "size": 32,
            "epochs": 1,
            "batch_size": 4,
            "samples_per_epoch": 8,
            "ngf": 8,
            "ndf": 8,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "lambda_perceptual": 10.0,
            "split_percent": 0.97,
            "ablation": False,
            "snapshot_every": 1,
        },
        "cpu": {
            "size": 64,
            "epochs": 6,
            "batch_size": 16,
            "samples_per_epoch": 192,
            "ngf": 32,
            "ndf": 32,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "lambda_perceptual": 10.0,
            "split_percent": 0.97,
            "ablation": True,
            "snapshot_every": 2,
        },
        "gpu": {
            "size": 256,
            "epochs": 100,
            "batch_size": 16,
            "samples_per_epoch": 6750,
            "ngf": 64,
            "ndf": 64,
            "lr": 2e-4,
            "beta1": 0.5,
            "lambda_l1": 100.0,
            "lambda_perceptual": 10.0,
            "split_percent": 0.97,
            "ablation": True,
            "snapshot_every": 10,
        },
    },
}

NOTEBOOKS = tuple(_NOTEBOOKS)


_EXAMPLE = """'{"epochs": 3}'"""


def parse_overrides(overrides: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """OVERRIDES as a dict: given as a dict, or as a JSON object string (``papermill -p``).

    None and an empty string mean no overrides. Raises `UserError` naming OVERRIDES for bad JSON,
    JSON that is not an object, or a value of another type.
    """
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        given = dict(overrides)
    elif isinstance(overrides, str):
        if not overrides.strip():
            return {}
        try:
            given = json.loads(overrides)
        except json.JSONDecodeError as err:
            raise UserError(
                f"OVERRIDES is not valid JSON ({err.msg} at character {err.pos}): {overrides!r}; "
                f"give a JSON object such as {_EXAMPLE}"
            ) from None
        if not isinstance(given, dict):
            raise UserError(
                f"OVERRIDES must be a JSON object such as {_EXAMPLE}, got {overrides!r}"
            )
    else:
        raise UserError(
            "OVERRIDES must be a dict or a JSON object string, "
            f"got {type(overrides).__name__} {overrides!r}"
        )
    return given


def settings(
    profile: str,
    notebook: str,
    overrides: Mapping[str, Any] | str | None = None,
    /,
    **more: Any,
) -> dict[str, Any]:
    """The settings of `notebook` under `profile`, with overrides applied (names checked).

    `overrides` is a dict or a JSON object string (see `parse_overrides`); keyword arguments are
    overrides too. A name the notebook does not have raises `UserError` naming OVERRIDES.
    """
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    if notebook not in _NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {NOTEBOOKS}")
    chosen = {**_DATA, **_NOTEBOOKS[notebook][profile]}
    given = {**parse_overrides(overrides), **more}
    unknown = [name for name in given if name not in chosen]
    if unknown:
        raise UserError(
            f"OVERRIDES: {', '.join(map(repr, unknown))} "
            f"{'is not a setting' if len(unknown) == 1 else 'are not settings'} of {notebook!r}; "
            f"it has {', '.join(sorted(chosen))}"
        )
    chosen.update(given)
    return chosen
