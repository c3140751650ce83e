"""ColorNet: the small convolutional encoder-decoder of the faces source ("Colorization").

Down: Conv(3, stride 2, pad 1) + BatchNorm + ReLU per width. Up: the mirror image with
ConvTranspose(2, stride 2), BatchNorm + ReLU between layers, and no normalisation on the last
layer, which outputs the two ab channels followed by the chosen final activation. The source's last
layer was a ReLU; it compared ReLU, sigmoid and tanh there (sigmoid gave the lowest MSE).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

ACTIVATIONS = ("sigmoid", "relu", "tanh", "none")


def _final_activation(name: str) -> nn.Module:
    if name == "sigmoid":
        return nn.Sigmoid()
    if name == "relu":
        return nn.ReLU()
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return nn.Identity()
    raise ValueError(f"ColorNet: activation must be one of {ACTIVATIONS}, got {name!r}")


class ColorNet(nn.Module):
    """L (B, 1, H, W) -> ab (B, 2, H, W); H and W must be multiples of 2**len(widths).

    Args:
        widths: encoder channels; the decoder mirrors them back down to 2 (source: 8, 32, 128;
            its deeper trial used five layers, e.g. 8, 16, 32, 64, 128).
        activation: final activation, one of ``ACTIVATIONS``.
    """

    def __init__(self, widths: Sequence[int] = (8, 32, 128), activation: str = "sigmoid") -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or min(widths) < 1:
            raise ValueError(f"ColorNet: widths must be positive and non-empty, got {widths}")
        final = _final_activation(activation)
        self.depth = len(widths)
        self.config = {"widths": widths, "activation": activation}

        down: list[nn.Module] = []
        channels = 1
        for width in widths:
            down += [
                nn.Conv2d(channels, width, kernel_size=3, stride=2, padding=1),
                nn.BatchNorm2d(width),
                nn.ReLU(),
            ]
            channels = width
        self.downsample = nn.Sequential(*down)

        up: list[nn.Module] = []
        targets = widths[-2::-1] + [2]  # mirrored widths, ending at the two ab channels
        for i, width in enumerate(targets):
            up.append(nn.ConvTranspose2d(channels, width, kernel_size=2, stride=2))
            if i < len(targets) - 1:
                up += [nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        up.append(final)
        self.upsample = nn.Sequential(*up)

    def forward(self, x: Tensor) -> Tensor:
        factor = 2**self.depth
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"ColorNet (depth {self.depth}) expects (B, 1, H, W) with H, W multiples of "
                f"{factor}, got {tuple(x.shape)}"
            )
        return self.upsample(self.downsample(x))
