"""Input/output conventions by round trip: a stand-in "model" that returns the true target must
give the image back through `inference.predict`, for every kind."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from colorlib import color, conventions, inference
from colorlib.errors import UserError
from colorlib.modelfile import ModelSpec

SIZE = 32
MEAN_TO_AB = conventions.CONVENTIONS["mean_chroma"].to_ab


def photo(constant_chroma: bool = False) -> torch.Tensor:
    """uint8 (3, SIZE, SIZE); with `constant_chroma`, one a*b* everywhere (in gamut), as the
    mean-chroma convention can only reproduce."""
    g = torch.Generator().manual_seed(0)
    L = 30 + 40 * torch.rand(1, 1, 4, 4, generator=g)
    L = nn.functional.interpolate(L, size=(SIZE, SIZE), mode="bilinear")
    if constant_chroma:
        ab = torch.tensor([12.0, -18.0])[None, :, None, None].expand(1, 2, SIZE, SIZE)
    else:
        ab = nn.functional.interpolate(
            torch.rand(1, 2, 4, 4, generator=g) * 40 - 20, size=(SIZE, SIZE), mode="bilinear"
        )
    rgb = color.lab_to_rgb(torch.cat([L, ab], 1)).clamp(0, 1)
    return color.to_uint8(rgb)[0]


class Oracle(nn.Module):
    """Returns the convention's true target for `image`, after checking its input is the
    convention's input for that image."""

    def __init__(self, convention: conventions.Convention, image: torch.Tensor) -> None:
        super().__init__()
        rgb = color.to_float(image)[None]
        L, ab = color.rgb_to_model_input(rgb)
        self.batch = {"L": L, "ab": ab, "rgb": rgb}
        self.convention = convention

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected_input, target = self.convention.pair(self.batch)
        torch.testing.assert_close(x, expected_input, atol=1e-4, rtol=0)
        return target


def round_trip_error(
    convention: conventions.Convention, image: torch.Tensor, true_lightness: bool = False
) -> int:
    """Largest difference in grey levels between `image` and its prediction by the oracle
    (`true_lightness`: an RGB model's colour on the photo's L, instead of its own image)."""
    spec = ModelSpec(method="oracle", arch="unet", io=convention.name, size=SIZE)
    original = conventions.CONVENTIONS[convention.name]
    conventions.CONVENTIONS[convention.name] = convention  # what spec.convention returns
    try:
        out = inference.predict(Oracle(convention, image), spec, image, "cpu", true_lightness)
    finally:
        conventions.CONVENTIONS[convention.name] = original
    return int((out.int() - image.int()).abs().max())


@pytest.mark.parametrize("true_lightness", [False, True])
@pytest.mark.parametrize("name", sorted(conventions.CONVENTIONS))
def test_every_convention_round_trips(name, true_lightness):
    image = photo(constant_chroma=name == "mean_chroma")
    assert round_trip_error(conventions.CONVENTIONS[name], image, true_lightness) <= 2


def test_an_rgb_model_is_shown_with_its_own_lightness():
    """Its own image, unless asked for its colour alone: a model that darkens shows it."""
    image = photo()
    darker = dataclasses.replace(
        conventions.CONVENTIONS["rgb"], target=lambda batch: batch["rgb"] * 2 - 1.4
    )
    spec = ModelSpec(method="oracle", arch="unet", io="rgb", size=SIZE)
    original = conventions.CONVENTIONS["rgb"]

    def lightness_error(true_lightness: bool) -> float:
        conventions.CONVENTIONS["rgb"] = darker
        try:
            out = inference.predict(Oracle(darker, image), spec, image, "cpu", true_lightness)
        finally:
            conventions.CONVENTIONS["rgb"] = original
        L_out, L_in = (color.rgb_to_lab(color.to_float(x))[0] for x in (out, image))
        return float((L_out - L_in).abs().max())

    assert lightness_error(False) > 10
    assert lightness_error(True) < 1


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("lab", lambda out, L: out * 0.5),
        ("unit", lambda out, L: out * 2 + 1),
        ("mean_chroma", lambda out, L: MEAN_TO_AB(out.flip(1), L)),  # a* and b* swapped
        ("rgb", lambda out, L: color.rgb_to_model_input(out.clamp(0, 1))[1]),  # skips (x + 1) / 2
    ],
)  # fmt: skip
def test_a_wrong_inverse_fails_the_round_trip(name, broken):
    image = photo(constant_chroma=name == "mean_chroma")
    wrong = dataclasses.replace(conventions.CONVENTIONS[name], to_ab=broken)
    assert round_trip_error(wrong, image, true_lightness=True) > 5


def test_a_wrong_own_image_fails_the_round_trip():
    wrong = dataclasses.replace(conventions.CONVENTIONS["rgb"], own_rgb=lambda out: out.clamp(0, 1))
    assert round_trip_error(wrong, photo()) > 5


def test_an_unknown_convention_is_a_one_line_error():
    with pytest.raises(UserError, match="unknown input/output convention 'hsv'; known: lab"):
        ModelSpec(method="m", arch="unet", io="hsv")


def test_mean_chroma_to_lab_inverts_the_target_scale():
    batch = {"L": torch.zeros(1, 1, 2, 2), "ab": torch.full((1, 2, 2, 2), 0.25)}
    target = conventions.CONVENTIONS["mean_chroma"].target(batch)
    torch.testing.assert_close(conventions.mean_chroma_to_lab(target), torch.full((1, 2), 27.5))
