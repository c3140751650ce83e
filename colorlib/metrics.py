"""Colorization metrics on uint8 RGB images, computed as in the literature (scikit-image).

Every metric takes uint8 RGB images, either numpy (H, W, 3) or torch (3, H, W); both go through
``as_numpy_image``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from colorlib import color

METRICS = ("psnr", "ssim", "ciede2000", "colourfulness", "auc")

Image = np.ndarray | torch.Tensor


def as_numpy_image(image: Image, name: str = "image") -> np.ndarray:
    """uint8 numpy (H, W, 3) or torch (3, H, W) -> uint8 numpy (H, W, 3)."""
    if isinstance(image, torch.Tensor):
        if image.dim() != 3 or image.shape[0] != 3:
            raise ValueError(f"{name}: torch images must be (3, H, W), got {tuple(image.shape)}")
        image = image.detach().cpu().permute(1, 2, 0).numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name} must be a numpy array or torch tensor, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"{name} must be uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name}: numpy images must be (H, W, 3), got {image.shape}")
    return image


def _pair(pred: Image, target: Image) -> tuple[np.ndarray, np.ndarray]:
    p, t = as_numpy_image(pred, "pred"), as_numpy_image(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target shapes differ: {p.shape} vs {t.shape}")
    return p, t


# An 8-bit image is known only to within its rounding: uniform noise of variance 1/12 grey
# level^2. Identical images score as if they differed by that alone (58.9 dB), so one perfect
# image cannot make a set's mean PSNR infinite.
PSNR_MSE_FLOOR = 1.0 / 12.0


def psnr(pred: Image, target: Image) -> float:
    """Peak signal-to-noise ratio in dB over all channels, data range 255, with the MSE floored
    at `PSNR_MSE_FLOOR` (so identical images give 58.9 dB, not infinity)."""
    p, t = _pair(pred, target)
    mse = float(np.mean((p.astype(np.float64) - t.astype(np.float64)) ** 2))
    return 10.0 * math.log10(255.0**2 / max(mse, PSNR_MSE_FLOOR))


# The Gaussian window of SSIM (sigma 1.5, truncated at 3.5 sigma) is 11 pixels wide.
SSIM_WINDOW = 11


def ssim(pred: Image, target: Image) -> float:
    """Mean SSIM over RGB channels: Gaussian window sigma 1.5, population covariance, range 255.
    The images must be at least `SSIM_WINDOW` pixels on each side."""
    p, t = _pair(pred, target)
    if min(p.shape[:2]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its Gaussian "
            f"window, sigma 1.5, is {SSIM_WINDOW} wide); got {p.shape[1]}x{p.shape[0]}"
        )
    value = structural_similarity(
        p,
        t,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=-1,
    )
    return float(value)


def ciede2000_lab(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Per-element CIEDE2000 colour difference of Lab arrays (..., 3), kL = kC = kH = 1."""
    return deltaE_ciede2000(np.asarray(lab1, np.float64), np.asarray(lab2, np.float64))


def ciede2000(pred: Image, target: Image) -> float:
    """Mean per-pixel CIEDE2000 between the images' Lab values."""
    p, t = _pair(pred, target)
    return float(np.mean(ciede2000_lab(rgb2lab(p), rgb2lab(t))))


def colourfulness(image: Image) -> float:
    """Hasler & Suesstrunk (2003) colourfulness M3 on 0-255 RGB.

    rg = R - G, yb = (R + G) / 2 - B, M = sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mu_rg^2 + mu_yb^2).
    The means are signed, not absolute: the paper defines mu as the mean of rg and yb, and signed
    means reproduce the published Kodak value (39.6; absolute means give 41.4).
    Standard deviations are population (ddof=0).
    """
    x = as_numpy_image(image).astype(np.float64)
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    spread = math.hypot(float(rg.std()), float(yb.std()))
    return spread + 0.3 * math.hypot(float(rg.mean()), float(yb.mean()))


def auc_from_distances(distances: np.ndarray, max_threshold: int = 150) -> float:
    """Area under the CDF of distances for integer thresholds 0..max_threshold, in [0, 1].

    The CDF at threshold t is the fraction of distances <= t; the AuC is its mean over the
    max_threshold + 1 thresholds. A pixel at distance d counts for the thresholds t >= ceil(d),
    i.e. max(0, max_threshold + 1 - ceil(d)) of them, which avoids looping over thresholds.
    """
    if not isinstance(max_threshold, int) or max_threshold < 1:
        raise ValueError(f"max_threshold must be a positive integer, got {max_threshold!r}")
    d = np.asarray(distances, dtype=np.float64).ravel()
    if d.size == 0:
        raise ValueError("distances is empty")
    counted = np.clip(max_threshold + 1 - np.ceil(d), 0, max_threshold + 1)
    return float(counted.mean() / (max_threshold + 1))


def auc_lab(lab_pred: np.ndarray, lab_target: np.ndarray, max_threshold: int = 150) -> float:
    """AuC of the per-pixel Euclidean ab distance between Lab arrays (..., 3)."""
    diff = np.asarray(lab_pred, np.float64)[..., 1:] - np.asarray(lab_target, np.float64)[..., 1:]
    return auc_from_distances(np.hypot(diff[..., 0], diff[..., 1]), max_threshold)


def auc_ab(pred: Image, target: Image, max_threshold: int = 150) -> float:
    """Zhang et al. (2016) AuC: ab-distance CDF over thresholds 0..max_threshold, normalised."""
    p, t = _pair(pred, target)
    return auc_lab(rgb2lab(p), rgb2lab(t), max_threshold)


def _image_metrics(pred: Image, target: Image) -> dict[str, float]:
    p, t = _pair(pred, target)
    # Lab once per image: both CIEDE2000 and AuC need it and rgb2lab is the costly step.
    lab_p, lab_t = rgb2lab(p), rgb2lab(t)
    return {
        "psnr": psnr(p, t),
        "ssim": ssim(p, t),
        "ciede2000": float(np.mean(ciede2000_lab(lab_p, lab_t))),
        "colourfulness": colourfulness(p),
        "auc": auc_lab(lab_p, lab_t),
        "colourfulness_gt": colourfulness(t),
    }


PerImage = dict[str, list[float]]  # metric -> one value per image, in the images' order


def per_image(preds: Sequence[Image], targets: Sequence[Image]) -> PerImage:
    """Each metric of each prediction against its target (colourfulness_gt: the target's)."""
    if len(preds) != len(targets):
        raise ValueError(f"preds and targets lengths differ: {len(preds)} vs {len(targets)}")
    if len(preds) == 0:
        raise ValueError("evaluate needs at least one image")
    rows = [_image_metrics(p, t) for p, t in zip(preds, targets, strict=True)]
    return {k: [m[k] for m in rows] for k in rows[0]}


def summarise(values: PerImage) -> dict[str, float]:
    """Means over the images; adds colourfulness_ratio = mean colourfulness of the predictions
    / mean colourfulness of the targets."""
    result = {k: float(np.mean(v)) for k, v in values.items() if k != "names"}
    gt = result["colourfulness_gt"]
    result["colourfulness_ratio"] = result["colourfulness"] / gt if gt > 0 else math.nan
    return result


def evaluate(preds: Sequence[Image], targets: Sequence[Image]) -> dict[str, float]:
    """Metrics per image, then averaged (see `summarise`)."""
    return summarise(per_image(preds, targets))


def _lab_of(image: Image) -> torch.Tensor:
    # A copy: images decoded by PIL are read-only arrays, which torch.from_numpy warns about.
    rgb = torch.tensor(as_numpy_image(image, "target")).permute(2, 0, 1)
    return color.rgb_to_lab(rgb.to(torch.float64) / 255.0)


def _like_input(rgb: torch.Tensor, reference: Image) -> Image:
    image = color.to_uint8(rgb)
    return image if isinstance(reference, torch.Tensor) else image.permute(1, 2, 0).numpy()


def mean_ab_prediction(target: Image, mean_ab: tuple[float, float]) -> Image:
    """Lab (L of target, constant a, b) -> uint8 RGB, clipped and rounded.

    Returned in the layout of ``target`` (numpy (H, W, 3) or torch (3, H, W)).
    """
    lab = _lab_of(target)
    lab[1] = float(mean_ab[0])
    lab[2] = float(mean_ab[1])
    return _like_input(color.lab_to_rgb(lab, clip=True), target)


def gray_prediction(target: Image) -> Image:
    """The gray baseline: Lab (L of target, 0, 0) -> uint8 RGB, in the layout of ``target``.

    Converted like skimage's lab2rgb then rounded, which reproduces the published Kodak numbers;
    the rounded matrix leaves R, G, B a level apart on a few pixels (colourfulness ~0.07, not 0).
    ``color.gray_rgb`` is the exactly neutral version used as model input.
    """
    return mean_ab_prediction(target, (0.0, 0.0))


def mean_ab(images: Sequence[Image]) -> tuple[float, float]:
    """Mean a*, b* over all pixels of ``images`` (each pixel weighs the same)."""
    if len(images) == 0:
        raise ValueError("mean_ab needs at least one image")
    sums = np.zeros(2)
    count = 0
    for image in images:
        lab = _lab_of(image)
        sums += lab[1:].sum(dim=(1, 2)).numpy()
        count += lab.shape[1] * lab.shape[2]
    return float(sums[0] / count), float(sums[1] / count)


def baseline_predictions(
    train_images: Sequence[Image], test_images: Sequence[Image]
) -> dict[str, list[Image]]:
    """The gray (ab = 0) and mean-ab (training set's mean) predictions of ``test_images``."""
    ab = mean_ab(train_images)
    return {
        "gray": [gray_prediction(t) for t in test_images],
        "mean_ab": [mean_ab_prediction(t, ab) for t in test_images],
    }


def baselines(
    train_images: Sequence[Image], test_images: Sequence[Image]
) -> dict[str, dict[str, float]]:
    """Metrics of the gray and mean-ab baselines on ``test_images``."""
    found = baseline_predictions(train_images, test_images)
    return {name: evaluate(preds, test_images) for name, preds in found.items()}
