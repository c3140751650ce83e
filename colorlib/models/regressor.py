"""Mean-chroma regressor (faces source, "Regressor" section).

Six Conv(4, stride 2, pad 1) + BatchNorm + LeakyReLU stages halve the L image six times; a linear
layer maps the flattened features to the two mean chroma values (a*, b*), squashed by a sigmoid.
The source fixed the input to 128 x 128 (a 2 x 2 x 512 map before the linear layer); here the
flatten size follows ``in_size`` so any multiple of 64 works.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

_N_STAGES = 6  # fixed by the source's table: six strided convolutions


class MeanChromaRegressor(nn.Module):
    """Predict the per-image mean (a*, b*) from the L channel.

    Args:
        in_size: side of the square input (a multiple of 64, at least 64).
        widths: output channels of the six convolution stages (source: 32, 64, 128, 256, 256, 512,
            "motivated by ResNet-18").

    Input ``(B, 1, in_size, in_size)`` normalised L; output ``(B, 2)`` in [0, 1].
    """

    def __init__(
        self,
        in_size: int = 128,
        widths: Sequence[int] = (32, 64, 128, 256, 256, 512),
    ) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != _N_STAGES:
            raise ValueError(f"MeanChromaRegressor: widths needs {_N_STAGES} entries, got {widths}")
        if in_size < 64 or in_size % 64:
            raise ValueError(
                f"MeanChromaRegressor: in_size must be a multiple of 64, got {in_size}"
            )
        self.in_size = int(in_size)
        self.config = {"in_size": self.in_size, "widths": widths}

        layers: list[nn.Module] = []
        channels = 1
        for width in widths:
            layers += [
                nn.Conv2d(channels, width, kernel_size=4, stride=2, padding=1),
                nn.BatchNorm2d(width),
                nn.LeakyReLU(),  # the source used the default slope (0.01)
            ]
            channels = width
        self.features = nn.Sequential(*layers)
        side = self.in_size // 2**_N_STAGES
        self.head = nn.Linear(channels * side * side, 2)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-2:] != (self.in_size, self.in_size):
            raise ValueError(
                f"MeanChromaRegressor expects (B, 1, {self.in_size}, {self.in_size}), "
                f"got {tuple(x.shape)}"
            )
        return torch.sigmoid(self.head(self.features(x).flatten(1)))
