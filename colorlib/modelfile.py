"""Exported models: what a trained network is, as one `.pt` file, and how it is read back.

An exported model holds plain data only (so it loads with ``torch.load(..., weights_only=True)``):
the architecture's registry name and keyword arguments, the input/output convention, the training
image size, and the weights. `ModelSpec.of` reads the architecture off the network itself, so a
notebook never keeps the two in step by hand.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from colorlib import conventions
from colorlib.errors import UserError
from colorlib.files import atomic_path, load_torch
from colorlib.models import MODELS, build_model, model_spec

FORMAT = "colorlib-model"
FORMAT_VERSION = 1
FIELDS = ("method", "arch", "kwargs", "io", "size", "state_dict")


class CheckpointError(UserError, ValueError):
    """A file is not a colorlib model, or not one this code can rebuild."""


@dataclass(frozen=True)
class ModelSpec:
    method: str  # e.g. "pix2pix_lab"; what the report calls it
    arch: str  # a key of colorlib.models.MODELS
    kwargs: dict[str, Any] = field(default_factory=dict)
    io: str = "lab"  # a key of colorlib.conventions.CONVENTIONS
    size: int = 256  # the side of the square images it was trained on
    # Normalise BatchNorm with each test image's own statistics (pix2pix's test protocol).
    batch_stats: bool = False

    def __post_init__(self) -> None:
        conventions.get(self.io)

    @classmethod
    def of(
        cls, net: nn.Module, *, method: str, io: str, size: int, batch_stats: bool = False
    ) -> ModelSpec:
        """The spec of `net` (a registered model): its architecture is read off the network."""
        arch, kwargs = model_spec(net)
        return cls(method, arch, kwargs, io=io, size=size, batch_stats=batch_stats)

    @property
    def convention(self) -> conventions.Convention:
        return conventions.get(self.io)

    def build(self) -> nn.Module:
        return build_model(self.arch, self.kwargs)


def save_model(path: str | Path, model: nn.Module, spec: ModelSpec) -> Path:
    """Write `model` with its spec to `path` atomically (a crash never leaves half a file)."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        **asdict(spec),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_model(
    path: str | Path, device: torch.device | str = "cpu", expect_method: str | None = None
) -> tuple[nn.Module, ModelSpec]:
    """Rebuild a model saved by `save_model`; a one-line `CheckpointError` for anything else."""
    path = Path(path)
    try:
        payload = load_torch(path, "model file")
    except UserError as err:
        raise CheckpointError(str(err)) from err
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        hint = ""
        if isinstance(payload, dict) and "trainer" in payload:
            hint = (
                " It is a training checkpoint (nets, optimizers, trainer state); pass the "
                "exported model.pt from the same run folder instead."
            )
        raise CheckpointError(f"{path} is not a colorlib model file.{hint}")
    if payload.get("version") != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format version {payload.get('version')}, "
            f"this colorlib reads version {FORMAT_VERSION}"
        )
    missing = [name for name in FIELDS if name not in payload]
    if missing:
        raise CheckpointError(f"{path} lacks the fields {', '.join(missing)} of a colorlib model")
    if payload["arch"] not in MODELS:
        raise CheckpointError(
            f"{path} needs architecture {payload['arch']!r}, unknown here (known: {sorted(MODELS)})"
        )
    try:
        spec = ModelSpec(
            method=str(payload["method"]),
            arch=payload["arch"],
            kwargs=dict(payload["kwargs"]),
            io=payload["io"],
            size=int(payload["size"]),
            batch_stats=bool(payload.get("batch_stats", False)),
        )
    except (UserError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path} has a malformed model description: {err}") from err
    if expect_method is not None and spec.method != expect_method:
        raise CheckpointError(f"{path} holds method {spec.method!r}, expected {expect_method!r}")
    bad = [k for k, v in payload["state_dict"].items() if v.is_floating_point() and not _finite(v)]
    if bad:
        # Such a model colours every photo black: refuse it rather than write black images.
        raise CheckpointError(
            f"{path} has non-finite weights (NaN or inf) in {bad[0]}"
            + (f" and {len(bad) - 1} more" if len(bad) > 1 else "")
            + ": its training diverged; use an earlier checkpoint"
        )
    model = spec.build()
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not fit {spec.arch}({spec.kwargs}): {str(err).splitlines()[0]}"
        ) from err
    return model.to(device).eval(), spec


def _finite(t: torch.Tensor) -> bool:
    return t.numel() == 0 or math.isfinite(float(t.abs().max()))
