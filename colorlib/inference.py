"""Colorization at full resolution, with any exported model (see `colorlib.modelfile`).

Full-resolution inference works for every method the same way: the network sees the image's L
channel resized so that its short side is the training size, keeping the photo's aspect ratio
(the networks are fully convolutional; the input is padded by reflection to the multiple of 2**k
the network needs, and the padding is cut off its output). A network with one fixed input size
(the mean-chroma regressor ends in a linear layer) sees a square instead. The output is turned
into an a*b* map by the model's input/output convention (`colorlib.conventions`), upsampled
bilinearly to the original size and joined with the original, full-resolution L: edges and fine
detail come from the photo, only the (smooth) colour from the network. A model that predicts a
whole RGB image (RGB Pix2Pix) is shown as it is, its own lightness included, unless
``true_lightness`` asks for its colour alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from colorlib import fastlab
from colorlib.modelfile import ModelSpec
from colorlib.models import batch_statistics, input_multiple

# --- prediction -------------------------------------------------------------------------------
#
# A 12-megapixel photo would need a dozen full-size float32 temporaries (48 MB per channel) if
# its L and its final RGB were computed in one go. `predict` keeps only the full-size L (one
# channel) and the uint8 result, and computes everything else in strips of rows that stay in the
# CPU's cache, with `colorlib.fastlab` (the same maths as `color.rgb_to_model_input` and
# `color.model_output_to_rgb`, the reference the tests compare with).

# Pixels per strip: on the CPU, temporaries of 1 MB a channel, near the cache's size (smaller
# strips are no faster, and slower when other processes compete for the cores); on a GPU, strips
# only bound the memory.
_CPU_STRIP_PIXELS = 1 << 18
_GPU_STRIP_PIXELS = 1 << 22


def _rows_of(ab_rows: torch.Tensor, start: int, stop: int, height: int) -> torch.Tensor:
    """Rows start..stop of `ab_rows` (C, h, W) bilinearly resized to `height` rows: what
    ``F.interpolate(..., mode="bilinear", align_corners=False)`` gives for them."""
    h = ab_rows.shape[1]
    y = torch.arange(start, stop, dtype=torch.float32, device=ab_rows.device)
    src = ((y + 0.5) * (h / height) - 0.5).clamp_(min=0.0)
    i0 = src.long().clamp_(max=h - 1)
    i1 = (i0 + 1).clamp_(max=h - 1)
    weight = (src - i0).clamp_(0.0, 1.0)[:, None]
    return torch.lerp(ab_rows[:, i0], ab_rows[:, i1], weight)


def _strip_height(height: int, width: int, device: torch.device) -> int:
    pixels = _CPU_STRIP_PIXELS if device.type == "cpu" else _GPU_STRIP_PIXELS
    return max(1, min(height, pixels // max(width, 1)))


def network_size(height: int, width: int, size: int, multiple: int | None) -> tuple[int, int]:
    """The (h, w) a network sees for an image of `height` x `width`: the short side at `size`,
    the aspect ratio kept; `size` x `size` for a network with one fixed size (`multiple` None)."""
    if multiple is None:
        return size, size
    scale = size / min(height, width)
    return max(1, round(height * scale)), max(1, round(width * scale))


def pad_to_multiple(x: torch.Tensor, multiple: int | None) -> tuple[torch.Tensor, int, int]:
    """`x` (B, C, h, w) padded to multiples of `multiple`, half the padding on each side, by
    reflection (by replication where the image is too small to reflect); and the top and left
    padding, to cut the output back."""
    if multiple is None:
        return x, 0, 0
    h, w = x.shape[-2:]
    ph, pw = -h % multiple, -w % multiple
    if not ph and not pw:
        return x, 0, 0
    top, left = ph // 2, pw // 2
    pads = (left, pw - left, top, ph - top)
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, pads, mode=mode), top, left


@torch.no_grad()
def predict(
    model: nn.Module,
    spec: ModelSpec,
    image: torch.Tensor,
    device: torch.device | str = "cpu",
    true_lightness: bool = False,
) -> torch.Tensor:
    """Colorize one uint8 RGB image (3, H, W) of any size; returns uint8 (3, H, W).

    A colour image is made gray first (only its L channel is used). The result is a (3, H, W)
    view of an (H, W, 3) tensor, the layout image files use, so it is saved without a copy.
    Memory: the full-size L (4 bytes a pixel) and the result (3 bytes a pixel), plus strips.
    `true_lightness`: for a model that predicts RGB, keep the photo's L and only its colour.
    """
    if image.dtype != torch.uint8 or image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"expected a uint8 tensor (3, H, W), got {image.dtype} {tuple(image.shape)}"
        )
    device = torch.device(device)
    model.eval()
    height, width = image.shape[1:]
    step = _strip_height(height, width, device)
    scratch: dict[str, torch.Tensor] = {}
    L_full = torch.empty((1, 1, height, width), device=device)
    for start in range(0, height, step):
        strip = image[:, start : start + step].to(device)
        fastlab.lightness(strip, L_full[0, 0, start : start + step], scratch)
    multiple = input_multiple(model)
    h, w = network_size(height, width, spec.size, multiple)
    L_small = F.interpolate(
        L_full, size=(h, w), mode="bilinear", antialias=True, align_corners=False
    )
    convention = spec.convention
    x, top, left = pad_to_multiple(convention.model_input(L_small), multiple)
    with batch_statistics(model) if spec.batch_stats else nullcontext():
        output = model(x)
    if x.shape[-2:] != (h, w):
        output = output[..., top : top + h, left : left + w]
    result = torch.empty((height, width, 3), dtype=torch.uint8)
    out = result if device.type == "cpu" else torch.empty_like(result, device=device)
    if convention.own_rgb is not None and not true_lightness:
        # The model's own image, lightness included, upsampled like the a*b* below.
        rgb_rows = F.interpolate(
            convention.own_rgb(output.float()), size=(h, width), mode="bilinear",
            align_corners=False,
        )[0]  # fmt: skip
        for start in range(0, height, step):
            stop = min(start + step, height)
            rgb = _rows_of(rgb_rows, start, stop, height).mul_(255).round_().clamp_(0, 255)
            out[start:stop] = rgb.permute(1, 2, 0).to(torch.uint8)
    else:
        ab_small = convention.to_ab(output, L_small)
        # Bilinear upsampling is separable: the full width now (2, h, W), the height per strip.
        ab_rows = F.interpolate(
            ab_small.float(), size=(ab_small.shape[-2], width), mode="bilinear",
            align_corners=False,
        )[0]  # fmt: skip
        for start in range(0, height, step):
            stop = min(start + step, height)
            ab = _rows_of(ab_rows, start, stop, height)
            fastlab.lab_to_rgb8(L_full[0, 0, start:stop], ab, out[start:stop], scratch)
    if out is not result:
        result.copy_(out)
    return result.permute(2, 0, 1)


def predict_all(
    model: nn.Module,
    spec: ModelSpec,
    images: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
    true_lightness: bool = False,
) -> list[torch.Tensor]:
    return [predict(model, spec, img, device, true_lightness) for img in images]


def evaluate_model(
    model: nn.Module,
    spec: ModelSpec,
    images: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
) -> tuple[list[torch.Tensor], dict[str, float]]:
    """Full-resolution predictions for `images` and their metrics against them."""
    from colorlib import metrics  # local: scikit-image is not needed to colorize

    preds = predict_all(model, spec, images, device)
    return preds, metrics.evaluate(preds, images)


class Snapshots:
    """Colorizes a fixed set of images after chosen epochs, to watch a model learn.

    Each call saves the images side by side to ``path_for(epoch)`` (the run folder decides where,
    see `colorlib.runs.Run.snapshot_file`), so a resumed run keeps the earlier ones. Used as a
    `Trainer` ``on_epoch`` callback.
    """

    def __init__(
        self,
        model: nn.Module,
        spec: ModelSpec,
        images: Sequence[torch.Tensor],
        path_for: Callable[[int], Path],
        every: int = 1,
        device: torch.device | str = "cpu",
        size: int = 128,
    ) -> None:
        self.model, self.spec, self.every, self.device = model, spec, every, device
        from colorlib import data  # local: the colorize command needs no data sets

        # Small copies keep this cheap: snapshots are for looking, not for scoring.
        self.images = [data.centre_square(img, size) for img in images]
        self.path_for = path_for

    def __call__(self, epoch: int) -> Path | None:
        if epoch % self.every:
            return None
        was_training = self.model.training
        preds = predict_all(self.model, self.spec, self.images, self.device)
        self.model.train(was_training)
        strip = torch.cat(preds, dim=2)
        path = self.path_for(epoch)
        from PIL import Image  # local: PIL is only needed when saving

        Image.fromarray(strip.permute(1, 2, 0).numpy()).save(path)
        return path
