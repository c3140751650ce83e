"""Pix2Pix U-Net generator built from one recursive skip-connection block.

Follows the pix2pix Lab tutorial (and pix2pix's ``unet_256``): each block is
``down -> (inner block) -> up`` and concatenates its input with its output, so encoder features at
every resolution reach the decoder. Channels per level (0 = outermost) are ngf, 2 ngf, 4 ngf, then
8 ngf down to the 1x1 bottleneck; dropout 0.5 sits in the 8 ngf -> 8 ngf blocks just outside the
innermost one. Convolutions carry a bias only when the norm is InstanceNorm (non-affine), since a
BatchNorm right after them would cancel it.

The RGB Pix2Pix of the Flickr1024 source is the same U-Net with InstanceNorm (``norm="instance"``)
and 3 input/output channels; its final layer (upsample + 4x4 convolution) is replaced here by the
pix2pix transposed convolution, the rest of the channel plan being the same.

Self-attention (the SA-cGAN source): ``attention_at`` names the side of the decoder feature map
that gets a ``SelfAttention`` layer. It is applied to the decoder block's upsampled output
(after its norm and dropout), before that output is concatenated with the encoder skip, so it mixes
decoded features only and the skip stays untouched.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .attention import SelfAttention

NORMS = ("batch", "instance")
POSITIONS = ("outermost", "middle", "innermost")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """BatchNorm2d or non-affine InstanceNorm2d (pix2pix's settings)."""
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class UnetBlock(nn.Module):
    """One U-Net level: halve, run ``submodule`` (the deeper levels), double back.

    Args:
        outer_channels: channels this block returns before concatenation (the image channels for
            the outermost block).
        inner_channels: channels after the downsampling convolution.
        in_channels: input channels when different from ``outer_channels`` (outermost block).
        submodule: the next deeper ``UnetBlock`` (None for the innermost).
        position: "outermost" (no norm, ends in tanh, no skip), "innermost" (no submodule,
            no norm at the bottleneck) or "middle".
        norm: "batch" or "instance".
        dropout: Dropout(0.5) after the up path (pix2pix's source of noise).
        attention: SelfAttention on the up path's output, before the skip concatenation.
    """

    def __init__(
        self,
        outer_channels: int,
        inner_channels: int,
        *,
        in_channels: int | None = None,
        submodule: UnetBlock | None = None,
        position: str = "middle",
        norm: str = "batch",
        dropout: bool = False,
        attention: bool = False,
    ) -> None:
        super().__init__()
        if position not in POSITIONS:
            raise ValueError(f"UnetBlock: position must be one of {POSITIONS}, got {position!r}")
        if (submodule is None) != (position == "innermost"):
            raise ValueError("UnetBlock: only the innermost block has no submodule")
        if position == "outermost" and attention:
            raise ValueError("UnetBlock: attention is not supported on the outermost block")
        norm_layer(norm, 1)  # validates the name early
        self.outermost = position == "outermost"
        if in_channels is None:
            in_channels = outer_channels
        use_bias = norm == "instance"
        up_in = inner_channels if position == "innermost" else 2 * inner_channels

        down_conv = nn.Conv2d(
            in_channels, inner_channels, kernel_size=4, stride=2, padding=1, bias=use_bias
        )
        if position == "outermost":
            down = [down_conv]
            up = [
                nn.ReLU(),
                nn.ConvTranspose2d(up_in, outer_channels, kernel_size=4, stride=2, padding=1),
                nn.Tanh(),
            ]
        else:
            down = [nn.LeakyReLU(0.2), down_conv]
            if position == "middle":
                down.append(norm_layer(norm, inner_channels))
            up = [
                nn.ReLU(),
                nn.ConvTranspose2d(
                    up_in, outer_channels, kernel_size=4, stride=2, padding=1, bias=use_bias
                ),
                norm_layer(norm, outer_channels),
            ]
            if dropout:
                up.append(nn.Dropout(0.5))
        self.down = nn.Sequential(*down)
        self.submodule = submodule
        self.up = nn.Sequential(*up)
        self.attention = SelfAttention(outer_channels) if attention else None

    def forward(self, x: Tensor) -> Tensor:
        y = self.down(x)
        if self.submodule is not None:
            y = self.submodule(y)
        y = self.up(y)
        if self.attention is not None:
            y = self.attention(y)
        if self.outermost:
            return y
        return torch.cat([x, y], dim=1)


class UnetGenerator(nn.Module):
    """Recursive pix2pix U-Net, (B, in_channels, H, W) -> (B, out_channels, H, W) in [-1, 1].

    Args:
        in_channels, out_channels: 1 -> 2 for L -> ab (Lab Pix2Pix); 3 -> 3 for gray RGB -> RGB.
        n_down: number of halvings; default log2(image_size), which makes the bottleneck 1x1
            (8 at 256, as the tutorial). H and W must be multiples of 2**n_down.
        ngf: channels of the first level (64 in the sources).
        norm: "batch" (Lab tutorial) or "instance" (Flickr1024 RGB Pix2Pix).
        image_size: the training side, used for the n_down default and ``attention_at``.
        dropout: dropout in the 8 ngf blocks around the bottleneck.
        attention_at: side of the decoder feature map given a SelfAttention layer (e.g. 32 at 256,
            16 at 128); None for none. Must be image_size / 2**k with 1 <= k < n_down.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 2,
        n_down: int | None = None,
        ngf: int = 64,
        norm: str = "batch",
        image_size: int = 256,
        dropout: bool = True,
        attention_at: int | None = None,
    ) -> None:
        super().__init__()
        norm_layer(norm, 1)
        if n_down is None:
            if image_size < 4 or image_size & (image_size - 1):
                raise ValueError(
                    f"UnetGenerator: image_size must be a power of two >= 4 when n_down is not "
                    f"given, got {image_size}"
                )
            n_down = int(math.log2(image_size))
        if n_down < 2:
            raise ValueError(f"UnetGenerator: n_down must be >= 2, got {n_down}")
        attention_level = None
        if attention_at is not None:
            ratio = image_size // attention_at if attention_at > 0 else 0
            if (
                ratio < 2
                or ratio * attention_at != image_size
                or ratio & (ratio - 1)
                or int(math.log2(ratio)) >= n_down
            ):
                raise ValueError(
                    f"UnetGenerator: attention_at={attention_at} is not a decoder feature side "
                    f"for image_size={image_size} and n_down={n_down} (need image_size / 2**k, "
                    f"1 <= k < n_down)"
                )
            attention_level = int(math.log2(ratio))
        self.n_down = n_down
        self.config = {
            "in_channels": int(in_channels),
            "out_channels": int(out_channels),
            "n_down": n_down,
            "ngf": int(ngf),
            "norm": norm,
            "image_size": int(image_size),
            "dropout": bool(dropout),
            "attention_at": attention_at,
        }

        def inner(level: int) -> int:
            return ngf * min(2**level, 8)

        block: UnetBlock | None = None
        for level in range(n_down - 1, -1, -1):  # built from the bottleneck outwards
            if level == n_down - 1:
                position = "innermost"
            elif level == 0:
                position = "outermost"
            else:
                position = "middle"
            block = UnetBlock(
                out_channels if level == 0 else inner(level - 1),
                inner(level),
                in_channels=in_channels if level == 0 else None,
                submodule=block,
                position=position,
                norm=norm,
                # pix2pix: dropout in the 8 ngf -> 8 ngf blocks outside the innermost one
                dropout=dropout and position == "middle" and level >= 4,
                attention=level == attention_level,
            )
        self.model = block

    def forward(self, x: Tensor) -> Tensor:
        factor = 2**self.n_down
        if x.dim() != 4 or x.shape[-2] % factor or x.shape[-1] % factor:
            raise ValueError(
                f"UnetGenerator (n_down={self.n_down}) expects (B, C, H, W) with H, W multiples "
                f"of {factor}, got {tuple(x.shape)}"
            )
        return self.model(x)
