"""The fast, in-place, no-grad twins of `colorlib.color`'s conversions.

`model_input` and `rgb_to_lab` serve the data loader; `lightness` and `lab_to_rgb8` serve
full-resolution inference, strip by strip (`colorlib.inference.predict`).

`colorlib.color` is the readable reference that notebook 01 teaches from: differentiable, one
line per formula. This module computes the same values for batches that need no gradient (the
data loader makes one per training step), arranged for speed: float32, few full-size passes, in
place where possible, with optional `scratch` buffers reused from batch to batch. It uses the
public constants of `colorlib.color` and nothing else from colorlib.

Two rewrites of the same maths:
- x ** p is computed as exp(p * log(x)): torch's vectorised exp and log are about 3x faster than
  its pow on the CPU, and the rounding stays ~1e-7 relative.
- A two-branch curve "g(x) if x > k else s * x + c" is computed without masks or torch.where as
  g(max(x, k)) + s * (min(x, k) - k): exact above the break point k and, below it, off only by the
  curve's own jump at k (~2e-9 for the sRGB curve, ~3e-7 for Lab's f). The linear parts then fold
  into the colour matrices: with the rows [g(max(x, k)); min(x, k); 1] stacked in one (B, 7, N)
  buffer, each stage's weighted sum, white point, scales and offsets are one matmul.

Float32 results stay within ~2e-4 Lab units of the float64 reference (tests/test_fastlab.py).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from colorlib.color import (
    AB_SCALE,
    L_SCALE,
    LAB_EPSILON,
    LAB_F_THRESHOLD,
    LAB_KAPPA,
    LINEAR_THRESHOLD,
    SRGB_THRESHOLD,
    WHITE_D65,
    XYZ_FROM_RGB,
)

Scratch = dict[str, Tensor]

# Made once per (stage, device): rebuilding them per batch would cost more than the matmuls.
_weights: dict[tuple[str, torch.device], Tensor] = {}


def _weight(kind: str, device: torch.device) -> Tensor:
    """The float32 matrix of one stage: "xyz" (3, 7), "lab" (3, 7) or "ab" (2, 6) for
    `model_input`; "y" (1, 7) and "rgb" (3, 7) for `lightness` and `lab_to_rgb8`.

    "y": rows [(max(c, k) + 0.055) ** 2.4; min(c, k); 1] of 0..255 RGB -> luminance Y.
    "rgb": rows [max(t, k) ** 3; min(t, k); 1] of f(X), f(Y), f(Z) -> linear RGB.
    """
    key = (kind, device)
    if key not in _weights:
        f64 = torch.float64
        if kind == "xyz":
            # Rows [p; d; 1] with p = (max(c, k) + 0.055) ** 2.4 and d = min(c, k): linear RGB is
            # p / 1.055 ** 2.4 + (d - k) / 12.92; the product is XYZ / white.
            white = torch.tensor(WHITE_D65, dtype=f64)[:, None]
            xyz = torch.tensor(XYZ_FROM_RGB, dtype=f64) / white
            offset = -xyz.sum(dim=1, keepdim=True) * SRGB_THRESHOLD / 12.92
            weight = torch.cat((xyz / 1.055**2.4, xyz / 12.92, offset), dim=1)
        elif kind == "y":
            # c = v / 255; linear = p / 1.055 ** 2.4 + (min(c, k) - k) / 12.92; Y = y_row . linear.
            y_row = torch.tensor(XYZ_FROM_RGB[1], dtype=f64)[None] / WHITE_D65[1]
            k = SRGB_THRESHOLD
            offset = -y_row.sum(dim=1, keepdim=True) * k / 12.92
            weight = torch.cat((y_row / 1.055**2.4, y_row / (12.92 * 255), offset), dim=1)
        elif kind == "rgb":
            # XYZ = white * f_inverse(t), f_inverse(t) = max(t, k) ** 3 + (min(t, k) - k) / kappa
            # (off by the curve's own ~1e-7 jump below k); linear RGB = inverse matrix @ XYZ.
            rgb_from_xyz = torch.linalg.inv(torch.tensor(XYZ_FROM_RGB, dtype=f64))
            a = rgb_from_xyz * torch.tensor(WHITE_D65, dtype=f64)
            k, kappa = LAB_F_THRESHOLD, LAB_KAPPA
            offset = -a.sum(dim=1, keepdim=True) * k / kappa
            weight = torch.cat((a, a / kappa, offset), dim=1)
        else:
            # Rows [g; e; 1] with g = max(t, eps) ** (1/3) and e = min(t, eps):
            # f = g + kappa * (e - eps), then L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz).
            lab = torch.tensor([[0, 116, 0], [500, -500, 0], [0, 200, -200]], dtype=f64)
            offset = torch.tensor([-16.0, 0.0, 0.0], dtype=f64) - lab.sum(dim=1) * (
                LAB_KAPPA * LAB_EPSILON
            )
            weight = torch.cat((lab, LAB_KAPPA * lab, offset[:, None]), dim=1)
            if kind == "ab":  # ab / 110; a and b need no offset (it cancels in the differences)
                weight = weight[1:, :6] / AB_SCALE
        _weights[key] = weight.to(device=device, dtype=torch.float32)
    return _weights[key]


def scratch_buffer(
    scratch: Scratch | None,
    name: str,
    shape: tuple[int, ...],
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> tuple[Tensor, bool]:
    """An uninitialised tensor for intermediate results, kept in `scratch` (when given) for the
    next call with the same shape; and whether it is new. A loop that makes batch after batch
    reuses its buffers instead of fetching fresh memory (page faults) for each one."""
    buffer = scratch.get(name) if scratch is not None else None
    if (
        buffer is not None
        and buffer.shape == shape
        and buffer.device == device
        and buffer.dtype == dtype
        and buffer.is_contiguous(memory_format=memory_format)
    ):
        return buffer, False
    buffer = torch.empty(shape, dtype=dtype, device=device, memory_format=memory_format)
    if scratch is not None:
        scratch[name] = buffer
    return buffer, True


def _check_rgb(rgb: Tensor) -> None:
    if not isinstance(rgb, Tensor) or rgb.dim() not in (3, 4) or rgb.shape[-3] != 3:
        shape = tuple(rgb.shape) if isinstance(rgb, Tensor) else type(rgb).__name__
        raise ValueError(f"rgb must be a tensor shaped (B, 3, H, W) or (3, H, W), got {shape}")
    if not rgb.is_floating_point():
        raise TypeError(f"rgb must be a float tensor, got {rgb.dtype} (use color.to_float)")


def _lab_f_rows(rgb: Tensor, scratch: Scratch | None) -> Tensor:
    """(B, 7, H*W) float32 rows [g; e; 1] of the Lab stage (see the module docstring)."""
    b, n = math.prod(rgb.shape[:-3]), rgb.shape[-2] * rgb.shape[-1]
    x = rgb.to(torch.float32).reshape(b, 3, n)
    rows, new = scratch_buffer(scratch, "lab_rows", (b, 7, n), x.device)
    if new:
        rows[:, 6].fill_(1.0)
    power, low = rows[:, :3], rows[:, 3:6]
    torch.clamp(x, min=SRGB_THRESHOLD, out=power).add_(0.055).log_().mul_(2.4).exp_()
    torch.clamp(x, max=SRGB_THRESHOLD, out=low)
    t, _ = scratch_buffer(scratch, "lab_t", (b, 3, n), x.device)
    # bmm with an expanded weight: torch.matmul would fold the batch and transpose instead.
    torch.bmm(_weight("xyz", x.device).expand(b, 3, 7), rows, out=t)  # XYZ / white
    torch.clamp(t, min=LAB_EPSILON, out=power).log_().mul_(1.0 / 3.0).exp_()
    torch.clamp(t, max=LAB_EPSILON, out=low)
    return rows


@torch.no_grad()
def rgb_to_lab(rgb: Tensor) -> Tensor:
    """`color.rgb_to_lab` without gradients: sRGB in [0, 1] -> Lab, same shape and dtype,
    computed in float32."""
    _check_rgb(rgb)
    rows = _lab_f_rows(rgb, None)
    lab = torch.bmm(_weight("lab", rows.device).expand(rows.shape[0], 3, 7), rows)
    return lab.view(rgb.shape).to(rgb.dtype)


@torch.no_grad()
def model_input(rgb: Tensor, scratch: Scratch | None = None) -> tuple[Tensor, Tensor]:
    """`color.rgb_to_model_input` without gradients: float RGB in [0, 1], (B, 3, H, W) or
    (3, H, W) -> (L_norm, ab_norm), contiguous, in the input's dtype, computed in float32.

    `scratch` (a dict the caller keeps between calls) holds the intermediate buffers for the
    next batch of the same shape; the values are the same with or without it. The results are
    always new tensors, never the scratch buffers.
    """
    _check_rgb(rgb)
    rows = _lab_f_rows(rgb, scratch)
    b, h, w = rows.shape[0], rgb.shape[-2], rgb.shape[-1]
    # L_norm = (116 fy - 16) / 50 - 1 from the y rows alone, and ab from one product, so that
    # both come out contiguous like the reference's.
    scale = 116.0 / L_SCALE
    L = torch.add(rows[:, 1:2], rows[:, 4:5], alpha=LAB_KAPPA)
    L.mul_(scale).add_(-16.0 / L_SCALE - 1.0 - scale * LAB_KAPPA * LAB_EPSILON)
    ab = torch.bmm(_weight("ab", rows.device).expand(b, 2, 6), rows[:, :6])
    shape = rgb.shape[:-3]
    return L.view(*shape, 1, h, w).to(rgb.dtype), ab.view(*shape, 2, h, w).to(rgb.dtype)


# --- strips of a large photo, for inference: uint8 in, L out; L and ab in, uint8 out ----------


def _strip_buffer(
    scratch: dict[str, Tensor], name: str, shape: tuple[int, ...], device: torch.device
) -> Tensor:
    """A float32 buffer kept in `scratch` from strip to strip (new for a strip of another size)."""
    buf = scratch.get(name)
    if buf is None or buf.shape != shape:
        buf = scratch[name] = torch.empty(shape, dtype=torch.float32, device=device)
        if name == "rows":
            buf[6].fill_(1.0)
    return buf


def lightness(rgb8: Tensor, out: Tensor, scratch: dict) -> None:
    """Normalised L (`color.rgb_to_model_input`'s first output) of uint8 RGB (3, h, w) into
    `out` (h, w), for a strip of a large photo; `scratch` keeps the buffers between strips."""
    n = rgb8.shape[1] * rgb8.shape[2]
    x = _strip_buffer(scratch, "x", (3, n), out.device)
    x.copy_(rgb8.reshape(3, n))
    rows = _strip_buffer(scratch, "rows", (7, n), out.device)
    k = SRGB_THRESHOLD * 255
    torch.clamp(x, min=k, out=rows[:3]).mul_(1 / 255).add_(0.055).log_().mul_(2.4).exp_()
    torch.clamp(x, max=k, out=rows[3:6])
    y = torch.mm(_weight("y", out.device), rows, out=x[:1])  # luminance Y (white: Y = 1)
    # f(Y) = max(Y, eps) ** (1/3) + kappa * (min(Y, eps) - eps); L = 116 f(Y) - 16; L / 50 - 1.
    eps, scale = LAB_EPSILON, 116.0 / L_SCALE
    low = torch.clamp(y, max=eps, out=x[1:2])
    g = y.clamp_(min=eps).log_().mul_(1 / 3).exp_()
    g.add_(low, alpha=LAB_KAPPA).mul_(scale)
    g.add_(-16.0 / L_SCALE - 1.0 - scale * LAB_KAPPA * eps)
    out.copy_(g.view(out.shape))


def lab_to_rgb8(L_norm: Tensor, ab_norm: Tensor, out: Tensor, scratch: dict) -> None:
    """uint8 RGB (h, w, 3) into `out` from normalised L (h, w) and ab (2, h, w): what
    ``color.to_uint8(color.model_output_to_rgb(L, ab))`` gives, clipped to the gamut."""
    n = L_norm.numel()
    device = L_norm.device
    t = _strip_buffer(scratch, "x", (3, n), device)  # f(X), f(Y), f(Z)
    fy = t[1].view(L_norm.shape)
    # L = 50 (L_norm + 1); fy = (L + 16) / 116; fx = fy + a / 500; fz = max(fy - b / 200, 0).
    torch.mul(L_norm, L_SCALE / 116.0, out=fy).add_((L_SCALE + 16.0) / 116.0)
    ab = ab_norm.reshape(2, n)
    torch.add(t[1], ab[0], alpha=AB_SCALE / 500.0, out=t[0])
    torch.add(t[1], ab[1], alpha=-AB_SCALE / 200.0, out=t[2]).clamp_(min=0.0)
    rows = _strip_buffer(scratch, "rows", (7, n), device)
    k = LAB_F_THRESHOLD
    torch.clamp(t, min=k, out=rows[:3]).pow_(3)
    torch.clamp(t, max=k, out=rows[3:6])
    linear = torch.mm(_weight("rgb", device), rows, out=t)
    # sRGB = 1.055 max(c, k) ** (1/2.4) - 0.055 + 12.92 (min(c, k) - k), times 255, rounded.
    k = LINEAR_THRESHOLD
    low = torch.clamp(linear, max=k, out=rows[3:6])
    srgb = rows[:3]
    torch.clamp(linear, min=k, out=srgb).log_().mul_(1 / 2.4).exp_().mul_(255 * 1.055)
    srgb.add_(low, alpha=255 * 12.92).add_(-255 * (0.055 + 12.92 * k))
    srgb.clamp_(0.0, 255.0).round_()
    out.copy_(srgb.view(3, *out.shape[:2]).permute(1, 2, 0))
