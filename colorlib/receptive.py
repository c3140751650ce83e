"""Receptive fields and layer-by-layer shapes of convolutional networks.

The receptive field of a unit is the side of the square of input pixels that can change it.
Through a chain of layers it follows one recurrence, with ``j`` (the *jump*) the distance in input
pixels between neighbouring units of a layer's input, starting at r = j = 1:

    convolution or pooling, kernel k, stride s, dilation d:   r += d (k - 1) j,     j *= s
    transposed convolution, kernel k, stride s:               r += (ceil(k/s) - 1) j, j /= s

(each output of a transposed convolution reads at most ceil(k/s) neighbouring inputs). Layers
without a kernel (normalisation, activations, padding) change neither. Padding moves the field
but does not widen it.

For a net that applies its layers one after another (ColorNet, the PatchGAN, the Lab GAN's CNN
discriminator) this is exact; through a residual block or a U-Net it follows the longest path,
the one through every layer, which is the largest field any output has.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import nn

_POOLS = (nn.MaxPool2d, nn.AvgPool2d)


def _pair(value: int | Sequence[int]) -> int:
    """The first element of a (possibly tuple) kernel/stride/dilation; square ones assumed."""
    return int(value[0]) if isinstance(value, Sequence) else int(value)


def grow(module: nn.Module, r: float, j: float) -> tuple[float, float]:
    """(receptive field, jump) after `module`, given them before it."""
    if isinstance(module, nn.ConvTranspose2d):
        k, s = _pair(module.kernel_size), _pair(module.stride)
        return r + (math.ceil(k / s) - 1) * j, j / s
    if isinstance(module, (nn.Conv2d, *_POOLS)):
        k, s = _pair(module.kernel_size), _pair(module.stride or module.kernel_size)
        d = _pair(getattr(module, "dilation", 1))
        return r + d * (k - 1) * j, j * s
    return r, j


def _leaves(net: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in net.named_modules() if not list(m.children())]


def receptive_field(net: nn.Module) -> int:
    """The receptive field, in input pixels, of one output unit of `net` (its layers taken in
    the order they are defined; see the module docstring)."""
    r, j = 1.0, 1.0
    for _, module in _leaves(net):
        r, j = grow(module, r, j)
    return int(round(r))


def layer_table(
    net: nn.Module, input_shape: Sequence[int], all_layers: bool = False
) -> pd.DataFrame:
    """One row per layer, in the order a forward pass runs them: its output shape (channels x
    height x width, for one image of `input_shape` = (C, H, W)), parameters, kernel, stride,
    and the receptive field and jump after it.

    By default only the layers with a kernel (convolutions, transposed convolutions, pooling)
    are listed, as they are the ones that change a shape; ``all_layers`` lists every leaf.
    """
    order: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    names = {m: name for name, m in _leaves(net)}

    def record(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        order.append((names[module], module, tuple(output.shape[1:])))

    hooks = [m.register_forward_hook(record) for m in names]
    was_training = net.training
    net.eval()  # running statistics: one image of any size passes every BatchNorm
    try:
        with torch.no_grad():
            net(torch.zeros(1, *input_shape))
    finally:
        for hook in hooks:
            hook.remove()
        net.train(was_training)

    rows = []
    r, j = 1.0, 1.0
    for name, module, shape in order:
        r, j = grow(module, r, j)
        kernel = hasattr(module, "kernel_size")
        if not (kernel or all_layers):
            continue
        rows.append(
            {
                "layer": name,
                "type": type(module).__name__,
                "kernel": _pair(module.kernel_size) if kernel else None,
                "stride": _pair(module.stride or module.kernel_size) if kernel else None,
                "output (C x H x W)": " x ".join(map(str, shape)),
                "parameters": sum(p.numel() for p in module.parameters(recurse=False)),
                "receptive field": int(round(r)),
                "jump": j,
            }
        )
    # Nullable integers: a padding layer has no kernel, and the others should not print as 3.0.
    table = pd.DataFrame(rows).astype({"kernel": "Int64", "stride": "Int64"})
    return table.set_index("layer")
