"""`viz.ab_gamut`: the sRGB gamut's slices in the a*b* plane and the photos' density."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from colorlib import color, viz


def small_gamut(steps: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    grid = torch.linspace(0, 1, steps, dtype=torch.float64)
    rgb = torch.stack(torch.meshgrid(grid, grid, grid, indexing="ij")).reshape(3, 1, -1)
    return color.rgb_to_lab(rgb)[:, 0], rgb[:, 0]


def test_each_slice_shows_exactly_the_colours_near_its_lightness_in_their_own_colour():
    lab, rgb = small_gamut()
    fig = viz.ab_gamut(lab, rgb, levels=(30.0, 60.0), width=3.0)
    try:
        assert len(fig.axes) == 2
        for ax, level in zip(fig.axes, (30.0, 60.0), strict=True):
            near = (lab[0] - level).abs() <= 3.0
            assert 0 < int(near.sum()) < lab.shape[1]
            points = ax.collections[0]
            np.testing.assert_allclose(points.get_offsets(), lab[1:, near].T.numpy())
            np.testing.assert_allclose(points.get_facecolors()[:, :3], rgb[:, near].T.numpy())
            boxes = [p for p in ax.patches if isinstance(p, matplotlib.patches.Rectangle)]
            assert [(b.get_x(), b.get_width()) for b in boxes] == [(-110.0, 220.0)]
    finally:
        plt.close(fig)


def test_the_photos_panel_counts_pixels_per_bin():
    lab, rgb = small_gamut()
    # 50 pixels at one colour and 5 at another: two occupied bins, nothing elsewhere.
    ab = np.array([[10.0] * 50 + [-40.0] * 5, [20.0] * 50 + [30.0] * 5])
    fig = viz.ab_gamut(lab, rgb, levels=(50.0,), photos_ab=ab)
    try:
        panel = fig.axes[1]  # fig.axes[2] is its colour bar
        density = panel.images[1].get_array()
        assert sorted(density.compressed().tolist()) == pytest.approx([np.log10(5), np.log10(50)])
        assert panel.images[0].get_array().any()  # the gamut's footprint is drawn beneath
    finally:
        plt.close(fig)


def test_mismatched_inputs_are_refused():
    lab, rgb = small_gamut()
    with pytest.raises(ValueError, match=r"\(3, N\)"):
        viz.ab_gamut(lab, rgb[:, :-1])
