"""Training steps: what one batch does to the nets, for supervised models and for GANs.

A *step* is a closure ``batch -> {loss name: float}`` that updates its nets; an *evaluator* is an
ignite `Engine` whose metrics "loss" and "ciede2000" are computed on the validation set.
`colorlib.engine.Trainer` runs either kind, and a notebook may write its own step in the same shape.

Mixed precision: float16 autocast with a gradient scaler on CUDA, none elsewhere (a CPU gains
nothing from it and loses accuracy). ``amp`` chooses otherwise: a test forces
``torch.bfloat16`` on the CPU to run every model and loss through the autocast code CUDA takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch
from ignite.engine import Engine
from ignite.exceptions import NotComputableError
from ignite.metrics import Loss, Metric
from torch import nn

from colorlib.conventions import CONVENTIONS, Convention
from colorlib.losses import GANLoss, set_requires_grad
from colorlib.models import batch_statistics

Step = Callable[[Mapping[str, torch.Tensor]], dict[str, float]]
Amp = torch.dtype | str | None
PairFn = Callable[[Mapping[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]]

lab_pair: PairFn = CONVENTIONS["lab"].pair

# The losses `gan_step` reports each step (plus "loss_G_perceptual" when it has a perceptual term).
GAN_LOSSES = ("loss_D", "loss_D_real", "loss_D_fake", "loss_G", "loss_G_GAN", "loss_G_pixel")


def autocast_dtype(device: torch.device | str, amp: Amp = "auto") -> torch.dtype | None:
    """The dtype a step autocasts to on `device`, None for none.

    ``amp="auto"``: float16 on CUDA, none elsewhere; a dtype forces it on any device; None
    turns it off.
    """
    if amp == "auto":
        return torch.float16 if torch.device(device).type == "cuda" else None
    if amp is not None and not isinstance(amp, torch.dtype):
        raise ValueError(f"amp must be 'auto', None or a torch dtype, got {amp!r}")
    return amp


def _precision(device: torch.device, amp: Amp):
    """(autocast context factory, gradient scaler) for `device` and `amp`."""
    dtype = autocast_dtype(device, amp)

    def autocast() -> torch.autocast:
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    # float16 underflows small gradients without loss scaling; bfloat16 has float32's range.
    return autocast, torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def supervised_step(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    pair: PairFn = lab_pair,
    device: torch.device | str = "cpu",
    amp: Amp = "auto",
) -> Step:
    """One optimisation step of `model` on `pair(batch)`; returns {"loss": value}.

    `amp`: see `autocast_dtype`.
    """
    device = torch.device(device)
    autocast, scaler = _precision(device, amp)

    def step(batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        model.train()
        x, y = (t.to(device) for t in pair(batch))
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = loss_fn(model(x), y)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return {"loss": loss.item()}

    return step


class ColourError(Metric):
    """Mean per-pixel CIEDE2000 between the image a net's output stands for and the true image,
    per image, then averaged over the images: the colour error the report ranks by, cheap
    enough to watch every epoch on the validation crops. Reads "rgb_pred" and "rgb" (B, 3, H, W)
    in [0, 1] from the evaluator's output."""

    required_output_keys = ("rgb_pred", "rgb")  # ignite hands update() these, as a tuple

    def reset(self) -> None:
        self._sum, self._count = 0.0, 0

    def update(self, output: tuple[torch.Tensor, torch.Tensor]) -> None:
        from skimage.color import rgb2lab  # local: only evaluation needs scikit-image

        from colorlib.metrics import ciede2000_lab

        pred, true = (
            x.detach().float().clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy() for x in output
        )
        for p, t in zip(pred, true, strict=True):
            self._sum += float(ciede2000_lab(rgb2lab(p), rgb2lab(t)).mean())
            self._count += 1

    def compute(self) -> float:
        if self._count == 0:
            raise NotComputableError("ColourError needs at least one image")
        return self._sum / self._count


def supervised_evaluator(
    model: nn.Module,
    loss_fn: nn.Module,
    convention: Convention = CONVENTIONS["lab"],
    device: torch.device | str = "cpu",
    per_image_stats: bool = False,
) -> Engine:
    """An ignite evaluator over the validation set with two metrics: "loss" (`loss_fn` on the
    net's output and target, averaged) and "ciede2000" (`ColourError` of the image the output
    stands for, by `convention.rgb`: the RGB model's own image, a Lab model's a*b* with the
    true L).

    With `per_image_stats`, each image is run alone with BatchNorm on its own statistics, as
    such a model is used at test time (see `colorlib.models.batch_statistics`).
    """
    device = torch.device(device)

    def infer(engine: Engine, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        model.eval()
        with torch.no_grad():
            x, y = (t.to(device) for t in convention.pair(batch))
            if per_image_stats:
                with batch_statistics(model):
                    out = torch.cat([model(x[i : i + 1]) for i in range(len(x))])
            else:
                out = model(x)
            rgb = convention.rgb(out.float(), batch["L"].to(device))
        return {"y_pred": out, "y": y, "rgb_pred": rgb, "rgb": batch["rgb"]}

    evaluator = Engine(infer)
    Loss(loss_fn, output_transform=lambda o: (o["y_pred"], o["y"])).attach(evaluator, "loss")
    ColourError().attach(evaluator, "ciede2000")
    return evaluator


def gan_step(
    G: nn.Module,
    D: nn.Module,
    opt_G: torch.optim.Optimizer,
    opt_D: torch.optim.Optimizer,
    gan_loss: GANLoss,
    *,
    pair: PairFn = lab_pair,
    pixel_loss: nn.Module | None = None,
    lambda_pixel: float = 100.0,
    perceptual: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    lambda_perceptual: float = 10.0,
    g_every: int = 1,
    device: torch.device | str = "cpu",
    amp: Amp = "auto",
) -> Step:
    """One conditional-GAN step: update D on real and fake pairs, then G.

    D always sees the condition and the colour together, ``D(cat(x, y))``. G minimises the
    adversarial loss plus ``lambda_pixel * pixel_loss(fake, real)`` (L1 in pix2pix, MSE in the
    Lab GAN) plus, when given, ``lambda_perceptual * perceptual(x, fake, real)``. With
    ``g_every=k`` G is updated on every k-th step only (the Lab GAN source's option); its losses
    are still computed and reported every step. `amp`: see `autocast_dtype`.

    Under several processes G and D come wrapped in DistributedDataParallel
    (`colorlib.distributed.auto_model`): D's update averages D's gradients over the ranks, G's
    averages G's. G's update calls D's own module, not the wrapper: D is frozen there, so the
    wrapper has nothing to reduce (and would only broadcast D's buffers again).
    """
    device = torch.device(device)
    pixel_loss = pixel_loss if pixel_loss is not None else nn.L1Loss()
    autocast, scaler_D = _precision(device, amp)
    scaler_G = _precision(device, amp)[1]
    count = {"steps": 0}

    frozen_D = D.module if isinstance(D, nn.parallel.DistributedDataParallel) else D

    def step(batch: Mapping[str, torch.Tensor]) -> dict[str, float]:
        G.train()
        D.train()
        x, real = (t.to(device) for t in pair(batch))
        update_G = count["steps"] % g_every == 0
        # A step that leaves G alone keeps no graph through G: less memory, and a wrapped G is
        # not left expecting a backward pass.
        with autocast(), torch.set_grad_enabled(update_G):
            fake = G(x)

        set_requires_grad(D, True)
        opt_D.zero_grad(set_to_none=True)
        with autocast():
            loss_D_real = gan_loss(D(torch.cat([x, real], 1)), True)
            loss_D_fake = gan_loss(D(torch.cat([x, fake.detach()], 1)), False)
            loss_D = (loss_D_real + loss_D_fake) / 2
        scaler_D.scale(loss_D).backward()
        scaler_D.step(opt_D)
        scaler_D.update()

        # D's weights are constants for G's update: no gradients wasted on them.
        set_requires_grad(D, False)
        opt_G.zero_grad(set_to_none=True)
        with autocast(), torch.set_grad_enabled(update_G):
            loss_G_GAN = gan_loss(frozen_D(torch.cat([x, fake], 1)), True)
            loss_G_pixel = pixel_loss(fake, real)
            loss_G = loss_G_GAN + lambda_pixel * loss_G_pixel
            out = {}
            if perceptual is not None:
                loss_G_perc = perceptual(x, fake, real)
                loss_G = loss_G + lambda_perceptual * loss_G_perc
                out["loss_G_perceptual"] = loss_G_perc.item()
        if update_G:
            scaler_G.scale(loss_G).backward()
            scaler_G.step(opt_G)
            scaler_G.update()
        set_requires_grad(D, True)
        count["steps"] += 1
        return {
            "loss_D": loss_D.item(),
            "loss_D_real": loss_D_real.item(),
            "loss_D_fake": loss_D_fake.item(),
            "loss_G": loss_G.item(),
            "loss_G_GAN": loss_G_GAN.item(),
            "loss_G_pixel": loss_G_pixel.item(),
            **out,
        }

    return step
