"""Training losses: adversarial (vanilla / least squares, optional noisy labels) and perceptual.

``GANLoss`` covers the three sources' adversarial terms: the pix2pix tutorial's vanilla GAN on
PatchGAN logits, the Flickr1024 RGB Pix2Pix's least-squares GAN, and the Lab GAN's binary
cross-entropy with labels drawn from [0.9, 1] (real) and [0, 0.1] (fake) at each step. The
vanilla loss always takes logits (``BCEWithLogitsLoss``): the Lab GAN source's sigmoid followed
by ``BCELoss`` is the same function, but CUDA autocast refuses ``binary_cross_entropy`` on
probabilities and the log of a saturated sigmoid loses precision; a probability is for display.
``PerceptualLoss`` is the content term of the self-attention cGAN source: L1 between VGG16
feature maps of the prediction and the target, on ImageNet weights whenever they can be had.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch
import torchvision
from torch import Tensor, nn
from torch.nn import functional as F

from colorlib import pretrained as pretrained_weights

GAN_MODES = ("vanilla", "lsgan")


class GANLoss(nn.Module):
    """Adversarial loss that builds its own target tensor shaped like the prediction.

    Args:
        mode: "vanilla" (binary cross-entropy) or "lsgan" (mean squared error).
        real_label, fake_label: target values when ``smoothing`` is None.
        smoothing: ``((real_lo, real_hi), (fake_lo, fake_hi))``: each call draws the real (or
            fake) label uniformly from that range, one value for the whole batch as in the Lab
            GAN source, e.g. ``((0.9, 1.0), (0.0, 0.1))``. Uses torch's global RNG.

    The discriminator's output is a logit (vanilla) or a score (lsgan), never a probability.
    """

    def __init__(
        self,
        mode: str = "vanilla",
        real_label: float = 1.0,
        fake_label: float = 0.0,
        smoothing: Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        if mode not in GAN_MODES:
            raise ValueError(f"GANLoss: mode must be one of {GAN_MODES}, got {mode!r}")
        if smoothing is not None:
            ranges = [tuple(float(v) for v in pair) for pair in smoothing]
            if len(ranges) != 2 or any(len(r) != 2 or r[0] > r[1] for r in ranges):
                raise ValueError(
                    "GANLoss: smoothing must be ((real_lo, real_hi), (fake_lo, fake_hi)) with "
                    f"lo <= hi, got {smoothing}"
                )
            smoothing = tuple(ranges)
        self.mode = mode
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)
        self.smoothing = smoothing
        self.criterion: nn.Module = nn.MSELoss() if mode == "lsgan" else nn.BCEWithLogitsLoss()

    def label(self, target_is_real: bool) -> float:
        """The target value for this call (drawn afresh when smoothing is on)."""
        if self.smoothing is None:
            return self.real_label if target_is_real else self.fake_label
        low, high = self.smoothing[0] if target_is_real else self.smoothing[1]
        return low + (high - low) * float(torch.rand(()))

    def target(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        """A tensor like ``prediction`` filled with the (possibly noisy) label."""
        return torch.full_like(prediction, self.label(target_is_real))

    def loss(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        """Loss of the discriminator output against an all-real or all-fake target."""
        return self.criterion(prediction, self.target(prediction, target_is_real))

    def forward(self, prediction: Tensor, target_is_real: bool) -> Tensor:
        return self.loss(prediction, target_is_real)


def set_requires_grad(nets: nn.Module | Iterable[nn.Module | None] | None, flag: bool) -> None:
    """Switch gradients of every parameter of one or several networks (None entries skipped),
    e.g. to freeze the discriminator while the generator steps."""
    if nets is None:
        return
    for net in [nets] if isinstance(nets, nn.Module) else nets:
        if net is not None:
            for param in net.parameters():
                param.requires_grad_(flag)


# Index of each ReLU output in torchvision's vgg16().features.
VGG16_LAYERS = {
    "relu1_1": 1,
    "relu1_2": 3,
    "relu2_1": 6,
    "relu2_2": 8,
    "relu3_1": 11,
    "relu3_2": 13,
    "relu3_3": 15,
    "relu4_1": 18,
    "relu4_2": 20,
    "relu4_3": 22,
    "relu5_1": 25,
    "relu5_2": 27,
    "relu5_3": 29,
}
# torchvision's ImageNet VGG16 (its weights API gives the URL; tests replace it with a stub).
VGG16_WEIGHTS = torchvision.models.VGG16_Weights.IMAGENET1K_V1
VGG16_FILE = "vgg16-397923af.pth"  # its file name in torch's hub cache
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _features_state(path: Path, needed: Iterable[str]) -> dict[str, Tensor]:
    """The VGG16 ``features`` tensors from a full vgg16 state_dict or a features-only one."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise ValueError(f"PerceptualLoss: {path} does not hold a state_dict")
    if any(key.startswith("features.") for key in state):
        state = {k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")}
    needed = list(needed)
    missing = [key for key in needed if key not in state]
    if missing:
        raise ValueError(f"PerceptualLoss: {path} is not a VGG16 state_dict (missing {missing})")
    return {key: state[key] for key in needed}


class PerceptualLoss(nn.Module):
    """Sum over ``layers`` of the L1 distance between VGG16 feature maps.

    Inputs are RGB in [0, 1], (B, 3, H, W); they are normalised with the ImageNet mean/std. The
    VGG is truncated after the deepest requested layer, frozen and kept in eval mode.

    Weights: ``weights`` (a file holding a full vgg16 state_dict or its ``features`` part) if
    given; else torchvision's ImageNet VGG16 from torch's cache, downloaded into it first where
    there is network (`colorlib.pretrained`). ``pretrained`` None takes them when they can be
    had and otherwise runs on random features, which ``status`` says plainly (``pretrained``
    the attribute is then False); True makes their absence an error; False never looks.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        layers: Sequence[str] = ("relu1_2", "relu2_2", "relu3_3"),
        pretrained: bool | None = None,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in VGG16_LAYERS]
        if not layers or unknown:
            raise ValueError(
                f"PerceptualLoss: unknown layers {unknown or layers}; known: {list(VGG16_LAYERS)}"
            )
        self.layers = tuple(layers)
        self._indices = sorted({VGG16_LAYERS[name] for name in layers})
        # Build on the meta device: materialising the full VGG16 (its 100M-parameter classifier)
        # only to discard it costs seconds.
        with torch.device("meta"):
            vgg = torchvision.models.vgg16(weights=None)
        features = vgg.features[: self._indices[-1] + 1].to_empty(device="cpu")
        for module in features:
            if isinstance(module, nn.Conv2d):  # torchvision's own VGG initialisation
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.ReLU):
                module.inplace = False  # the ReLU outputs are kept as features

        if weights is not None:
            path: Path | None = Path(weights)
            if not path.is_file():
                raise FileNotFoundError(f"PerceptualLoss: VGG16 weights file {path} not found")
            why = f"VGG16 ImageNet features loaded from {path}."
        elif pretrained is False:
            path, why = None, "pretrained=False"
        else:
            found = pretrained_weights.weights_file(VGG16_WEIGHTS)
            path, why = found.path, found.status
            if path is None and pretrained:
                raise RuntimeError(f"PerceptualLoss: no ImageNet VGG16 weights: {why}")
        if path is None:
            self.pretrained = False
            self.status = (
                f"VGG16 features are random ({why}), so the perceptual term compares untrained "
                "features."
            )
        else:
            state = _features_state(path, features.state_dict().keys())
            try:
                features.load_state_dict(state)
            except RuntimeError as err:
                raise ValueError(f"PerceptualLoss: cannot load {path}: {err}") from err
            self.pretrained = True
            self.status = why if weights is not None else f"VGG16 {why}."

        features.requires_grad_(False)
        self.features = features.eval()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def train(self, mode: bool = True) -> PerceptualLoss:
        super().train(mode)
        self.features.eval()  # frozen feature extractor, whatever its parent's mode
        return self

    def feature_maps(self, rgb: Tensor) -> list[Tensor]:
        """VGG16 activations at the requested layers, for RGB in [0, 1]."""
        if rgb.dim() != 4 or rgb.shape[1] != 3:
            raise ValueError(f"PerceptualLoss expects RGB (B, 3, H, W), got {tuple(rgb.shape)}")
        x = (rgb - self.mean) / self.std
        wanted = set(self._indices)
        out: list[Tensor] = []
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                out.append(x)
        return out

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        pred_maps = self.feature_maps(prediction)
        with torch.no_grad():  # the target is ground truth: no gradient needed
            target_maps = self.feature_maps(target)
        total = prediction.new_zeros(())
        for p, t in zip(pred_maps, target_maps, strict=True):
            total = total + F.l1_loss(p, t)
        return total
