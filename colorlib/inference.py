"""Trained models as files, and colorization at full resolution.

An exported model is one `.pt` file holding plain data only (so it loads with
``torch.load(..., weights_only=True)``): the architecture's registry name and keyword arguments,
the input/output convention, the training image size, and the weights.

Full-resolution inference works for every method the same way: the network sees the image's L
channel resized to its training size; whatever it predicts is turned into an a*b* map, upsampled
bilinearly to the original size and joined with the original, full-resolution L. Edges and fine
detail therefore come from the photo, and only the (smooth) colour comes from the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from colorlib import color, data, metrics
from colorlib.files import atomic_path
from colorlib.models import MODELS, batch_statistics, build_model

FORMAT = "colorlib-model"
FORMAT_VERSION = 1

# How a net's input and output relate to Lab (see colorlib.engine.PAIRS):
#   lab          L/50-1 in, ab/110 out (tanh)             ColorNet variants, GANs, U-Nets
#   unit         L and ab rescaled to [0, 1]              the ColorNet source's convention
#   mean_chroma  L/50-1 in, the image's mean (a, b) in [0, 1] out: a constant colour
#   rgb          gray RGB in [-1, 1] in, RGB in [-1, 1] out (RGB-space Pix2Pix)
IO_KINDS = ("lab", "unit", "mean_chroma", "rgb")


class CheckpointError(ValueError):
    """A file is not a colorlib model, or not one this code can rebuild."""


@dataclass(frozen=True)
class ModelSpec:
    method: str  # e.g. "pix2pix_lab"; what the report calls it
    arch: str  # a key of colorlib.models.MODELS
    kwargs: dict[str, Any] = field(default_factory=dict)
    io: str = "lab"
    size: int = 256  # the side of the square images it was trained on
    # Normalise BatchNorm with each test image's own statistics (pix2pix's test protocol).
    batch_stats: bool = False

    def __post_init__(self) -> None:
        if self.io not in IO_KINDS:
            raise ValueError(f"io must be one of {IO_KINDS}, got {self.io!r}")

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
    """Rebuild a model saved by `save_model`; clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # corrupt, truncated, not a torch file, or unsafe pickle
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({err.__class__.__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''})"
        ) from err
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
    if payload["arch"] not in MODELS:
        raise CheckpointError(
            f"{path} needs architecture {payload['arch']!r}, unknown here (known: {sorted(MODELS)})"
        )
    spec = ModelSpec(
        method=payload["method"],
        arch=payload["arch"],
        kwargs=dict(payload["kwargs"]),
        io=payload["io"],
        size=int(payload["size"]),
        batch_stats=bool(payload.get("batch_stats", False)),
    )
    if expect_method is not None and spec.method != expect_method:
        raise CheckpointError(f"{path} holds method {spec.method!r}, expected {expect_method!r}")
    model = spec.build()
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not fit {spec.arch}({spec.kwargs}): {str(err).splitlines()[0]}"
        ) from err
    return model.to(device).eval(), spec


# --- prediction -------------------------------------------------------------------------------


def _ab_at_model_size(model: nn.Module, spec: ModelSpec, L_small: torch.Tensor) -> torch.Tensor:
    """Normalised ab (B, 2, s, s) predicted from normalised L (B, 1, s, s)."""
    if spec.io == "lab":
        return model(L_small)
    if spec.io == "unit":
        return model((L_small + 1) / 2) * 2 - 1
    if spec.io == "mean_chroma":
        mean = model(L_small) * 2 - 1
        return mean[:, :, None, None].expand(-1, -1, *L_small.shape[-2:])
    rgb = (model(color.gray_rgb(L_small) * 2 - 1) + 1) / 2
    return color.rgb_to_model_input(rgb.clamp(0, 1))[1]


@torch.no_grad()
def predict(
    model: nn.Module, spec: ModelSpec, image: torch.Tensor, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Colorize one uint8 RGB image (3, H, W) of any size; returns uint8 (3, H, W).

    A colour image is made gray first (only its L channel is used).
    """
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"expected a uint8 tensor (3, H, W), got {image.dtype} {tuple(image.shape)}"
        )
    model.eval()
    rgb = color.to_float(image)[None].to(device)
    L_full, _ = color.rgb_to_model_input(rgb)
    L_small = F.interpolate(
        L_full, size=(spec.size, spec.size), mode="bilinear", antialias=True, align_corners=False
    )
    with batch_statistics(model) if spec.batch_stats else nullcontext():
        ab_small = _ab_at_model_size(model, spec, L_small)
    ab_full = F.interpolate(ab_small, size=L_full.shape[-2:], mode="bilinear", align_corners=False)
    return color.to_uint8(color.model_output_to_rgb(L_full, ab_full))[0].cpu()


def predict_all(
    model: nn.Module,
    spec: ModelSpec,
    images: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
) -> list[torch.Tensor]:
    return [predict(model, spec, img, device) for img in images]


def evaluate_model(
    model: nn.Module,
    spec: ModelSpec,
    images: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
) -> tuple[list[torch.Tensor], dict[str, float]]:
    """Full-resolution predictions for `images` and their metrics against them."""
    preds = predict_all(model, spec, images, device)
    return preds, metrics.evaluate(preds, images)


class Snapshots:
    """Colorizes a fixed set of images after chosen epochs, to watch a model learn.

    Each call saves ``<folder>/epoch_<NNN>.png`` (the images side by side), so a resumed run
    keeps the earlier ones. Used as a `Trainer` ``on_epoch`` callback.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        images: Sequence[torch.Tensor],
        folder: str | Path,
        every: int = 1,
        device: torch.device | str = "cpu",
        size: int = 128,
    ) -> None:
        self.model, self.spec, self.every, self.device = model, spec, every, device
        # Small copies keep this cheap: snapshots are for looking, not for scoring.
        self.images = [data.centre_square(img, size) for img in images]
        self.folder = Path(folder)

    def __call__(self, epoch: int) -> Path | None:
        if epoch % self.every:
            return None
        was_training = self.model.training
        preds = predict_all(self.model, self.spec, self.images, self.device)
        self.model.train(was_training)
        strip = torch.cat(preds, dim=2)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"epoch_{epoch:03d}.png"
        from PIL import Image  # local: PIL is only needed when saving

        Image.fromarray(strip.permute(1, 2, 0).numpy()).save(path)
        return path
