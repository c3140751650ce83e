"""What a run is and costs: every setting with its provenance (`settings_text`), and the
optimiser steps, FLOPs per step and an estimate of the GPU time (`estimate`, `cost_text`);
``python -m colorlib settings`` and ``python -m colorlib cost`` print them.

`estimate(profile, dataset)` builds every network each notebook trains, at the profile's batch
and image size, on the meta device (shapes only: no memory, no arithmetic), and counts one
training step as the step functions of `colorlib.steps` make it (the forward and backward passes
of G and D, the perceptual network where there is one) with
``torch.utils.flop_counter.FlopCounterMode``. It counts convolutions and matrix products
(2 FLOPs a multiply-add); normalisation, activations and the optimiser, a few per cent more,
are left out. Steps are epochs x ceil(samples per epoch / batch size): an upper bound for
ColorNet, whose early stopping usually ends sooner.

The minutes divide the FLOPs by a sustained throughput assumed for each GPU in `GPUS` (a quarter of
its mixed-precision peak, typical of convolutional nets this size). They are an estimate: data
loading, validation, snapshots and scoring come on top, and a real GPU may do better or worse.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from colorlib import conventions, data, profiles
from colorlib.errors import UserError
from colorlib.losses import PerceptualLoss
from colorlib.models import define_D, define_G

# Sustained TFLOP/s assumed under mixed precision: a quarter of the tensor-core peak (A100 312,
# T4 65 for float16), which is what U-Nets with BatchNorm at batch 16-32 tend to reach.
GPUS = {"A100": 312 / 4, "T4": 65 / 4}
NOTEBOOK_OF = {
    "augmentation": "01_augmentation_and_lab",
    "regressor": "02_mean_chroma_regressor",
    "colornet": "03_colornet_early_stopping",
    "labgan": "04_lab_gan",
    "pix2pix": "05_pix2pix",
    "sagan": "06_self_attention_cgan",
    "dataset_effect": "07_dataset_effect",
}


@dataclass(frozen=True)
class Method:
    """One network a notebook trains: how to build it and what one step of it computes."""

    name: str
    build: Callable[[], tuple[nn.Module, nn.Module | None]]  # (G, D or None), on the meta device
    channels: tuple[int, int]  # G's input and output channels
    batch_size: int
    samples: int | str
    perceptual: bool = False
    epochs: int | None = None  # None: the notebook's "epochs" setting


@dataclass(frozen=True)
class Cost:
    notebook: str
    method: str
    batch_size: int
    size: int
    steps: int
    flops_per_step: float

    @property
    def flops(self) -> float:
        return self.steps * self.flops_per_step


def methods(notebook: str, cfg: dict[str, Any]) -> list[Method]:
    """The networks `notebook` trains under settings `cfg`, as the notebook builds them."""
    size, bs, samples = cfg["size"], cfg.get("batch_size", 0), cfg.get("samples_per_epoch", "1x")
    if notebook == "regressor":
        return [Method("regressor", lambda: (define_G("regressor", in_size=size), None),
                       (1, 2), bs, samples)]  # fmt: skip
    if notebook == "colornet":
        base = {"widths": [8, 32, 128], "activation": "sigmoid"}
        variants = {"colornet": {}}
        if cfg["experiments"]:
            variants.update({"colornet-relu": {"activation": "relu"},
                             "colornet-tanh": {"activation": "tanh"},
                             "colornet-w256": {"widths": [8, 32, 256]},
                             "colornet-w512": {"widths": [8, 32, 512]},
                             "colornet-deep5": {"widths": [8, 16, 32, 64, 128]}})  # fmt: skip
        return [
            Method(name, lambda kw=kw: (define_G("colornet", **{**base, **kw}), None), (1, 2),
                   bs, samples)
            for name, kw in variants.items()
        ]  # fmt: skip
    if notebook == "labgan":
        return [Method("lab_gan", lambda: (
            define_G("residual", n_blocks=cfg["n_blocks"]),
            define_D("cnn", in_channels=3, ndf=cfg["ndf"], image_size=size),
        ), (1, 2), bs, samples)]  # fmt: skip
    if notebook == "pix2pix":

        def unet(cin: int, cout: int, norm: str, ndf: int | None) -> Callable:
            return lambda: (
                define_G("unet", in_channels=cin, out_channels=cout, ngf=cfg["ngf"], norm=norm,
                         image_size=size),
                define_D("patchgan", in_channels=cin + cout, ndf=ndf, n_layers=3, norm=norm)
                if ndf else None)  # fmt: skip

        return [
            Method("pix2pix_lab", unet(1, 2, "batch", cfg["ndf"]), (1, 2), bs, samples),
            Method("pix2pix_rgb", unet(3, 3, "instance", cfg["ndf"]), (3, 3),
                   cfg["batch_size_rgb"], samples),
            Method("unet_l1", unet(1, 2, "batch", None), (1, 2), bs, samples),
        ]  # fmt: skip
    if notebook == "sagan":
        side = max(size // 8, 2)  # where notebook 06 places the attention layer

        def sa(attention: bool) -> Callable:
            return lambda: (
                define_G("unet", in_channels=1, out_channels=2, ngf=cfg["ngf"], image_size=size,
                         attention_at=side if attention else None),
                define_D("patchgan", in_channels=3, ndf=cfg["ndf"], n_layers=3))  # fmt: skip

        runs = {"sa_cgan": (True, True)}
        if cfg["ablation"]:
            runs.update({"ablation-plain": (False, False), "ablation-perceptual": (False, True),
                         "ablation-attention": (True, False)})  # fmt: skip
        return [Method(name, sa(att), (1, 2), bs, samples, perceptual=perc)
                for name, (att, perc) in runs.items()]  # fmt: skip
    if notebook == "dataset_effect":
        # Each of the three models, once per training set (the faces and BSDS500).
        train = cfg["train_images"]
        count = (lambda s: profiles.samples_per_epoch(s, train)) if train else (lambda s: s)
        unet = {
            "in_channels": 1,
            "out_channels": 2,
            "ngf": cfg["ngf"],
            "norm": "batch",
            "image_size": size,
        }
        patch = {"in_channels": 3, "ndf": cfg["ndf"], "n_layers": 3, "norm": "batch"}
        three = [
            Method("colornet", lambda: (define_G("colornet", widths=[8, 32, 128],
                                                 activation="sigmoid"), None), (1, 2), bs,
                   count(cfg["samples_per_epoch_colornet"]), epochs=cfg["epochs_colornet"]),
            Method("unet_l1", lambda: (define_G("unet", **unet), None), (1, 2), bs,
                   count(samples)),
            Method("pix2pix_lab", lambda: (define_G("unet", **unet), define_D("patchgan", **patch)),
                   (1, 2), bs, count(samples)),
        ]  # fmt: skip
        return [replace(m, name=f"{m.name}_{d}") for d in ("faces", "bsds500") for m in three]
    return []  # the augmentation notebook trains nothing


def step_flops(method: Method, size: int, layers: list[str] | None = None) -> float:
    """FLOPs of one training step of `method` at batch `method.batch_size` and `size`."""
    with torch.device("meta"):
        G, D = method.build()
    cin, cout = method.channels
    x = torch.zeros(method.batch_size, cin, size, size, device="meta")
    real = torch.zeros(method.batch_size, cout, size, size, device="meta")
    perceptual = None
    if method.perceptual:  # its VGG16 layers, on the meta device like the rest
        perceptual = conventions.lab_perceptual(
            PerceptualLoss(layers=layers or ["relu1_2", "relu2_2", "relu3_3"], pretrained=False).to(
                "meta"
            )
        )
    with FlopCounterMode(display=False) as counter:
        fake = G(x)
        if D is None:  # supervised: loss on the output, backward through G
            (fake - fake.detach()).abs().mean().backward()
        else:  # as steps.gan_step: D on real and detached fake, then G through D
            (
                D(torch.cat([x, real], 1)).mean() + D(torch.cat([x, fake.detach()], 1)).mean()
            ).backward()
            loss_G = D(torch.cat([x, fake], 1)).mean() + (fake - real).abs().mean()
            if perceptual is not None:
                loss_G = loss_G + perceptual(x, fake, real)
            loss_G.backward()
    return float(counter.get_total_flops())


def train_images(dataset: str) -> int:
    """How many training images `dataset` has under its default split (loads it once)."""
    images = data.load_images(dataset)
    return len(data.split(images).train)


def render(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    """`rows` as a plain-text table, or a Markdown one."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    with pd.option_context("display.max_colwidth", None, "display.width", 250):
        return frame.to_markdown(
            index=False, tablefmt="pipe" if markdown else "simple", missingval="None"
        )


def settings_text(profile: str, dataset: str, markdown: bool = False) -> str:
    """Every notebook's settings in `profile` for `dataset`, with where the gpu values come from
    (in the gpu profile, the value and its origin; otherwise also the gpu value)."""
    parts = []
    for nb in profiles.NOTEBOOKS:
        keep = ("setting", "value", "from", "why / where")
        rows = [{k: v for k, v in r.items() if k in keep or profile != "gpu" and k != "overridden"}
                for r in profiles.describe(profile, nb, dataset=dataset)]  # fmt: skip
        title = f"{NOTEBOOK_OF[nb]} ({profile}, {Path(dataset).name})"
        parts.append(f"{'### ' if markdown else ''}{title}\n\n{render(rows, markdown)}")
    return "\n\n".join(parts)


def cost_text(
    profile: str, dataset: str, n_train: int | None = None, markdown: bool = False
) -> str:
    """The `table` of `estimate`, and what its numbers mean."""
    costs = estimate(profile, dataset, n_train)
    gpus = ", ".join(f"{name} at {tflops:g} TFLOP/s" for name, tflops in GPUS.items())
    return (
        f"{render(table(costs), markdown)}\n\n{profile} profile on {Path(dataset).name}. FLOPs: "
        "the convolutions and matrix products of one training step at the batch and image size "
        "shown, counted by torch.utils.flop_counter. Minutes: an ESTIMATE, the FLOPs at a "
        f"sustained {gpus} (a quarter of their float16 peaks), without data loading, "
        "validation, scoring and the milliseconds each step costs whatever its size."
    )


def estimate(
    profile: str = "gpu", dataset: str = "kodak24", n_train: int | None = None
) -> list[Cost]:
    """One `Cost` per network each notebook trains in `profile` on `dataset` (`n_train`
    training images; default: the dataset's own split)."""
    n_train = n_train if n_train is not None else train_images(dataset)
    if n_train < 1:
        raise UserError(f"--train-images {n_train}: give a count of at least 1")
    costs = []
    for notebook in profiles.NOTEBOOKS:
        cfg = profiles.settings(profile, notebook, dataset=dataset)
        for m in methods(notebook, cfg):
            per_epoch = math.ceil(profiles.samples_per_epoch(m.samples, n_train) / m.batch_size)
            flops = step_flops(m, cfg["size"], cfg.get("perceptual_layers"))
            epochs = m.epochs or cfg["epochs"]
            costs.append(Cost(NOTEBOOK_OF[notebook], m.name, m.batch_size, cfg["size"],
                              epochs * per_epoch, flops))  # fmt: skip
    return costs


def minutes(flops: float, gpu: str) -> float:
    return flops / (GPUS[gpu] * 1e12) / 60


def table(costs: list[Cost]) -> list[dict[str, Any]]:
    """Rows for printing: one per network, then the total."""
    rows = []
    for c in costs:
        rows.append({
            "notebook": c.notebook, "method": c.method, "batch": c.batch_size, "size": c.size,
            "steps": c.steps, "TFLOP/step": round(c.flops_per_step / 1e12, 3),
            "PFLOP": round(c.flops / 1e15, 2),
            **{f"min {gpu}": round(minutes(c.flops, gpu), 1) for gpu in GPUS},
        })  # fmt: skip
    total = sum(c.flops for c in costs)
    rows.append({
        "notebook": "total", "method": "", "batch": "", "size": "",
        "steps": sum(c.steps for c in costs), "TFLOP/step": "", "PFLOP": round(total / 1e15, 2),
        **{f"min {gpu}": round(minutes(total, gpu), 1) for gpu in GPUS},
    })  # fmt: skip
    return rows
