"""colorlib.metrics against hand computations, published values and the Kodak gray baseline."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity

from colorlib import metrics

KODAK = Path(__file__).resolve().parents[1] / "data" / "kodak24"

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: (Lab1, Lab2, dE00).
SHARMA_PAIRS = [
    ((50.0000, 2.6772, -79.7751), (50.0000, 0.0000, -82.7485), 2.0425),
    ((50.0000, 3.1571, -77.2803), (50.0000, 0.0000, -82.7485), 2.8615),
    ((50.0000, 2.8361, -74.0200), (50.0000, 0.0000, -82.7485), 3.4412),
    ((50.0000, -1.3802, -84.2814), (50.0000, 0.0000, -82.7485), 1.0000),
    ((50.0000, 0.0000, 0.0000), (50.0000, -1.0000, 2.0000), 2.3669),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0009), 7.1792),
    ((50.0000, 2.4900, -0.0010), (50.0000, -2.4900, 0.0011), 7.2195),
    ((50.0000, -0.0010, 2.4900), (50.0000, 0.0011, -2.4900), 4.7461),
    ((50.0000, 2.5000, 0.0000), (73.0000, 25.0000, -18.0000), 27.1492),
    ((50.0000, 2.5000, 0.0000), (56.0000, -27.0000, -3.0000), 31.9030),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((22.7233, 20.0904, -46.6940), (23.0331, 14.9730, -42.5619), 2.0373),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((6.7747, -0.2908, -2.4247), (5.8714, -0.0985, -2.2286), 0.6377),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


def _random_image(seed: int, shape: tuple[int, int] = (24, 32)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (*shape, 3), dtype=np.uint8)


def _solid(rgb: tuple[int, int, int], shape: tuple[int, int] = (6, 8)) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, dtype=np.uint8), (*shape, 3)).copy()


def _shifted(image: np.ndarray, offset: tuple[int, int, int]) -> np.ndarray:
    return np.clip(image.astype(int) + np.array(offset), 0, 255).astype(np.uint8)


def test_psnr_matches_hand_computation() -> None:
    target = np.zeros((8, 8, 3), dtype=np.uint8)
    pred = target.copy()
    pred[0, 0, 0] = 255
    # MSE = 255^2 / 192 values, so PSNR = 10 log10(255^2 / MSE) = 10 log10(192).
    assert metrics.psnr(pred, target) == pytest.approx(10 * math.log10(192), abs=1e-12)


def test_torch_and_numpy_layouts_agree() -> None:
    pred, target = _random_image(0), _random_image(1)
    as_torch = [torch.from_numpy(x).permute(2, 0, 1) for x in (pred, target)]
    assert metrics.psnr(*as_torch) == metrics.psnr(pred, target)
    assert metrics.ciede2000(*as_torch) == metrics.ciede2000(pred, target)


def test_bad_images_are_rejected_by_name() -> None:
    good = _random_image(0)
    with pytest.raises(TypeError, match="pred"):
        metrics.psnr(good.astype(np.float32), good)
    with pytest.raises(ValueError, match="target"):
        metrics.psnr(good, good[..., :2])
    with pytest.raises(ValueError, match="differ"):
        metrics.psnr(good, good[:5])


def test_ssim_identical_is_one_and_matches_skimage() -> None:
    target = _random_image(2, (40, 48))
    assert metrics.ssim(target, target) == pytest.approx(1.0, abs=1e-12)
    noise = np.random.default_rng(3).normal(0, 40, target.shape)
    pred = np.clip(target + noise, 0, 255).astype(np.uint8)
    expected = structural_similarity(
        pred,
        target,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=-1,
    )
    assert metrics.ssim(pred, target) == pytest.approx(expected, abs=1e-12)
    assert metrics.ssim(pred, target) < 0.99
    # The settings matter: skimage's defaults (7x7 box window, sample covariance) differ.
    default = structural_similarity(pred, target, data_range=255, channel_axis=-1)
    assert abs(metrics.ssim(pred, target) - default) > 1e-3


def test_ciede2000_lab_matches_sharma_2005() -> None:
    lab1 = np.array([p[0] for p in SHARMA_PAIRS])
    lab2 = np.array([p[1] for p in SHARMA_PAIRS])
    expected = np.array([p[2] for p in SHARMA_PAIRS])
    # Published to 4 decimals: agree to half a unit in the last place.
    np.testing.assert_allclose(metrics.ciede2000_lab(lab1, lab2), expected, rtol=0, atol=5e-5)


def test_ciede2000_of_images_is_the_mean_of_pixel_differences() -> None:
    red, gray = _solid((200, 40, 40)), _solid((128, 128, 128))
    pair_de = metrics.ciede2000_lab(rgb2lab(red[:1, :1]), rgb2lab(gray[:1, :1]))[0, 0]
    assert pair_de > 10
    assert metrics.ciede2000(red, gray) == pytest.approx(pair_de, abs=1e-9)
    half = gray.copy()
    half[:3] = red[:3]
    assert metrics.ciede2000(half, gray) == pytest.approx(pair_de / 2, abs=1e-9)
    assert metrics.ciede2000(gray, gray) == 0.0


def test_colourfulness_of_gray_is_zero() -> None:
    values = np.random.default_rng(3).integers(0, 256, (16, 16), dtype=np.uint8)
    assert metrics.colourfulness(np.stack([values] * 3, axis=-1)) == 0.0


def test_colourfulness_of_two_colour_image_matches_formula() -> None:
    image = _solid((255, 0, 0), (4, 4))
    image[2:] = (0, 0, 255)
    # Red pixels: rg = 255, yb = 127.5. Blue pixels: rg = 0, yb = -255. Half and half:
    # mean_rg = 127.5, sd_rg = 127.5; mean_yb = -63.75 (signed), sd_yb = 191.25.
    expected = math.sqrt(127.5**2 + 191.25**2) + 0.3 * math.sqrt(127.5**2 + 63.75**2)
    assert metrics.colourfulness(image) == pytest.approx(expected, abs=1e-9)


def test_auc_from_distances_step_cdf() -> None:
    # A pixel at distance d counts for thresholds ceil(d)..150: 151 - ceil(d) of the 151.
    assert metrics.auc_from_distances(np.zeros(10)) == 1.0
    assert metrics.auc_from_distances(np.full(10, 5.0)) == pytest.approx(146 / 151)
    assert metrics.auc_from_distances(np.full(10, 5.2)) == pytest.approx(145 / 151)
    assert metrics.auc_from_distances(np.full(10, 150.5)) == 0.0
    assert metrics.auc_from_distances(np.array([0.0, 200.0])) == pytest.approx(0.5)
    assert metrics.auc_from_distances(np.full(3, 2.0), max_threshold=4) == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="max_threshold"):
        metrics.auc_from_distances(np.zeros(3), max_threshold=0)


def test_auc_lab_constant_ab_offset() -> None:
    lab = rgb2lab(_random_image(4))
    shifted = lab + np.array([0.0, 3.0, 4.5])
    d = math.hypot(3.0, 4.5)  # 5.41, so thresholds 6..150 count
    assert metrics.auc_lab(shifted, lab) == pytest.approx((151 - math.ceil(d)) / 151, abs=1e-12)
    # Lightness differences do not count: AuC is on ab only.
    assert metrics.auc_lab(lab + np.array([30.0, 0.0, 0.0]), lab) == 1.0


def test_auc_ab_of_images() -> None:
    target = _random_image(5)
    assert metrics.auc_ab(target, target) == 1.0
    small, large = _shifted(target, (12, 0, 0)), _shifted(target, (60, 0, 0))
    assert 0.0 < metrics.auc_ab(large, target) < metrics.auc_ab(small, target) < 1.0


def test_evaluate_averages_per_image_metrics() -> None:
    targets = [_random_image(6), _random_image(7, (16, 20))]
    preds = [_shifted(targets[0], (10, 0, -10)), _shifted(targets[1], (0, 30, 0))]
    result = metrics.evaluate(preds, targets)
    per_metric = {
        "psnr": metrics.psnr,
        "ssim": metrics.ssim,
        "ciede2000": metrics.ciede2000,
        "auc": metrics.auc_ab,
    }
    for name, fn in per_metric.items():
        expected = np.mean([fn(p, t) for p, t in zip(preds, targets, strict=True)])
        assert result[name] == pytest.approx(expected, abs=1e-12), name
    pred_c = np.mean([metrics.colourfulness(p) for p in preds])
    gt_c = np.mean([metrics.colourfulness(t) for t in targets])
    assert result["colourfulness"] == pytest.approx(pred_c)
    assert result["colourfulness_gt"] == pytest.approx(gt_c)
    assert result["colourfulness_ratio"] == pytest.approx(pred_c / gt_c)
    assert set(metrics.METRICS) <= set(result)
    with pytest.raises(ValueError, match="lengths"):
        metrics.evaluate(preds, targets[:1])


def test_gray_prediction_keeps_lightness_and_layout() -> None:
    target = _random_image(8)
    gray = metrics.gray_prediction(target)
    assert gray.dtype == np.uint8 and gray.shape == target.shape
    lab_gray, lab_target = rgb2lab(gray), rgb2lab(target)
    # uint8 rounding moves L by at most ~0.5 and leaves almost no chroma.
    assert np.abs(lab_gray[..., 0] - lab_target[..., 0]).max() < 0.6
    assert np.abs(lab_gray[..., 1:]).max() < 1.0
    as_torch = metrics.gray_prediction(torch.from_numpy(target).permute(2, 0, 1))
    assert isinstance(as_torch, torch.Tensor) and as_torch.shape == (3, 24, 32)
    assert np.array_equal(as_torch.permute(1, 2, 0).numpy(), gray)


def test_mean_ab_is_pixel_weighted() -> None:
    red, blue = _solid((200, 40, 40), (4, 4)), _solid((40, 40, 200), (4, 12))
    lab_red, lab_blue = rgb2lab(red[0, 0]), rgb2lab(blue[0, 0])
    expected = (lab_red[1:] * 16 + lab_blue[1:] * 48) / 64
    np.testing.assert_allclose(metrics.mean_ab([red, blue]), expected, atol=1e-9)


def test_mean_ab_prediction_uses_the_given_chroma() -> None:
    target = _solid((90, 120, 150), (5, 5))
    pred = metrics.mean_ab_prediction(target, (20.0, 10.0))
    lab = rgb2lab(pred[0, 0])
    assert lab[0] == pytest.approx(rgb2lab(target[0, 0])[0], abs=0.6)
    assert lab[1:] == pytest.approx([20.0, 10.0], abs=1.0)


def test_baselines_evaluate_both_predictions() -> None:
    train = [_solid((200, 40, 40)), _solid((40, 200, 40))]
    test = [_random_image(9), _random_image(10)]
    result = metrics.baselines(train, test)
    assert set(result) == {"gray", "mean_ab"}
    gray_preds = [metrics.gray_prediction(t) for t in test]
    assert result["gray"] == metrics.evaluate(gray_preds, test)
    ab = metrics.mean_ab(train)
    mean_preds = [metrics.mean_ab_prediction(t, ab) for t in test]
    assert result["mean_ab"] == metrics.evaluate(mean_preds, test)
    assert result["mean_ab"]["colourfulness"] != result["gray"]["colourfulness"]


def test_gray_baseline_kodak24() -> None:
    files = sorted(KODAK.glob("*.png"))
    assert len(files) == 24, f"expected 24 Kodak images in {KODAK}, found {len(files)}"
    targets = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    result = metrics.evaluate([metrics.gray_prediction(t) for t in targets], targets)
    # Published (printed) values; tolerance = half a unit of the last printed digit.
    assert abs(result["psnr"] - 22.46) < 0.005
    assert abs(result["ssim"] - 0.944) < 0.0005
    assert abs(result["ciede2000"] - 11.70) < 0.005
    assert abs(result["colourfulness"] - 0.1) < 0.05
    assert abs(result["colourfulness_gt"] - 39.6) < 0.05


def test_identical_images_have_a_finite_psnr_so_a_set_mean_stays_finite() -> None:
    image = _random_image(3)
    assert metrics.psnr(image, image) == pytest.approx(10 * math.log10(255**2 * 12))  # 58.9 dB
    one_level = image.copy()
    one_level[0, 0, 0] ^= 1  # a single grey level on one value: just below the cap's MSE
    assert metrics.psnr(one_level, image) == metrics.psnr(image, image)
    scores = metrics.evaluate([image, _shifted(image, (20, 0, 0))], [image, image])
    assert math.isfinite(scores["psnr"])


def test_ssim_on_images_smaller_than_its_window_says_so() -> None:
    small = _random_image(1, shape=(10, 40))
    with pytest.raises(ValueError, match=r"at least 11x11 pixels .* got 40x10"):
        metrics.ssim(small, small)
    assert metrics.ssim(_random_image(1, shape=(11, 11)), _random_image(1, shape=(11, 11))) == 1.0
