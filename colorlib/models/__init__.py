"""Network definitions, a name registry for checkpoints, and weight initialisation.

Every model takes only plain keyword arguments (JSON-friendly) and keeps them in ``net.config``,
so a checkpoint can store ``model_spec(net)`` = ``(name, kwargs)`` and ``build_model(name, kwargs)``
rebuilds the same architecture.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from torch import nn

from .attention import SelfAttention
from .colornet import ColorNet
from .labgan import CNNDiscriminator, ResidualGenerator, ResNet18Discriminator
from .patchgan import PatchDiscriminator
from .regressor import MeanChromaRegressor
from .unet import UnetBlock, UnetGenerator

GENERATORS: dict[str, type[nn.Module]] = {
    "regressor": MeanChromaRegressor,
    "colornet": ColorNet,
    "residual": ResidualGenerator,
    "unet": UnetGenerator,
}
DISCRIMINATORS: dict[str, type[nn.Module]] = {
    "cnn": CNNDiscriminator,
    "resnet18": ResNet18Discriminator,
    "patchgan": PatchDiscriminator,
}
MODELS: dict[str, type[nn.Module]] = {**GENERATORS, **DISCRIMINATORS}

# Models whose source initialises weights with normal(0, 0.02) (pix2pix; the DCGAN-style Lab GAN).
# The faces models and the ResNet-18 keep PyTorch's / torchvision's default initialisation.
SOURCE_INIT = frozenset({"unet", "patchgan", "residual", "cnn"})


def init_weights(net: nn.Module, gain: float = 0.02) -> nn.Module:
    """pix2pix initialisation, in place: conv weights ~ N(0, gain), norm weights ~ N(1, gain),
    their biases 0. Linear layers and SelfAttention's gamma are left as they are."""
    for module in net.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(module.weight, 0.0, gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, (nn.BatchNorm2d, nn.InstanceNorm2d)) and module.weight is not None:
            nn.init.normal_(module.weight, 1.0, gain)
            nn.init.zeros_(module.bias)
    return net


@contextmanager
def batch_statistics(net: nn.Module) -> Iterator[None]:
    """Inside this block, BatchNorm layers normalise with the statistics of the batch at hand.

    This is the pix2pix paper's test-time protocol (with batch size 1 it amounts to instance
    normalisation): a U-Net whose bottleneck is 1x1 sees too few values per channel for its
    running averages to describe a single test image. The running averages are left untouched.
    """
    layers = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.training, m.momentum, m.num_batches_tracked.clone()) for m in layers]
    for m in layers:
        m.train()
        m.momentum = 0.0  # running = (1 - 0) * running + 0 * batch: unchanged
    try:
        yield
    finally:
        for m, (training, momentum, tracked) in zip(layers, saved, strict=True):
            m.train(training)
            m.momentum = momentum
            m.num_batches_tracked.copy_(tracked)


def input_multiple(net: nn.Module) -> int | None:
    """What a fully convolutional generator needs H and W to be multiples of, so that it can run
    at a photo's own aspect ratio; None for one that takes a single fixed size (the regressor
    ends in a linear layer) or that colorlib does not know."""
    if isinstance(net, ColorNet):
        return 2**net.depth
    if isinstance(net, UnetGenerator):
        return 2**net.n_down
    if isinstance(net, ResidualGenerator):
        return 4  # two stride-2 convolutions
    return None


def count_parameters(net: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with requires_grad)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


def build_model(name: str, kwargs: Mapping[str, Any] | None = None) -> nn.Module:
    """Instantiate ``MODELS[name](**kwargs)`` with default (PyTorch) initialisation."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    try:
        return MODELS[name](**dict(kwargs or {}))
    except TypeError as err:
        raise TypeError(
            f"build_model({name!r}): bad arguments {dict(kwargs or {})}: {err}"
        ) from err


def model_spec(net: nn.Module) -> tuple[str, dict[str, Any]]:
    """The ``(name, kwargs)`` pair that ``build_model`` turns back into ``net``'s architecture."""
    for name, cls in MODELS.items():
        if type(net) is cls:
            return name, dict(net.config)
    raise ValueError(f"{type(net).__name__} is not a registered model ({', '.join(MODELS)})")


def _define(
    table: Mapping[str, type[nn.Module]], kind: str, name: str, init: bool | None, kwargs: dict
) -> nn.Module:
    if name not in table:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(table)}")
    net = build_model(name, kwargs)
    use_init = name in SOURCE_INIT if init is None else init
    if use_init:
        init_weights(net)
    return net


def define_G(name: str, init: bool | None = None, **kwargs: Any) -> nn.Module:
    """Build a generator (or the regressor) by name; ``init`` None = the source's initialisation
    (normal(0, 0.02) for the GANs, PyTorch default otherwise), True/False to force it."""
    return _define(GENERATORS, "generator", name, init, kwargs)


def define_D(name: str, init: bool | None = None, **kwargs: Any) -> nn.Module:
    """Build a discriminator by name; ``init`` as in ``define_G``."""
    return _define(DISCRIMINATORS, "discriminator", name, init, kwargs)


__all__ = [
    "CNNDiscriminator",
    "ColorNet",
    "DISCRIMINATORS",
    "GENERATORS",
    "MODELS",
    "MeanChromaRegressor",
    "PatchDiscriminator",
    "ResNet18Discriminator",
    "ResidualGenerator",
    "SOURCE_INIT",
    "SelfAttention",
    "UnetBlock",
    "UnetGenerator",
    "batch_statistics",
    "build_model",
    "count_parameters",
    "define_D",
    "define_G",
    "init_weights",
    "input_multiple",
    "model_spec",
]
