"""How a network's input and output relate to Lab: one `Convention` per kind, both directions.

Training needs the forward direction (a batch of normalised L, ab and RGB -> the net's input and
target); prediction needs the inverse (the net's output -> normalised ab). Both live here, side by
side, so that a new kind cannot get one direction without the other, and a round-trip test (a
stand-in "model" that returns the true target must give the image back) checks every kind.

    lab          L/50-1 in, ab/110 out (tanh)             ColorNet variants, GANs, U-Nets
    unit         L and ab rescaled to [0, 1]              the ColorNet source's convention
    mean_chroma  L/50-1 in, the image's mean (a, b) in [0, 1] out: a constant colour
    rgb          gray RGB in [-1, 1] in, RGB in [-1, 1] out (RGB-space Pix2Pix)

The Lab kinds predict colour only: their a*b* is joined with the photo's true L. The rgb kind
predicts a whole image, its own lightness included, and is shown and scored as it is (`own_rgb`);
joining its a*b* with the true L instead (`to_ab`) shows its colour alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from colorlib import color
from colorlib.errors import UserError

Batch = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class Convention:
    name: str
    model_input: Callable[[torch.Tensor], torch.Tensor]  # normalised L -> what the net reads
    target: Callable[[Batch], torch.Tensor]  # a batch -> what the net should write
    to_ab: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (output, L) -> normalised ab
    # output -> RGB in [0, 1] for kinds that predict a whole image (their own lightness).
    own_rgb: Callable[[torch.Tensor], torch.Tensor] | None = None

    def pair(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The (input, target) a training step feeds the net."""
        return self.model_input(batch["L"]), self.target(batch)

    def rgb(self, output: torch.Tensor, L: torch.Tensor, true_lightness: bool = False):
        """The image the net's `output` stands for, RGB in [0, 1]: its own (`own_rgb`) when
        the kind predicts one and `true_lightness` is off, else L joined with its a*b*."""
        if self.own_rgb is not None and not true_lightness:
            return self.own_rgb(output)
        return color.model_output_to_rgb(L, self.to_ab(output, L))


def _identity(L: torch.Tensor) -> torch.Tensor:
    return L


def _ab(batch: Batch) -> torch.Tensor:
    return batch["ab"]


def _ab_out(output: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    return output


def _unit_in(L: torch.Tensor) -> torch.Tensor:
    return (L + 1) / 2


def _unit_target(batch: Batch) -> torch.Tensor:
    return (batch["ab"] + 1) / 2


def _unit_out(output: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    return output * 2 - 1


def _mean_target(batch: Batch) -> torch.Tensor:
    return (batch["ab"].mean(dim=(2, 3)) + 1) / 2


def _mean_out(output: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    # One colour for the whole image: the mean (a*, b*) painted over every pixel.
    return (output * 2 - 1)[:, :, None, None].expand(-1, -1, *L.shape[-2:])


def _rgb_in(L: torch.Tensor) -> torch.Tensor:
    return color.gray_rgb(L) * 2 - 1


def _rgb_target(batch: Batch) -> torch.Tensor:
    return batch["rgb"] * 2 - 1


def _rgb_own(output: torch.Tensor) -> torch.Tensor:
    return ((output + 1) / 2).clamp(0, 1)


def _rgb_out(output: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
    return color.rgb_to_model_input(_rgb_own(output))[1]


CONVENTIONS: dict[str, Convention] = {
    c.name: c
    for c in (
        Convention("lab", _identity, _ab, _ab_out),
        Convention("unit", _unit_in, _unit_target, _unit_out),
        Convention("mean_chroma", _identity, _mean_target, _mean_out),
        Convention("rgb", _rgb_in, _rgb_target, _rgb_out, own_rgb=_rgb_own),
    )
}


def get(name: str) -> Convention:
    """The convention called `name`; a one-line error listing the others for a typo."""
    if name not in CONVENTIONS:
        known = ", ".join(CONVENTIONS)
        raise UserError(f"unknown input/output convention {name!r}; known: {known}")
    return CONVENTIONS[name]


def mean_chroma_to_lab(y: torch.Tensor) -> torch.Tensor:
    """The mean-chroma target in [0, 1] -> mean (a*, b*) in Lab units (for tables and plots)."""
    return (y * 2 - 1) * 110


def lab_perceptual(
    features: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """Adapt an RGB perceptual loss to (L, fake ab, real ab) in the Lab normalisation."""

    def loss(L: torch.Tensor, fake_ab: torch.Tensor, real_ab: torch.Tensor) -> torch.Tensor:
        return features(
            color.model_output_to_rgb(L, fake_ab), color.model_output_to_rgb(L, real_ab)
        )

    return loss


def collect(loader: Iterable[Batch], convention: Convention) -> tuple[torch.Tensor, torch.Tensor]:
    """All (input, target) pairs of a loader, concatenated (for small evaluation sets)."""
    xs, ys = zip(*(convention.pair(batch) for batch in loader), strict=True)
    return torch.cat(xs), torch.cat(ys)
