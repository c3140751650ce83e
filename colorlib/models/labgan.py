"""The Lab GAN of the Flickr1024 source: residual generator and whole-image discriminators.

Generator (source appendix, "GAN based on L*a*b* color space"): reflection padding, a 9x9
convolution, two stride-2 3x3 convolutions (32 -> 64 -> 128 channels), residual blocks whose 3x3
convolutions are unpadded so each block shaves 2 pixels per side (the skip is cropped to match),
two transposed convolutions back to full resolution and a 9x9 convolution to the two ab channels
with tanh. The reflection padding (40 pixels for the source's 5 blocks = 8 per block) is exactly
what the blocks shave at quarter resolution, so the output has the input's size.

Discriminators: the source's DCGAN-style CNN (strided 4x4 convolutions, BatchNorm, LeakyReLU 0.2,
channels doubling from ``ndf`` until a 4x4 map, a final 4x4 valid convolution and a sigmoid), and
the ResNet-18 alternative it also tried.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

_SHAVE = 2  # pixels per side removed by one residual block (two unpadded 3x3 convolutions)


class RepeatedReflectionPad(nn.Module):
    """Reflection padding that also works when ``pad`` >= the input side.

    ``nn.ReflectionPad2d`` needs pad < side; for small inputs (32 px with pad 40) the padding is
    applied in several reflections, each as large as the current side allows. For inputs larger
    than ``pad`` this is a single ordinary reflection, as in the source.
    """

    def __init__(self, pad: int) -> None:
        super().__init__()
        self.pad = int(pad)

    def forward(self, x: Tensor) -> Tensor:
        left = self.pad
        while left > 0:
            step = min(left, x.shape[-1] - 1, x.shape[-2] - 1)
            if step < 1:
                raise ValueError(f"RepeatedReflectionPad: input {tuple(x.shape)} is too small")
            x = F.pad(x, (step, step, step, step), mode="reflect")
            left -= step
        return x


class ShavedResidualBlock(nn.Module):
    """Two unpadded 3x3 conv + BatchNorm (ReLU between); the skip is cropped by 2 per side."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, kernel_size=3),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        # No activation after the sum: the source simply adds the two branches.
        return self.body(x) + x[..., _SHAVE:-_SHAVE, _SHAVE:-_SHAVE]


class ResidualGenerator(nn.Module):
    """L (B, 1, H, W) -> ab (B, 2, H, W) in [-1, 1]; H and W must be multiples of 4.

    Args:
        n_blocks: residual blocks at quarter resolution (source: 5); the input is reflection
            padded by ``8 * n_blocks`` pixels so the blocks' shaving restores the input size.
        width: channels after the first convolution (source: 32); then 2x and 4x that.
    """

    def __init__(self, n_blocks: int = 5, width: int = 32) -> None:
        super().__init__()
        if n_blocks < 0 or width < 1:
            raise ValueError(f"ResidualGenerator: bad n_blocks={n_blocks} or width={width}")
        self.n_blocks = int(n_blocks)
        self.config = {"n_blocks": self.n_blocks, "width": int(width)}
        # 2 px per side per block at 1/4 resolution = 8 px per side at full resolution.
        pad = 4 * _SHAVE * self.n_blocks
        w1, w2, w4 = width, 2 * width, 4 * width
        self.encoder = nn.Sequential(
            RepeatedReflectionPad(pad),
            nn.Conv2d(1, w1, kernel_size=9, stride=1, padding=4),
            nn.BatchNorm2d(w1),
            nn.ReLU(),
            nn.Conv2d(w1, w2, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(w2),
            nn.ReLU(),
            nn.Conv2d(w2, w4, kernel_size=3, stride=2, padding=1),
            nn.BatchNorm2d(w4),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(*[ShavedResidualBlock(w4) for _ in range(self.n_blocks)])
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(w4, w2, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(w2),
            nn.ReLU(),
            nn.ConvTranspose2d(w2, w1, kernel_size=3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(w1),
            nn.ReLU(),
            nn.Conv2d(w1, 2, kernel_size=9, stride=1, padding=4),
            nn.Tanh(),
        )

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or x.shape[1] != 1 or x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(
                f"ResidualGenerator expects (B, 1, H, W) with H, W multiples of 4, "
                f"got {tuple(x.shape)}"
            )
        return self.decoder(self.blocks(self.encoder(x)))


class CNNDiscriminator(nn.Module):
    """Whole-image real/fake probability, (B, in_channels, S, S) -> (B, 1) in [0, 1].

    ``log2(image_size) - 2`` stride-2 Conv(4, 2, 1) + BatchNorm + LeakyReLU(0.2) layers take the
    image down to 4x4 with channels ndf, 2 ndf, 4 ndf, ...; a 4x4 valid convolution and a sigmoid
    give one probability. At 256 this is the source's stack (64 ... 2048 channels). The
    convolutions have no bias (BatchNorm follows them), as in the source.

    Args:
        in_channels: 3 for an (L, a, b) image.
        ndf: channels of the first layer.
        image_size: the input side, a power of two from 8 (32 ... 256 in practice).
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, image_size: int = 256) -> None:
        super().__init__()
        n_strided = int(round(math.log2(image_size))) - 2 if image_size > 0 else -1
        if n_strided < 1 or 4 * 2**n_strided != image_size:
            raise ValueError(
                f"CNNDiscriminator: image_size must be a power of two >= 8, got {image_size}"
            )
        self.image_size = int(image_size)
        self.config = {"in_channels": int(in_channels), "ndf": int(ndf), "image_size": image_size}
        layers: list[nn.Module] = []
        channels = in_channels
        for i in range(n_strided):
            width = ndf * 2**i
            layers += [
                nn.Conv2d(channels, width, kernel_size=4, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.LeakyReLU(0.2),
            ]
            channels = width
        layers += [nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(
                f"CNNDiscriminator built for image_size={self.image_size} got input "
                f"{tuple(x.shape)}"
            )
        return torch.sigmoid(self.main(x).flatten(1))


class ResNet18Discriminator(nn.Module):
    """torchvision ResNet-18 (random init) as a real/fake classifier: (B, C, H, W) -> (B, 1).

    The first convolution takes ``in_channels`` (3 for L, a, b) and the classifier head gives a
    single logit, turned into a probability by a sigmoid.
    """

    def __init__(self, in_channels: int = 3) -> None:
        super().__init__()
        self.config = {"in_channels": int(in_channels)}
        import torchvision  # here: importing it costs a second at every colorize start

        net = torchvision.models.resnet18(weights=None)
        if in_channels != 3:
            old = net.conv1
            net.conv1 = nn.Conv2d(
                in_channels,
                old.out_channels,
                kernel_size=old.kernel_size,
                stride=old.stride,
                padding=old.padding,
                bias=False,
            )
        net.fc = nn.Linear(net.fc.in_features, 1)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self.net(x))
