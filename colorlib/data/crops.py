"""Square crops of in-memory uint8 images: where they are drawn, and cutting and resizing them.

The geometry shared by the loader (random training crops, centre evaluation crops) and the
offline augmented set, so that both draw and render crops alike. Pure tensor functions: no
files, no randomness of their own (the uniform draws come from the caller's generator).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from colorlib.color import to_float

Box = tuple[int, int, int]  # (top, left, side) of a square


def random_boxes(shapes: list[tuple[int, int]], u: Tensor, min_frac: float) -> list[Box]:
    """One square box per (H, W) in `shapes` from the uniform draws `u` (N, 3): the side in
    [min_frac, 1] x min(H, W), then the top and left, each uniform over the positions allowed."""
    boxes = []
    for (h, w), (u_side, u_y, u_x) in zip(shapes, u.tolist(), strict=True):
        m = min(h, w)
        low = max(1, math.ceil(min_frac * m))
        side = min(m, low + int(u_side * (m - low + 1)))
        top = min(h - side, int(u_y * (h - side + 1)))
        left = min(w - side, int(u_x * (w - side + 1)))
        boxes.append((top, left, side))
    return boxes


def centre_box(h: int, w: int) -> Box:
    """The largest centred square of an H x W image."""
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side


def centre_square(image: Tensor, size: int) -> Tensor:
    """The centre square of a uint8 image (3, H, W), resized to `size` (antialiased): what an
    evaluation batch shows the network."""
    _, h, w = image.shape
    return render_crops([image.cpu()], [centre_box(h, w)], size)[0].contiguous()


def resize_layout(image: Tensor) -> Tensor:
    """`image` stored channels-last (H, W, 3 in memory) on the CPU, where the antialiased uint8
    resize works in that layout and would otherwise convert every crop (about 2x slower)."""
    if image.device.type != "cpu" or image.permute(1, 2, 0).is_contiguous():
        return image
    return image.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def render_crops(images: list[Tensor], boxes: list[Box], size: int) -> Tensor:
    """Crop each square box and resize it to size x size: (B, 3, size, size), uint8 on the CPU
    (where the antialiased resize of uint8 is about 3x faster than of float), float elsewhere."""
    out = []
    for image, (top, left, side) in zip(images, boxes, strict=True):
        crop = image[None, :, top : top + side, left : left + side]
        if image.device.type != "cpu":
            crop = to_float(crop)
        if side != size:
            crop = F.interpolate(
                crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        out.append(crop)
    return torch.cat(out)


def render(images: list[Tensor], boxes: list[Box], size: int) -> Tensor:
    """Crop each square box and resize it to size x size: float RGB (B, 3, size, size)."""
    batch = render_crops(images, boxes, size).contiguous()
    return to_float(batch) if batch.dtype == torch.uint8 else batch
