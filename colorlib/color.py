"""Batched, differentiable sRGB <-> CIE Lab (D65, 2 degree observer) conversions in torch.

The constants and branch points are those of ``skimage.color.rgb2lab`` / ``lab2rgb`` so that the
two agree to ~1e-6 Lab units: the metrics (computed with scikit-image, as in the literature) and the
models (trained on these tensors) then see the same Lab values.

Images are (B, 3, H, W) or (3, H, W); the channel axis is always dim -3.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# sRGB primaries -> XYZ, as in skimage (sRGB specification); the inverse is computed, not rounded.
_XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)

# sRGB transfer function and CIE Lab break points (skimage's values).
_SRGB_THRESHOLD = 0.04045
_LINEAR_THRESHOLD = 0.0031308
_LAB_EPSILON = 0.008856
_LAB_KAPPA = 7.787
_LAB_F_THRESHOLD = 0.2068966
_LAB_OFFSET = 16.0 / 116.0

L_SCALE = 50.0
AB_SCALE = 110.0


def _check_image(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() not in (3, 4) or x.shape[-3] != 3:
        raise ValueError(f"{name} must be shaped (B, 3, H, W) or (3, H, W), got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a float tensor, got {x.dtype} (use to_float for uint8)")


def _work_dtype(x: Tensor) -> torch.dtype:
    # Half precision is too coarse for the cube roots near black; float32 already stays ~1e-4
    # Lab units from the float64 result, so only widen what needs it.
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def _matrix(rows: tuple[tuple[float, ...], ...], like: Tensor, invert: bool = False) -> Tensor:
    # Built and inverted in float64 whatever the working dtype, then cast once.
    m = torch.tensor(rows, dtype=torch.float64, device=like.device)
    if invert:
        m = torch.linalg.inv(m)
    return m.to(like.dtype)


def _apply_matrix(m: Tensor, x: Tensor) -> Tensor:
    # A (3, 3) @ (..., 3, H*W) matmul: about 2x faster than the equivalent einsum on the CPU.
    return torch.matmul(m, x.flatten(-2)).view(x.shape)


def _channel_vector(values: tuple[float, ...], like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(3, 1, 1)


def _srgb_to_linear(c: Tensor) -> Tensor:
    # Clamping inside the power keeps both torch.where branches finite, so gradients stay finite.
    power = ((c.clamp(min=_SRGB_THRESHOLD) + 0.055) / 1.055) ** 2.4
    return torch.where(c > _SRGB_THRESHOLD, power, c / 12.92)


def _linear_to_srgb(c: Tensor) -> Tensor:
    power = 1.055 * c.clamp(min=_LINEAR_THRESHOLD) ** (1.0 / 2.4) - 0.055
    return torch.where(c > _LINEAR_THRESHOLD, power, c * 12.92)


def _lab_f(t: Tensor) -> Tensor:
    cube_root = t.clamp(min=_LAB_EPSILON) ** (1.0 / 3.0)
    return torch.where(t > _LAB_EPSILON, cube_root, _LAB_KAPPA * t + _LAB_OFFSET)


def _lab_f_inverse(f: Tensor) -> Tensor:
    return torch.where(f > _LAB_F_THRESHOLD, f**3, (f - _LAB_OFFSET) / _LAB_KAPPA)


def _l_to_luminance(L: Tensor) -> Tensor:
    return _lab_f_inverse((L + 16.0) / 116.0)


# --- fast path without gradients ----------------------------------------------------------------
#
# The same maths as `rgb_to_lab`, arranged for speed where no gradient is needed (the data loader,
# inference): float32, few full-size passes, in place where possible. Two rewrites:
# - x ** p is computed as exp(p * log(x)): torch's vectorised exp and log are about 3x faster
#   than its pow on the CPU, and the rounding stays ~1e-7 relative.
# - A two-branch curve "g(x) if x > k else s * x + c" is computed without masks or torch.where as
#   g(max(x, k)) + s * (min(x, k) - k): exact above the break point k and, below it, off only by
#   the curve's own jump at k (~2e-9 for the sRGB curve, ~3e-7 for Lab's f). The linear parts
#   then fold into the colour matrices: with the rows [g(max(x, k)); min(x, k); 1] stacked in one
#   (B, 7, N) buffer, each stage's weighted sum, white point, scales and offsets are one matmul.
# Float32 results stay within ~2e-4 Lab units of the float64 ones.

_FAST_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_fast_weights: dict[tuple[str, torch.device], Tensor] = {}


def _fast_weight(kind: str, device: torch.device) -> Tensor:
    """The float32 matrix of one stage ("xyz" (3, 7), "lab" (3, 7) or "ab" (2, 6)), made once
    per device."""
    key = (kind, device)
    if key not in _fast_weights:
        f64 = torch.float64
        if kind == "xyz":
            # Rows [p; d; 1] with p = (max(c, k) + 0.055) ** 2.4 and d = min(c, k): linear RGB is
            # p / 1.055 ** 2.4 + (d - k) / 12.92; the product is XYZ / white.
            xyz = (
                torch.tensor(_XYZ_FROM_RGB, dtype=f64)
                / torch.tensor(_WHITE_D65, dtype=f64)[:, None]
            )
            offset = -xyz.sum(dim=1, keepdim=True) * _SRGB_THRESHOLD / 12.92
            weight = torch.cat((xyz / 1.055**2.4, xyz / 12.92, offset), dim=1)
        else:
            # Rows [g; e; 1] with g = max(t, eps) ** (1/3) and e = min(t, eps):
            # f = g + kappa * (e - eps), then L = 116 fy - 16, a = 500 (fx - fy), b = 200 (fy - fz).
            lab = torch.tensor([[0, 116, 0], [500, -500, 0], [0, 200, -200]], dtype=f64)
            offset = torch.tensor([-16.0, 0.0, 0.0], dtype=f64) - lab.sum(dim=1) * (
                _LAB_KAPPA * _LAB_EPSILON
            )
            weight = torch.cat((lab, _LAB_KAPPA * lab, offset[:, None]), dim=1)
            if kind == "ab":  # ab / 110; a and b need no offset (it cancels in the differences)
                weight = weight[1:, :6] / AB_SCALE
        _fast_weights[key] = weight.to(device=device, dtype=torch.float32)
    return _fast_weights[key]


def _needs_grad(x: Tensor) -> bool:
    return torch.is_grad_enabled() and x.requires_grad


def _use_fast_path(x: Tensor) -> bool:
    # float64 keeps the reference path (round-off-level agreement with scikit-image).
    return x.dtype in _FAST_DTYPES and not _needs_grad(x)


def _scratch_buffer(
    scratch: dict[str, Tensor] | None,
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


def _lab_f_rows(rgb: Tensor, scratch: dict[str, Tensor] | None = None) -> Tensor:
    """(B, 7, H*W) float32 rows [g; e; 1] of the Lab stage (see above)."""
    b, n = math.prod(rgb.shape[:-3]), rgb.shape[-2] * rgb.shape[-1]
    x = rgb.to(torch.float32).reshape(b, 3, n)
    rows, new = _scratch_buffer(scratch, "lab_rows", (b, 7, n), x.device)
    if new:
        rows[:, 6].fill_(1.0)
    power, low = rows[:, :3], rows[:, 3:6]
    torch.clamp(x, min=_SRGB_THRESHOLD, out=power).add_(0.055).log_().mul_(2.4).exp_()
    torch.clamp(x, max=_SRGB_THRESHOLD, out=low)
    t, _ = _scratch_buffer(scratch, "lab_t", (b, 3, n), x.device)
    # bmm with an expanded weight: torch.matmul would fold the batch and transpose instead.
    torch.bmm(_fast_weight("xyz", x.device).expand(b, 3, 7), rows, out=t)  # XYZ / white
    torch.clamp(t, min=_LAB_EPSILON, out=power).log_().mul_(1.0 / 3.0).exp_()
    torch.clamp(t, max=_LAB_EPSILON, out=low)
    return rows


def _rgb_to_lab_fast(rgb: Tensor) -> Tensor:
    rows = _lab_f_rows(rgb)
    lab = torch.bmm(_fast_weight("lab", rows.device).expand(rows.shape[0], 3, 7), rows)
    return lab.view(rgb.shape).to(rgb.dtype)


def _model_input_no_grad(
    rgb: Tensor, scratch: dict[str, Tensor] | None = None
) -> tuple[Tensor, Tensor]:
    """`rgb_to_model_input` for float32 (or half) RGB that needs no gradient, with optional
    `scratch` buffers (see `_scratch_buffer`); the same values whether or not they are given."""
    rows = _lab_f_rows(rgb, scratch)
    b, h, w = rows.shape[0], rgb.shape[-2], rgb.shape[-1]
    # L_norm = (116 fy - 16) / 50 - 1 from the y rows alone, and ab from one product, so that
    # both come out contiguous like the slow path's.
    scale = 116.0 / L_SCALE
    L = torch.add(rows[:, 1:2], rows[:, 4:5], alpha=_LAB_KAPPA)
    L.mul_(scale).add_(-16.0 / L_SCALE - 1.0 - scale * _LAB_KAPPA * _LAB_EPSILON)
    ab = torch.bmm(_fast_weight("ab", rows.device).expand(b, 2, 6), rows[:, :6])
    shape = rgb.shape[:-3]
    return L.view(*shape, 1, h, w).to(rgb.dtype), ab.view(*shape, 2, h, w).to(rgb.dtype)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1], (B, 3, H, W) or (3, H, W) -> CIE Lab (L in [0, 100]); same shape, dtype.

    Differentiable; float32 (or half) input that needs no gradient takes a faster path with the
    same maths (within ~2e-4 Lab units of the float64 result).
    """
    _check_image(rgb, "rgb")
    if _use_fast_path(rgb):
        return _rgb_to_lab_fast(rgb)
    x = rgb.to(_work_dtype(rgb))
    xyz = _apply_matrix(_matrix(_XYZ_FROM_RGB, x), _srgb_to_linear(x))
    f = _lab_f(xyz / _channel_vector(_WHITE_D65, x))
    fx, fy, fz = f.unbind(dim=-3)
    lab = torch.stack((116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)), dim=-3)
    return lab.to(rgb.dtype)


def lab_to_rgb(lab: Tensor, clip: bool = True) -> Tensor:
    """CIE Lab -> sRGB, same shape and dtype; ``clip`` clamps to [0, 1] (out-of-gamut colours).

    Like skimage, a negative f(Z) (b far above the gamut) is clamped to 0 before the inverse.
    """
    _check_image(lab, "lab")
    x = lab.to(_work_dtype(lab))
    L, a, b = x.unbind(dim=-3)
    fy = (L + 16.0) / 116.0
    f = torch.stack((fy + a / 500.0, fy, (fy - b / 200.0).clamp(min=0.0)), dim=-3)
    xyz = _lab_f_inverse(f) * _channel_vector(_WHITE_D65, x)
    rgb = _linear_to_srgb(_apply_matrix(_matrix(_XYZ_FROM_RGB, x, invert=True), xyz))
    if clip:
        rgb = rgb.clamp(0.0, 1.0)
    return rgb.to(lab.dtype)


def normalize_l(L: Tensor) -> Tensor:
    """L in [0, 100] -> [-1, 1]."""
    return L / L_SCALE - 1.0


def denormalize_l(L_norm: Tensor) -> Tensor:
    """[-1, 1] -> L in [0, 100]."""
    return (L_norm + 1.0) * L_SCALE


def normalize_ab(ab: Tensor) -> Tensor:
    """ab in Lab units -> ab / 110 (about [-1, 1])."""
    return ab / AB_SCALE


def denormalize_ab(ab_norm: Tensor) -> Tensor:
    """ab / 110 -> ab in Lab units."""
    return ab_norm * AB_SCALE


def rgb_to_model_input(rgb: Tensor) -> tuple[Tensor, Tensor]:
    """Float RGB in [0, 1] -> (L_norm (B, 1, H, W), ab_norm (B, 2, H, W)); differentiable."""
    _check_image(rgb, "rgb")
    if _use_fast_path(rgb):
        return _model_input_no_grad(rgb)
    lab = rgb_to_lab(rgb)
    return normalize_l(lab[..., :1, :, :]), normalize_ab(lab[..., 1:, :, :])


def model_output_to_rgb(L_norm: Tensor, ab_norm: Tensor) -> Tensor:
    """(L_norm, ab_norm) -> float RGB in [0, 1], clipped to the gamut."""
    if L_norm.shape[-3] != 1 or ab_norm.shape[-3] != 2:
        raise ValueError(
            f"L_norm must have 1 channel and ab_norm 2, got {tuple(L_norm.shape)} and "
            f"{tuple(ab_norm.shape)}"
        )
    lab = torch.cat((denormalize_l(L_norm), denormalize_ab(ab_norm)), dim=-3)
    return lab_to_rgb(lab, clip=True)


def gray_rgb(L_norm: Tensor) -> Tensor:
    """Neutral gray sRGB image in [0, 1] with lightness ``L_norm`` (B, 1, H, W) -> (B, 3, H, W).

    R = G = B exactly: for a neutral sRGB colour the luminance Y equals the linear value (the Y row
    of the matrix sums to 1), so the gray comes from Y alone and keeps the input's L.
    """
    if L_norm.shape[-3] != 1:
        raise ValueError(f"L_norm must have 1 channel, got shape {tuple(L_norm.shape)}")
    x = L_norm.to(_work_dtype(L_norm))
    gray = _linear_to_srgb(_l_to_luminance(denormalize_l(x))).clamp(0.0, 1.0)
    return torch.cat((gray, gray, gray), dim=-3).to(L_norm.dtype)


def to_uint8(rgb: Tensor) -> Tensor:
    """Float RGB in [0, 1] -> uint8 (rounded to nearest, clamped)."""
    return (rgb.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8)


def to_float(image: Tensor) -> Tensor:
    """uint8 image -> float32 in [0, 1]."""
    if image.dtype != torch.uint8:
        raise TypeError(f"image must be uint8, got {image.dtype}")
    return image.to(torch.float32) / 255.0
