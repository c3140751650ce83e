"""Batched augmentation (`Augment`: flips, small rotation, darkening) and the offline augmented
set of the source (`offline_augment`).

Works on whole batches of tensors, with the random draws made up front from the caller's
generator (`Augment.sample`) so that a seed fixes them whatever is enabled. Uses the crop
geometry of `colorlib.data.crops` and the scratch buffers of `colorlib.fastlab`; no files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from colorlib.color import to_float, to_uint8
from colorlib.data.crops import random_boxes, render, resize_layout
from colorlib.fastlab import Scratch, scratch_buffer


@dataclass(frozen=True)
class Augment:
    """Per-sample random flips, small rotation (reflection padding) and darkening, on a batch."""

    hflip: bool = True
    vflip: bool = True
    max_rotation_deg: float = 10.0
    brightness: tuple[float, float] | None = (0.6, 1.0)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Draw the parameters of `n` samples (always the same draws, whatever is enabled)."""
        u = torch.rand(n, 4, generator=generator)
        low, high = self.brightness if self.brightness is not None else (1.0, 1.0)
        return {
            "hflip": u[:, 0] < 0.5,
            "vflip": u[:, 1] < 0.5,
            "angle": (2.0 * u[:, 2] - 1.0) * self.max_rotation_deg,
            "brightness": low + u[:, 3] * (high - low),
        }

    def apply(self, rgb: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Augment float RGB (B, 3, H, W) in [0, 1] with parameters from `sample`."""
        b = rgb.shape[0]
        p = {k: v[:b].to(rgb.device) for k, v in params.items()}
        if self.max_rotation_deg > 0:
            rgb = self._rotate(rgb, p)
        else:
            if self.hflip:
                rgb = torch.where(p["hflip"].view(-1, 1, 1, 1), rgb.flip(-1), rgb)
            if self.vflip:
                rgb = torch.where(p["vflip"].view(-1, 1, 1, 1), rgb.flip(-2), rgb)
        if self.brightness is not None:
            rgb = rgb * p["brightness"].to(rgb.dtype).view(-1, 1, 1, 1)
            return rgb.clamp_(0.0, 1.0)  # a fresh tensor: clamp in place
        return rgb.clamp(0.0, 1.0)

    def apply_to_batch(
        self, batch: Tensor, params: dict[str, Tensor], scratch: Scratch | None = None
    ) -> Tensor:
        """`apply` on a rendered batch, uint8 (B, 3, H, W) or float in [0, 1]: the loader's
        path, equal to `apply(to_float(batch), params)` up to float rounding.

        The conversion to float and the brightness factor are applied together before the
        rotation (bilinear resampling commutes with a per-image factor), in a buffer kept in
        `scratch` for the next batch (see `colorlib.fastlab.scratch_buffer`) with the sampling
        grid. The result is always a new tensor.
        """
        if self.max_rotation_deg <= 0:
            batch = batch.contiguous()
            return self.apply(to_float(batch) if batch.dtype == torch.uint8 else batch, params)
        b = batch.shape[0]
        p = {k: v[:b].to(batch.device) for k, v in params.items()}
        scale = torch.full((b,), 1.0 / 255.0 if batch.dtype == torch.uint8 else 1.0)
        scale = scale.to(batch.device)
        if self.brightness is not None:
            scale = scale * p["brightness"].float()
        # In the batch's own layout (the CPU crops are channels-last, as the uint8 resize works):
        # a conversion that also transposed would cost 3x more, and grid_sample reads either
        # layout at the same speed and writes the default one.
        layout = (
            torch.channels_last
            if batch.dim() == 4 and batch.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        rgb, _ = scratch_buffer(
            scratch, "augment_input", tuple(batch.shape), batch.device, memory_format=layout
        )
        # copy_ then mul_: a mixed-type torch.mul(..., out=) would convert into a temporary first.
        rgb.copy_(batch).mul_(scale.view(-1, 1, 1, 1))
        return self._rotate(rgb, p, scratch).clamp_(0.0, 1.0)

    def _rotate(self, rgb: Tensor, p: dict[str, Tensor], scratch: Scratch | None = None) -> Tensor:
        # The flips are folded into the rotation's sampling grid: one resampling pass for all.
        angle = torch.deg2rad(p["angle"].to(rgb.dtype))
        sx = 1.0 - 2.0 * (p["hflip"] & self.hflip).to(rgb.dtype)
        sy = 1.0 - 2.0 * (p["vflip"] & self.vflip).to(rgb.dtype)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        theta = torch.stack((sx * cos, -sx * sin, zero, sy * sin, sy * cos, zero), dim=1)
        b, _, h, w = rgb.shape
        planes, _ = scratch_buffer(scratch, "augment_grid", (b, 2, h, w), rgb.device, rgb.dtype)
        grid = affine_grid(theta.view(-1, 2, 3), h, w, out=planes)
        return F.grid_sample(
            rgb, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )

    def __call__(self, rgb: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply(rgb, self.sample(rgb.shape[0], generator))


def _pixel_centres(n: int, like: Tensor) -> Tensor:
    """Normalised coordinates of the centres of n pixels (align_corners=False)."""
    return (torch.arange(n, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / n - 1.0


def affine_grid(theta: Tensor, h: int, w: int, out: Tensor | None = None) -> Tensor:
    """`F.affine_grid(theta, (B, C, h, w), align_corners=False)`, ~5x faster: the x and y planes
    are each a per-column plus a per-row part, summed in one pass into `out` (B, 2, h, w) and
    returned as a (B, h, w, 2) view, which grid_sample reads as fast as a contiguous grid."""
    b = theta.shape[0]
    columns = _pixel_centres(w, theta).view(1, 1, 1, w) * theta[:, :, 0].view(b, 2, 1, 1)
    rows = _pixel_centres(h, theta).view(1, 1, h, 1) * theta[:, :, 1].view(b, 2, 1, 1)
    grid = torch.add(columns, rows + theta[:, :, 2].view(b, 2, 1, 1), out=out)
    return grid.permute(0, 2, 3, 1)


def offline_augment(
    images: Sequence[Tensor],
    copies: int = 10,
    *,
    size: int | None = None,
    augment: Augment | None = None,
    crop_min_frac: float = 0.5,
    seed: int = 0,
) -> list[Tensor]:
    """The source's offline augmented set: `copies` random crops (resized to `size`, default the
    smallest short side) of each image, augmented, as uint8 (3, size, size) tensors; the copies of
    image i are at [i * copies, (i + 1) * copies). `augment` defaults to `Augment()`.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if len(images) == 0:
        raise ValueError("images is empty")
    augment = augment if augment is not None else Augment()
    if size is None:
        size = min(min(image.shape[-2:]) for image in images)
    generator = torch.Generator().manual_seed(seed)
    out: list[Tensor] = []
    for image in images:
        h, w = image.shape[-2:]
        if min(h, w) < size:
            raise ValueError(f"an image of {w}x{h} is smaller than size {size}")
        u = torch.rand(copies, 3, generator=generator, dtype=torch.float64)
        boxes = random_boxes([(h, w)] * copies, u, crop_min_frac)
        rgb = augment(render([resize_layout(image)] * copies, boxes, size), generator)
        out.extend(to_uint8(rgb).unbind(0))
    return out
