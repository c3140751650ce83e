"""Batched, differentiable sRGB <-> CIE Lab (D65, 2 degree observer) conversions in torch.

The constants and branch points are those of ``skimage.color.rgb2lab`` / ``lab2rgb`` so that the
two agree to ~1e-6 Lab units: the metrics (computed with scikit-image, as in the literature) and the
models (trained on these tensors) then see the same Lab values.

Images are (B, 3, H, W) or (3, H, W); the channel axis is always dim -3.

This is the readable reference, one line per formula, that notebook 01 teaches from; the data
loader uses its fast, no-grad twin `colorlib.fastlab`, which shares the constants below.
"""

from __future__ import annotations

import torch
from torch import Tensor

# sRGB primaries -> XYZ, as in skimage (sRGB specification); the inverse is computed, not rounded.
XYZ_FROM_RGB = (
    (0.412453, 0.357580, 0.180423),
    (0.212671, 0.715160, 0.072169),
    (0.019334, 0.119193, 0.950227),
)
WHITE_D65 = (0.95047, 1.0, 1.08883)

# sRGB transfer function and CIE Lab break points (skimage's values).
SRGB_THRESHOLD = 0.04045
LINEAR_THRESHOLD = 0.0031308
LAB_EPSILON = 0.008856
LAB_KAPPA = 7.787
LAB_F_THRESHOLD = 0.2068966
LAB_OFFSET = 16.0 / 116.0

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
    power = ((c.clamp(min=SRGB_THRESHOLD) + 0.055) / 1.055) ** 2.4
    return torch.where(c > SRGB_THRESHOLD, power, c / 12.92)


def _linear_to_srgb(c: Tensor) -> Tensor:
    power = 1.055 * c.clamp(min=LINEAR_THRESHOLD) ** (1.0 / 2.4) - 0.055
    return torch.where(c > LINEAR_THRESHOLD, power, c * 12.92)


def _lab_f(t: Tensor) -> Tensor:
    cube_root = t.clamp(min=LAB_EPSILON) ** (1.0 / 3.0)
    return torch.where(t > LAB_EPSILON, cube_root, LAB_KAPPA * t + LAB_OFFSET)


def _lab_f_inverse(f: Tensor) -> Tensor:
    return torch.where(f > LAB_F_THRESHOLD, f**3, (f - LAB_OFFSET) / LAB_KAPPA)


def _l_to_luminance(L: Tensor) -> Tensor:
    return _lab_f_inverse((L + 16.0) / 116.0)


def rgb_to_lab(rgb: Tensor) -> Tensor:
    """sRGB in [0, 1], (B, 3, H, W) or (3, H, W) -> CIE Lab (L in [0, 100]); same shape, dtype.

    Differentiable. (`colorlib.fastlab.rgb_to_lab` is a faster twin for tensors that need no
    gradient.)
    """
    _check_image(rgb, "rgb")
    x = rgb.to(_work_dtype(rgb))
    xyz = _apply_matrix(_matrix(XYZ_FROM_RGB, x), _srgb_to_linear(x))
    f = _lab_f(xyz / _channel_vector(WHITE_D65, x))
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
    xyz = _lab_f_inverse(f) * _channel_vector(WHITE_D65, x)
    rgb = _linear_to_srgb(_apply_matrix(_matrix(XYZ_FROM_RGB, x, invert=True), xyz))
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
    """Float RGB in [0, 1] -> (L_norm (B, 1, H, W), ab_norm (B, 2, H, W)); differentiable.

    The data loader uses `colorlib.fastlab.model_input`, the same values computed faster without
    gradients.
    """
    _check_image(rgb, "rgb")
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
