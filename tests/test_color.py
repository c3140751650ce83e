"""colorlib.color against scikit-image's reference conversions, plus gradients and helpers."""

import warnings

import numpy as np
import pytest
import torch
from skimage.color import lab2rgb, rgb2lab

from colorlib import color

# Pure colours, grays and values on both sides of the sRGB linear-segment threshold 0.04045.
EDGE_VALUES = [0.0, 1.0, 1 / 255, 10 / 255, 11 / 255, 0.04, 0.04045, 0.04045 + 1e-6, 0.0405, 0.5]
PRIMARIES = [
    (0, 0, 0),
    (1, 1, 1),
    (1, 0, 0),
    (0, 1, 0),
    (0, 0, 1),
    (1, 1, 0),
    (0, 1, 1),
    (1, 0, 1),
]


def _edge_colours() -> np.ndarray:
    grays = [(v, v, v) for v in EDGE_VALUES]
    mixed = [(v, 1.0 - v, 0.0) for v in EDGE_VALUES] + [(0.0, v, 0.04045) for v in EDGE_VALUES]
    return np.array(PRIMARIES + grays + mixed, dtype=np.float64)


# The contract asks 1e-3 Lab units; float64 gets round-off level, so hold it to far less.
ATOL_FLOAT64 = 1e-6


def _random_colours(n: int = 4096, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 3))


def _as_image(colours: np.ndarray) -> torch.Tensor:
    """(N, 3) colours -> (1, 3, 1, N) tensor, so conversions see a batched image."""
    return torch.from_numpy(colours.T.copy())[None, :, None, :]


def _from_image(image: torch.Tensor) -> np.ndarray:
    return image[0, :, 0, :].double().numpy().T


@pytest.mark.parametrize("colours", [_random_colours(), _edge_colours()], ids=["random", "edge"])
def test_rgb_to_lab_matches_skimage(colours: np.ndarray) -> None:
    lab = _from_image(color.rgb_to_lab(_as_image(colours)))
    np.testing.assert_allclose(lab, rgb2lab(colours), rtol=0, atol=ATOL_FLOAT64)


@pytest.mark.parametrize("colours", [_random_colours(), _edge_colours()], ids=["random", "edge"])
def test_lab_to_rgb_matches_skimage_in_gamut(colours: np.ndarray) -> None:
    lab = rgb2lab(colours)
    rgb = _from_image(color.lab_to_rgb(_as_image(lab)))
    np.testing.assert_allclose(rgb, lab2rgb(lab), rtol=0, atol=ATOL_FLOAT64)
    np.testing.assert_allclose(rgb, colours, rtol=0, atol=1e-3)


def test_lab_to_rgb_matches_skimage_out_of_gamut() -> None:
    rng = np.random.default_rng(1)
    lab = np.column_stack([rng.uniform(0, 100, 4096), rng.uniform(-128, 127, (4096, 2))])
    with warnings.catch_warnings():
        # skimage warns about the negative-Z values it clamps; we clamp them the same way.
        warnings.simplefilter("ignore", UserWarning)
        expected = lab2rgb(lab)
    rgb = _from_image(color.lab_to_rgb(_as_image(lab)))
    np.testing.assert_allclose(rgb, expected, rtol=0, atol=ATOL_FLOAT64)


def test_float32_input_keeps_dtype_and_accuracy() -> None:
    colours = np.concatenate([_random_colours(seed=2), _edge_colours()])
    lab = color.rgb_to_lab(_as_image(colours).float())
    assert lab.dtype == torch.float32
    np.testing.assert_allclose(_from_image(lab), rgb2lab(colours), rtol=0, atol=1e-3)
    back = color.lab_to_rgb(lab)
    assert back.dtype == torch.float32
    np.testing.assert_allclose(_from_image(back), colours, rtol=0, atol=1e-3)


def test_half_precision_is_computed_wider() -> None:
    colours = _random_colours(256, seed=7)
    lab = color.rgb_to_lab(_as_image(colours).half())
    assert lab.dtype == torch.float16
    # Only the float16 storage of the result rounds (L ~ 100 -> steps of 0.06).
    np.testing.assert_allclose(
        _from_image(lab), rgb2lab(_as_image(colours).half()[0, :, 0].double().numpy().T), atol=0.07
    )


def test_unbatched_image_is_accepted() -> None:
    image = torch.rand(3, 5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    lab = color.rgb_to_lab(image)
    assert lab.shape == (3, 5, 7)
    expected = rgb2lab(image.permute(1, 2, 0).numpy()).transpose(2, 0, 1)
    np.testing.assert_allclose(lab.numpy(), expected, atol=1e-3)
    torch.testing.assert_close(color.rgb_to_lab(image[None])[0], lab)


def test_clip_false_keeps_out_of_gamut_values() -> None:
    lab = torch.tensor([[[[50.0]], [[120.0]], [[-120.0]]]], dtype=torch.float64)
    raw = color.lab_to_rgb(lab, clip=False)
    assert raw.min() < 0 or raw.max() > 1
    torch.testing.assert_close(color.lab_to_rgb(lab, clip=True), raw.clamp(0, 1))


def test_bad_inputs_name_the_parameter() -> None:
    with pytest.raises(ValueError, match="rgb"):
        color.rgb_to_lab(torch.rand(2, 4, 4))
    with pytest.raises(TypeError, match="rgb"):
        color.rgb_to_lab(torch.zeros(3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="lab"):
        color.lab_to_rgb(torch.rand(1, 2, 4, 4))


def test_rgb_to_lab_gradcheck() -> None:
    gen = torch.Generator().manual_seed(4)
    # Away from the 0.04045 branch point, where the sRGB curve's derivative jumps slightly.
    rgb = (0.06 + 0.9 * torch.rand(2, 3, 3, 3, generator=gen, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(color.rgb_to_lab, (rgb,))


def test_lab_to_rgb_gradcheck_in_gamut() -> None:
    gen = torch.Generator().manual_seed(5)
    rgb = 0.1 + 0.8 * torch.rand(2, 3, 3, 3, generator=gen, dtype=torch.float64)
    lab = color.rgb_to_lab(rgb).requires_grad_()
    assert torch.autograd.gradcheck(color.lab_to_rgb, (lab,))


def test_gradients_finite_at_black_and_out_of_gamut() -> None:
    rgb = torch.zeros(1, 3, 2, 2, dtype=torch.float64, requires_grad=True)
    color.rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()
    lab = torch.tensor([[[[0.0, 50.0]], [[-128.0, 127.0]], [[127.0, -128.0]]]], requires_grad=True)
    color.lab_to_rgb(lab, clip=False).sum().backward()
    assert torch.isfinite(lab.grad).all()


def test_normalisation_round_trip() -> None:
    L = torch.linspace(0, 100, 11)
    ab = torch.linspace(-128, 127, 11)
    assert color.normalize_l(torch.tensor([0.0, 50.0, 100.0])).tolist() == [-1.0, 0.0, 1.0]
    torch.testing.assert_close(
        color.normalize_ab(torch.tensor([110.0, -55.0])), torch.tensor([1.0, -0.5])
    )
    torch.testing.assert_close(color.denormalize_l(color.normalize_l(L)), L)
    torch.testing.assert_close(color.denormalize_ab(color.normalize_ab(ab)), ab)


def test_model_input_and_output_round_trip() -> None:
    rgb = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    L_norm, ab_norm = color.rgb_to_model_input(rgb)
    assert L_norm.shape == (2, 1, 8, 8) and ab_norm.shape == (2, 2, 8, 8)
    lab = color.rgb_to_lab(rgb)
    torch.testing.assert_close(L_norm, lab[:, :1] / 50 - 1)
    torch.testing.assert_close(ab_norm, lab[:, 1:] / 110)
    torch.testing.assert_close(color.model_output_to_rgb(L_norm, ab_norm), rgb, atol=1e-4, rtol=0)


def test_gray_rgb_is_neutral_with_the_same_lightness() -> None:
    L = torch.linspace(0, 100, 101, dtype=torch.float64).view(1, 1, 1, 101)
    gray = color.gray_rgb(color.normalize_l(L))
    assert gray.shape == (1, 3, 1, 101)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    assert gray.min() >= 0 and gray.max() <= 1
    lab = color.rgb_to_lab(gray)
    # 1e-4, not 1e-12: skimage's rounded Lab break points (0.008856, 7.787) make f and its inverse
    # disagree by ~4e-5 L just around L = 8.
    torch.testing.assert_close(lab[:, :1], L, atol=1e-4, rtol=0)
    # The residual chroma only comes from skimage's rounded matrix vs white point: tiny.
    assert lab[:, 1:].abs().max() < 0.01


def test_to_uint8_rounds_and_clamps() -> None:
    x = torch.tensor([0.0, 0.4 / 255, 0.6 / 255, 100.4 / 255, 1.0, 1.3, -0.2])
    assert color.to_uint8(x).tolist() == [0, 0, 1, 100, 255, 255, 0]
    all_values = torch.arange(256, dtype=torch.uint8)
    assert torch.equal(color.to_uint8(color.to_float(all_values)), all_values)
    assert color.to_float(all_values).dtype == torch.float32
    with pytest.raises(TypeError, match="uint8"):
        color.to_float(torch.zeros(3))


def test_float32_with_and_without_gradients_gives_the_same_values() -> None:
    rgb = torch.rand(2, 3, 4, 4, generator=torch.Generator().manual_seed(9)).requires_grad_()
    L_norm, ab_norm = color.rgb_to_model_input(rgb)
    (L_norm.sum() + ab_norm.sum()).backward()
    assert rgb.grad is not None and torch.isfinite(rgb.grad).all() and rgb.grad.abs().sum() > 0
    plain_L, plain_ab = color.rgb_to_model_input(rgb.detach())
    torch.testing.assert_close(plain_L, L_norm.detach())
    torch.testing.assert_close(plain_ab, ab_norm.detach())
    with torch.no_grad():
        assert color.rgb_to_lab(rgb).grad_fn is None
