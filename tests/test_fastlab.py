"""colorlib.fastlab, the fast no-grad twin of colorlib.color: the same values as the reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.color import rgb2lab

from colorlib import color, fastlab

EDGE_VALUES = [0.0, 1.0, 1 / 255, 10 / 255, 11 / 255, 0.04, 0.04045, 0.04045 + 1e-6, 0.0405, 0.5]


def colours(seed: int) -> np.ndarray:
    """Random colours plus grays and mixtures on both sides of the sRGB and Lab break points."""
    edges = [(v, v, v) for v in EDGE_VALUES] + [(v, 1.0 - v, 0.0) for v in EDGE_VALUES]
    edges += [(0.0, v, 0.04045) for v in EDGE_VALUES]
    return np.concatenate([np.random.default_rng(seed).random((4096, 3)), np.array(edges)])


def as_image(c: np.ndarray) -> torch.Tensor:
    """(N, 3) colours -> a (1, 3, 1, N) image."""
    return torch.from_numpy(c.T.copy())[None, :, None, :]


@pytest.mark.parametrize("shape", [(4, 3, 17, 23), (3, 8, 8)])
def test_model_input_equals_the_reference(shape):
    rgb = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    L, ab = fastlab.model_input(rgb)
    ref_L, ref_ab = color.rgb_to_model_input(rgb)
    assert L.shape == ref_L.shape and ab.shape == ref_ab.shape
    assert L.dtype == ab.dtype == torch.float32 and L.is_contiguous() and ab.is_contiguous()
    # float32 rounding: ~2e-4 Lab units at most, i.e. ~4e-6 after the /50 and /110 scaling.
    torch.testing.assert_close(L, ref_L, atol=1e-5, rtol=0)
    torch.testing.assert_close(ab, ref_ab, atol=1e-5, rtol=0)
    # Against the float64 reference on colours at the break points too.
    c = colours(seed=8)
    L, ab = fastlab.model_input(as_image(c).float())
    ref_L, ref_ab = color.rgb_to_model_input(as_image(c))
    torch.testing.assert_close(L.double(), ref_L, atol=1e-5, rtol=0)
    torch.testing.assert_close(ab.double(), ref_ab, atol=1e-5, rtol=0)


def test_rgb_to_lab_matches_skimage_and_leaves_input_alone():
    c = colours(seed=2)
    rgb = as_image(c).float()
    before = rgb.clone()
    lab = fastlab.rgb_to_lab(rgb)
    assert torch.equal(rgb, before) and lab.dtype == torch.float32
    np.testing.assert_allclose(lab[0, :, 0].double().numpy().T, rgb2lab(c), rtol=0, atol=1e-3)
    torch.testing.assert_close(lab.double(), color.rgb_to_lab(as_image(c)), atol=2e-4, rtol=0)


def test_scratch_buffers_give_the_same_values_and_fresh_results():
    gen = torch.Generator().manual_seed(3)
    scratch: dict[str, torch.Tensor] = {}
    first_rgb = torch.rand(2, 3, 8, 8, generator=gen)
    first = fastlab.model_input(first_rgb, scratch)
    assert set(scratch) == {"lab_rows", "lab_t"}
    kept = [t.clone() for t in first]
    second_rgb = torch.rand(2, 3, 8, 8, generator=gen)
    second = fastlab.model_input(second_rgb, scratch)  # reuses the buffers
    assert all(torch.equal(a, b) for a, b in zip(first, kept, strict=True))  # not overwritten
    fresh = fastlab.model_input(second_rgb)
    assert all(torch.equal(a, b) for a, b in zip(second, fresh, strict=True))


def test_gradients_are_not_tracked_and_bad_input_is_refused():
    rgb = torch.rand(1, 3, 4, 4).requires_grad_()
    L, ab = fastlab.model_input(rgb)
    assert L.grad_fn is None and ab.grad_fn is None
    with pytest.raises(TypeError, match="float"):
        fastlab.model_input(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))
    with pytest.raises(ValueError, match="rgb"):
        fastlab.model_input(torch.rand(2, 4, 4))
