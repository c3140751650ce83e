"""Run profiles: what each notebook trains, and how long, in `smoke`, `cpu` and `gpu`.

- ``smoke``: proves the notebook runs end to end (CI, 2 cores, well under a minute each).
- ``cpu``: real, meaningful results on a 2-core laptop (a few minutes a notebook).
- ``gpu``: the source write-ups' settings (256x256 where they used it, their epochs, widths and
  learning rates).

A notebook asks for its own settings with ``settings(PROFILE, "colornet", **overrides)``; it gets
a plain dict, and an override of a name the notebook does not have is an error, not a silent typo.
"""

from __future__ import annotations

from typing import Any

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


def settings(profile: str, notebook: str, **overrides: Any) -> dict[str, Any]:
    """The settings of `notebook` under `profile`, with `overrides` applied (names checked)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    if notebook not in _NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {NOTEBOOKS}")
    chosen = {**_DATA, **_NOTEBOOKS[notebook][profile]}
    unknown = sorted(set(overrides) - set(chosen))
    if unknown:
        raise ValueError(
            f"override(s) {unknown} are not settings of {notebook!r}; it has {sorted(chosen)}"
        )
    chosen.update(overrides)
    return chosen
