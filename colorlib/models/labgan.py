"""The Lab GAN of the Flickr1024 source: residual generator and whole-image discriminators.

Generator (source appendix, "GAN based on L*a*b* color space"): reflection padding, a 9x9
convolution, two stride-2 3x3 convolutions (32 -> 64 -> 128 channels), residual blocks whose 3x3
convolutions are unpadded so each block shaves 2 pixels per side (the skip is cropped to match),
two transposed convolutions back to full resolution and a 9x9 convolution to the two ab channels
with tanh. The reflection padding (40 pixels for the source's 5 blocks = 8 per block) is exactly
what the blocks shave at quarter resolution, so the output has the input's size.

Discriminators: the source's DCGAN-style CNN (strided 4x4 convolutions, BatchNorm, LeakyReLU 0.2,
channels doubling from ``ndf`` until a 4x4 map, a final 4x4 valid convolution), and the ResNet-18
alternative it also tried, on ImageNet weights where they can be had ("the pretrained model also
works", says the source). Both return a logit: the source ends in a sigmoid and trains with BCE
on its probability, the same loss as BCE with logits on the logit (`colorlib.losses.GANLoss`),
which also runs under CUDA autocast. ``probability(x)`` is the sigmoid, for display.
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


class _Probability:
    """``probability(x)``: the discriminator's belief that `x` is real, in [0, 1] (display only;
    training takes the logit)."""

    def probability(self, x: Tensor) -> Tensor:
        return torch.sigmoid(self(x))


class CNNDiscriminator(_Probability, nn.Module):
    """Whole-image real/fake logit, (B, in_channels, S, S) -> (B, 1).

    ``log2(image_size) - 2`` stride-2 Conv(4, 2, 1) + BatchNorm + LeakyReLU(0.2) layers take the
    image down to 4x4 with channels ndf, 2 ndf, 4 ndf, ...; a 4x4 valid convolution gives one
    logit. At 256 this is the source's stack (64 ... 2048 channels). The convolutions have no
    bias (BatchNorm follows them), as in the source.

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
        return self.main(x).flatten(1)


class ResNet18Discriminator(_Probability, nn.Module):
    """torchvision ResNet-18 as a real/fake classifier: (B, C, H, W) -> (B, 1) logit.

    The first convolution takes ``in_channels`` (3 for L, a, b) and the head gives one logit.
    ``pretrained``: None starts from torchvision's ImageNet weights when they can be had (torch's
    cache, or a download: `colorlib.pretrained`) and from random ones otherwise, True requires
    them, False never looks; ``status`` says which. A first convolution of other than 3 channels
    starts from the mean of the RGB filters; the new head is always random.
    """

    def __init__(self, in_channels: int = 3, pretrained: bool | None = None) -> None:
        super().__init__()
        self.config = {"in_channels": int(in_channels), "pretrained": pretrained}
        import torchvision  # here: importing it costs a second at every colorize start

        from colorlib import pretrained as weights

        # Built at random first in every case, so the global RNG moves the same either way.
        net = torchvision.models.resnet18(weights=None)
        found = weights.Found(None, "pretrained=False")
        if pretrained is not False:
            found = weights.weights_file(torchvision.models.ResNet18_Weights.IMAGENET1K_V1)
            if found.path is None and pretrained:
                raise RuntimeError(f"ResNet18Discriminator: no ImageNet weights: {found.status}")
        if found.path is not None:
            net.load_state_dict(torch.load(found.path, map_location="cpu", weights_only=True))
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
            if found.path is not None:
                with torch.no_grad():
                    net.conv1.weight.copy_(
                        old.weight.mean(1, keepdim=True).expand_as(net.conv1.weight)
                    )
        net.fc = nn.Linear(net.fc.in_features, 1)
        self.net = net
        self.imagenet = found.path is not None
        self.status = (
            found.status
            if self.imagenet
            else f"ResNet-18 starts from random weights ({found.status})"
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)
