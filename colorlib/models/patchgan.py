"""The 70x70 PatchGAN discriminator of pix2pix (Lab tutorial and Flickr1024 sources).

Conv(4, 2, 1) + LeakyReLU(0.2); then ``n_layers - 1`` stride-2 Conv + norm + LeakyReLU with the
channels doubling (capped at 8 ndf); one stride-1 Conv + norm + LeakyReLU; a final stride-1 Conv
to a one-channel map of logits, one per overlapping patch (30x30 at 256 with n_layers=3; each
logit sees a 70x70 receptive field). The tutorial's listing loops with an undefined index and
strides its last layer by 2; this follows the pix2pix paper and code instead.
"""

from __future__ import annotations

from torch import Tensor, nn

from .unet import norm_layer


class PatchDiscriminator(nn.Module):
    """(B, in_channels, H, W) -> (B, 1, h, w) logits (no sigmoid: use BCEWithLogits or LSGAN).

    Args:
        in_channels: 3 for the Lab image (L + ab); 6 for a conditional RGB pair.
        ndf: channels of the first layer.
        n_layers: number of stride-2 layers (3 gives the 70x70 receptive field).
        norm: "batch" or "instance".
    """

    def __init__(
        self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3, norm: str = "batch"
    ) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"PatchDiscriminator: n_layers must be >= 1, got {n_layers}")
        norm_layer(norm, 1)
        self.config = {
            "in_channels": int(in_channels),
            "ndf": int(ndf),
            "n_layers": int(n_layers),
            "norm": norm,
        }
        use_bias = norm == "instance"  # BatchNorm would cancel a bias
        layers: list[nn.Module] = [
            nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
        ]
        channels = ndf
        for i in range(1, n_layers + 1):
            width = ndf * min(2**i, 8)
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(channels, width, kernel_size=4, stride=stride, padding=1, bias=use_bias),
                norm_layer(norm, width),
                nn.LeakyReLU(0.2),
            ]
            channels = width
        layers.append(nn.Conv2d(channels, 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)
