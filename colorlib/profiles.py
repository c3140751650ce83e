"""Run profiles: what each notebook trains, and how long, in `smoke`, `cpu` and `gpu`.

- ``smoke``: proves the notebook runs end to end (CI, 2 cores, well under a minute each).
- ``cpu``: real, meaningful results on a 2-core laptop (a few minutes a notebook).
- ``gpu``: the source write-ups' settings. Every gpu value carries its provenance (`Given`): the
  source file that states it, or "ours" with the reason, because most write-ups leave some
  values out (`provenance`, `describe`; ``python -m colorlib settings`` prints them).

A notebook asks for its own settings with ``settings(PROFILE, "colornet", OVERRIDES,
dataset=DATASET)``; it gets a plain dict. OVERRIDES is a dict or, as ``papermill -p OVERRIDES
'{"epochs": 3}'`` passes it, a JSON object string; an override of a name the notebook does not
have is an error, not a silent typo. ``{"dry_run": true}`` keeps every size, width and batch size
and trains one batch for one epoch (CI runs the gpu profile so, on a CPU).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from colorlib.errors import UserError

PROFILES = ("smoke", "cpu", "gpu")

# The five write-ups (files of the course's sources folder) a gpu value may cite.
FACES = "faces-regressor-and-colornet"
FLICKR = "lab-gan-and-pix2pix-flickr1024"
TUTORIAL = "pix2pix-lab-tutorial"
BLOG = "pix2pix-lab-vs-rgb-blog"
SAGAN = "self-attention-cgan"
SOURCES = (FACES, FLICKR, TUTORIAL, BLOG, SAGAN)

# The augmentations a profile may name (keyword arguments of `colorlib.data.Augment`; None: no
# augmentation). "flip-rotate-darken" is `Augment()`, which no profile uses any more: no source
# changes brightness.
AUGMENTATIONS: dict[str, dict[str, Any] | None] = {
    "flip-rotate-darken": {"hflip": True, "vflip": True, "max_rotation_deg": 10.0,
                           "brightness": (0.6, 1.0)},
    "flip-rotate": {"hflip": True, "vflip": True, "max_rotation_deg": 10.0, "brightness": None},
    "hflip": {"hflip": True, "vflip": False, "max_rotation_deg": 0.0, "brightness": None},
    "none": None,
}  # fmt: skip

# What a dry run changes (where the notebook has the setting and OVERRIDES leave it alone): one
# batch of one epoch per method, one offline copy, no ablation (its networks are the SA-cGAN's
# and Pix2Pix's, which run); sizes, widths and batch sizes stay. `DRY_RUN_IMAGES` caps the
# validation and test images (`colorlib.workflow.start`).
DRY_RUN = {"epochs": 1, "samples_per_epoch": 1, "snapshot_every": 1, "offline_copies": 1,
           "ablation": False, "epochs_colornet": 1, "samples_per_epoch_colornet": 1}  # fmt: skip
DRY_RUN_IMAGES = 2


@dataclass(frozen=True)
class Given:
    """A gpu setting and where it comes from.

    `source` is one of `SOURCES`, or None for our own choice; `note` says where the source
    states it, or why we chose it; `evidence` is a few words of the source that state the value
    (a test finds them in the source file).
    """

    value: Any
    source: str | None
    note: str
    evidence: str = ""

    @property
    def origin(self) -> str:
        return self.source or "ours"

    @property
    def why(self) -> str:
        """The note, then the source's own words in quotes."""
        quoted = f'"{self.evidence}"' if self.evidence else ""
        return f"{self.note} ({quoted})" if self.note and quoted else self.note or quoted


def src(value: Any, source: str, evidence: str, note: str = "") -> Given:
    return Given(value, source, note, evidence)


def ours(value: Any, why: str) -> Given:
    return Given(value, None, why)


_SQUARE = "the sources squash each photo to a square; we take its largest square (at a random "
_SQUARE += "position), so nothing is distorted"
_FACE_SIZE = "the faces are 128x128: trained at their own size, not upsampled to 256"
_FACE_128 = "512 * 2 * 2"  # the regressor's head after six stride-2 convolutions: 128-px input
_TUT_BASE = "the SA-cGAN source gives none: the tutorial it builds on"
_LAYERS = ["relu1_2", "relu2_2", "relu3_3"]

# Shared by every notebook: the held-out fraction (None: the dataset's own, e.g. 5 of 50 face
# subjects, 8 of 24 Kodak images), the dry-run switch and where the decoded images live.
_DATA: dict[str, Any] = {"test_fraction": None, "dry_run": False, "store": False}
# fmt: off
_DATA_GPU = {
    "test_fraction": ours(None, "the dataset's own held-out part: faces 5 of 50 subjects (the "
                          "source's 9:1, split by person here), Kodak24 8 of 24, a folder 20%"),
    "dry_run": ours(False, "a real run; true trains one batch per method, sizes unchanged"),
    "store": ours(False, "images decoded into memory; true keeps them on disk at the training "
                  "size (colorlib.data.store), for sets larger than memory"),
}

_FLIP_ROTATE = src("flip-rotate", FACES, "horizontal and vertical flips",
                   "flips both ways, random crops and rotations (angle not given: ours 10 "
                   "degrees); no darkening")
_CROPS = ours(0.5, "the faces source crops at random without saying how much; half to all of "
              "the side")
# smoke and cpu flip and rotate as each notebook's source does (the gpu values below), and crop
# at random from half to all of the short side: with 16 Kodak photographs, crops are most of
# what a small run can vary. Brightness changes ("flip-rotate-darken") are in no source.
_CPU_AUG = {"augment": "flip-rotate", "crop_min_frac": 0.5}  # the faces source
_CPU_AUG_FLICKR = {"augment": "none", "crop_min_frac": 0.5}  # Flickr1024: resized only
_CPU_AUG_TUTORIAL = {"augment": "hflip", "crop_min_frac": 0.5}  # the Pix2Pix tutorial

# The Pix2Pix tutorial's training settings, for notebook 05 and its models in notebook 07.
_TUTORIAL_PIX2PIX = {
    "samples_per_epoch": src("1x", TUTORIAL, "for data in tqdm(train_dl)",
                             "an epoch is one pass over the training images"),
    "ngf": src(64, TUTORIAL, "num_filters=64"),
    "ndf": src(64, TUTORIAL, "num_filters=64"),
    "lr": src(2e-4, TUTORIAL, "lr_G=2e-4"),
    "beta1": src(0.5, TUTORIAL, "beta1=0.5"),
    "lambda_l1": src(100.0, TUTORIAL, "lambda_L1=100."),
}

_NOTEBOOKS: dict[str, dict[str, dict[str, Any]]] = {
    "augmentation": {
        "smoke": {"size": 64, "offline_copies": 2, "examples": 4, **_CPU_AUG},
        "cpu": {"size": 128, "offline_copies": 10, "examples": 6, **_CPU_AUG},
        "gpu": {
            "size": src(128, FACES, _FACE_128, "the course's 128x128 faces"),
            "offline_copies": src(10, FACES, "6750 images", "675 faces augmented to 6750"),
            "examples": ours(6, "how many images the figures show"),
            "augment": _FLIP_ROTATE, "crop_min_frac": _CROPS,
        },
    },
    "regressor": {
        "smoke": {"size": 64, "epochs": 1, "batch_size": 8, "samples_per_epoch": 16,
                  "lr": 1e-4, "weight_decay": 1e-5, **_CPU_AUG},
        "cpu": {"size": 128, "epochs": 20, "batch_size": 16, "samples_per_epoch": 320,
                "lr": 1e-4, "weight_decay": 1e-5, **_CPU_AUG},
        "gpu": {
            "size": src(128, FACES, _FACE_128, "six stride-2 convolutions to 2x2 from 128 px"),
            "epochs": src(200, FACES, "Epoch 200"),
            "batch_size": ours(32, "the source gives none; 32 as the pix2pix tutorial"),
            "samples_per_epoch": src("10x", FACES, "6750 images",
                                     "each epoch sees 10 crops per training image (675 -> 6750)"),
            "lr": src(1e-4, FACES, "Learning rate 0.0001"),
            "weight_decay": src(1e-5, FACES, "Weight decay 1e-5"),
            "augment": _FLIP_ROTATE, "crop_min_frac": _CROPS,
        },
    },
    "colornet": {
        "smoke": {"size": 32, "epochs": 2, "patience": 5, "batch_size": 8, "samples_per_epoch": 16,
                  "lr": 0.01, "experiments": False, **_CPU_AUG},
        "cpu": {"size": 128, "epochs": 20, "patience": 5, "batch_size": 16,
                "samples_per_epoch": 160, "lr": 0.01, "experiments": True, **_CPU_AUG},
        "gpu": {
            "size": src(128, FACES, _FACE_128, "trained on the course's 128x128 faces"),
            "epochs": src(20, FACES, "maximum of 20 epochs", "at most; early stopping ends sooner"),
            "patience": src(5, FACES, "five consecutive epochs", "no better validation loss in 5"),
            "batch_size": ours(32, "the source gives none; 32 as the pix2pix tutorial"),
            "samples_per_epoch": src("10x", FACES, "6750 images",
                                     "each epoch sees 10 crops per training image (675 -> 6750)"),
            "lr": src(0.01, FACES, "learning rate of 0.01"),
            "experiments": src(True, FACES, "three different output layer activation",
                               "its activation and width experiments"),
            "augment": _FLIP_ROTATE, "crop_min_frac": _CROPS,
        },
    },
    "labgan": {
        "smoke": {"size": 32, "epochs": 1, "batch_size": 4, "samples_per_epoch": 8, "lr": 1e-4,
                  "beta1": 0.5, "lambda_mse": 1000.0, "n_blocks": 5, "ndf": 8, "g_every": 1,
                  "snapshot_every": 1, **_CPU_AUG_FLICKR},
        "cpu": {"size": 64, "epochs": 10, "batch_size": 16, "samples_per_epoch": 160, "lr": 1e-4,
                "beta1": 0.5, "lambda_mse": 1000.0, "n_blocks": 5, "ndf": 32, "g_every": 1,
                "snapshot_every": 2, **_CPU_AUG_FLICKR},
        "gpu": {
            "size": src(256, FLICKR, "(256, 256)", "photos resized to 256x256"),
            "epochs": src(100, FLICKR, "100-300", "the source trains 100-300; we take 100"),
            "batch_size": src(16, FLICKR, "2-32", "the source gives 2-32; we take 16"),
            "samples_per_epoch": src("1x", FLICKR, "enumerate(train_dataloader)",
                                     "an epoch is one pass over the training images"),
            "lr": src(1e-4, FLICKR, "learning rate: 0.0001"),
            "beta1": src(0.5, FLICKR, "beta1(hyperparameter for Adam optimizers):0.5"),
            "lambda_mse": ours(1000.0, "the source weights its MSE by a pixel_loss_weights it "
                               "never states; 1000 makes the MSE of a*b* in [-1, 1] (about 0.01 "
                               "at first) outweigh the adversarial term about tenfold"),
            "n_blocks": src(5, FLICKR, "(40, 40, 40, 40)",
                            "its 40-px reflection padding is what 5 blocks shave off"),
            "ndf": src(64, FLICKR, "ndf(size of feature maps in discriminator): 64"),
            "g_every": ours(1, "the source's loop has a g_every without a value; 1: G every step"),
            "snapshot_every": ours(10, "how often the fixed validation images are colorized"),
            "augment": src("none", FLICKR, "resize the image to (256, 256)",
                           "resized only: no augmentation"),
            "crop_min_frac": ours(1.0, _SQUARE),
        },
    },
    "pix2pix": {
        "smoke": {"size": 32, "epochs": 1, "batch_size": 4, "samples_per_epoch": 8, "ngf": 8,
                  "ndf": 8, "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0, "snapshot_every": 1,
                  **_CPU_AUG_TUTORIAL, "lr_rgb": 2e-4, "batch_size_rgb": 4,
                  "augment_rgb": "none"},
        "cpu": {"size": 64, "epochs": 25, "batch_size": 16, "samples_per_epoch": 256, "ngf": 32,
                "ndf": 32, "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0, "snapshot_every": 5,
                **_CPU_AUG_TUTORIAL, "lr_rgb": 2e-4, "batch_size_rgb": 16,
                "augment_rgb": "none"},
        "gpu": {
            "size": src(256, TUTORIAL, "HEIGHT = 256"),
            "epochs": src(100, FLICKR, "epochs(number of training epochs): 100",
                          "its Pix2Pix trains 100 (the tutorial's listing runs 5, as a demo)"),
            "batch_size": src(32, TUTORIAL, "BATCH_SIZE = 32"),
            **_TUTORIAL_PIX2PIX,
            "snapshot_every": ours(10, "how often the fixed validation images are colorized"),
            "augment": src("hflip", TUTORIAL, "RandomHorizontalFlip", "horizontal flips only"),
            "crop_min_frac": ours(1.0, _SQUARE),
            "lr_rgb": src(5e-4, FLICKR, "learning rate: 0.0005", "its RGB Pix2Pix"),
            "batch_size_rgb": src(16, FLICKR, "batch size(batch size used in training): 16",
                                  "its RGB Pix2Pix"),
            "augment_rgb": src("none", FLICKR, "transformed both of them into tensors",
                               "its RGB Pix2Pix converts and trains: no augmentation"),
        },
    },
    "sagan": {
        "smoke": {"size": 32, "epochs": 1, "batch_size": 4, "samples_per_epoch": 8, "ngf": 8,
                  "ndf": 8, "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0,
                  "lambda_perceptual": 10.0, "perceptual_layers": _LAYERS, "ablation": False,
                  "snapshot_every": 1, **_CPU_AUG_TUTORIAL},
        "cpu": {"size": 64, "epochs": 6, "batch_size": 16, "samples_per_epoch": 192, "ngf": 32,
                "ndf": 32, "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0,
                "lambda_perceptual": 10.0, "perceptual_layers": _LAYERS, "ablation": True,
                "snapshot_every": 2, **_CPU_AUG_TUTORIAL},
        "gpu": {
            "size": src(256, TUTORIAL, "HEIGHT = 256", _TUT_BASE),
            "epochs": ours(100, "the source's --epoch has no stated default; 100 as the "
                           "Flickr1024 Pix2Pix"),
            "batch_size": src(32, TUTORIAL, "BATCH_SIZE = 32", _TUT_BASE),
            "samples_per_epoch": src("1x", TUTORIAL, "for data in tqdm(train_dl)", _TUT_BASE),
            "ngf": src(64, TUTORIAL, "num_filters=64", _TUT_BASE),
            "ndf": src(64, TUTORIAL, "num_filters=64", _TUT_BASE),
            "lr": src(2e-4, TUTORIAL, "lr_G=2e-4", _TUT_BASE),
            "beta1": src(0.5, TUTORIAL, "beta1=0.5", _TUT_BASE),
            "lambda_l1": src(100.0, TUTORIAL, "lambda_L1=100.",
                             "the source's --lambdaL1 has no stated default; its tutorial's 100"),
            "lambda_perceptual": ours(10.0, "the source's --lambdaPerceptual has no stated "
                                      "default; a tenth of the L1 weight keeps L1 the main term"),
            "perceptual_layers": ours(_LAYERS, "the source names neither network nor layers; "
                                      "VGG16's first three blocks compare edges and textures"),
            "ablation": ours(True, "the source has none; shows what attention and the "
                             "perceptual term each add"),
            "snapshot_every": ours(10, "how often the fixed validation images are colorized"),
            "augment": src("hflip", TUTORIAL, "RandomHorizontalFlip", _TUT_BASE),
            "crop_min_frac": ours(1.0, _SQUARE),
        },
    },
    # Notebook 07: ColorNet (03's settings), the L1-only U-Net and Pix2Pix Lab (05's) trained on
    # the faces and on BSDS500 alike, then tested on both and on Kodak24.
    "dataset_effect": {
        "smoke": {"size": 32, "train_images": 16, "test_images": 4, "batch_size": 8,
                  "epochs_colornet": 2, "samples_per_epoch_colornet": 16, "patience": 5,
                  "lr_colornet": 0.01, "epochs": 1, "samples_per_epoch": 16, "ngf": 8, "ndf": 8,
                  "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0, **_CPU_AUG_TUTORIAL},
        "cpu": {"size": 128, "train_images": 200, "test_images": None, "batch_size": 16,
                "epochs_colornet": 20, "samples_per_epoch_colornet": 160, "patience": 5,
                "lr_colornet": 0.01, "epochs": 8, "samples_per_epoch": 128, "ngf": 32, "ndf": 32,
                "lr": 2e-4, "beta1": 0.5, "lambda_l1": 100.0, **_CPU_AUG_TUTORIAL},
        "gpu": {
            "size": ours(128, _FACE_SIZE + "; every model and set trains at it, so the models "
                         "compare, and the scenes are cropped and resized to it"),
            "train_images": src(200, BLOG, "keep the size of the training dataset similar",
                                "both sets train on 200 images, BSDS500's training split: the "
                                "faces' 675 are thinned evenly to 200"),
            "test_images": ours(None, "every test image: the faces' 45, BSDS500's 200 and "
                                "all 24 of Kodak24, which no model trains on"),
            "batch_size": src(32, TUTORIAL, "BATCH_SIZE = 32"),
            "epochs_colornet": src(20, FACES, "maximum of 20 epochs",
                                   "at most; early stopping ends sooner"),
            "samples_per_epoch_colornet": src("10x", FACES, "6750 images",
                                              "10 crops per training image, as 675 -> 6750"),
            "patience": src(5, FACES, "five consecutive epochs",
                            "ColorNet stops after 5 epochs without a better validation loss"),
            "lr_colornet": src(0.01, FACES, "learning rate of 0.01"),
            "epochs": src(100, FLICKR, "epochs(number of training epochs): 100",
                          "the U-Net and Pix2Pix, as notebook 05"),
            **_TUTORIAL_PIX2PIX,
            "augment": src("hflip", TUTORIAL, "RandomHorizontalFlip",
                           "horizontal flips only, for all three models: one augmentation, so "
                           "only the data differ"),
            "crop_min_frac": ours(1.0, _SQUARE),
        },
    },
}
# fmt: on

# gpu values that depend on the dataset: the faces are 128x128, so the GANs train at 128.
_GPU_BY_DATASET: dict[str, dict[str, dict[str, Given]]] = {
    "faces": {nb: {"size": ours(128, _FACE_SIZE)} for nb in ("labgan", "pix2pix", "sagan")},
}

NOTEBOOKS = tuple(_NOTEBOOKS)


_EXAMPLE = """'{"epochs": 3}'"""


def parse_overrides(overrides: Mapping[str, Any] | str | None) -> dict[str, Any]:
    """OVERRIDES as a dict: given as a dict, or as a JSON object string (``papermill -p``).

    None and an empty string mean no overrides. Raises `UserError` naming OVERRIDES for bad JSON,
    JSON that is not an object, or a value of another type.
    """
    if overrides is None:
        return {}
    if isinstance(overrides, Mapping):
        given = dict(overrides)
    elif isinstance(overrides, str):
        if not overrides.strip():
            return {}
        try:
            given = json.loads(overrides)
        except json.JSONDecodeError as err:
            raise UserError(
                f"OVERRIDES is not valid JSON ({err.msg} at character {err.pos}): {overrides!r}; "
                f"give a JSON object such as {_EXAMPLE}"
            ) from None
        if not isinstance(given, dict):
            raise UserError(
                f"OVERRIDES must be a JSON object such as {_EXAMPLE}, got {overrides!r}"
            )
    else:
        raise UserError(
            "OVERRIDES must be a dict or a JSON object string, "
            f"got {type(overrides).__name__} {overrides!r}"
        )
    return given


def _check(profile: str, notebook: str) -> None:
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; choose one of {PROFILES}")
    if notebook not in _NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; known: {NOTEBOOKS}")


def provenance(notebook: str, dataset: str | None = None) -> dict[str, Given]:
    """Every gpu setting of `notebook` (for `dataset`: registry name or folder) with its origin."""
    _check("gpu", notebook)
    by_dataset = _GPU_BY_DATASET.get(str(dataset), {}).get(notebook, {})
    return {**_DATA_GPU, **_NOTEBOOKS[notebook]["gpu"], **by_dataset}


def _base(profile: str, notebook: str, dataset: str | None) -> dict[str, Any]:
    if profile == "gpu":
        return {name: g.value for name, g in provenance(notebook, dataset).items()}
    return {**_DATA, **_NOTEBOOKS[notebook][profile]}


def settings(
    profile: str,
    notebook: str,
    overrides: Mapping[str, Any] | str | None = None,
    /,
    *,
    dataset: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """The settings of `notebook` under `profile` for `dataset`, with overrides applied.

    `overrides` is a dict or a JSON object string (see `parse_overrides`); keyword arguments are
    overrides too. A name the notebook does not have, or a value of the wrong kind, raises
    `UserError` naming OVERRIDES. With ``dry_run`` true, `DRY_RUN` replaces the settings it
    names unless OVERRIDES set them.
    """
    _check(profile, notebook)
    chosen = _base(profile, notebook, dataset)
    given = {**parse_overrides(overrides), **more}
    unknown = [name for name in given if name not in chosen]
    if unknown:
        raise UserError(
            f"OVERRIDES: {', '.join(map(repr, unknown))} "
            f"{'is not a setting' if len(unknown) == 1 else 'are not settings'} of {notebook!r}; "
            f"it has {', '.join(sorted(chosen))}"
        )
    switches = [n for n, v in given.items() if type(chosen[n]) is bool and type(v) is not bool]
    if switches:  # a switch given as "yes" or 1 would be read as whatever its truth is
        raise UserError(f"OVERRIDES: {switches[0]} {given[switches[0]]!r} must be true or false")
    chosen.update(given)
    if chosen["dry_run"]:
        chosen.update({k: v for k, v in DRY_RUN.items() if k in chosen and k not in given})
    for name, value in chosen.items():
        if name.startswith("augment") and value not in AUGMENTATIONS:
            raise UserError(
                f"OVERRIDES: {name} {value!r} is not an augmentation; choose one of "
                f"{', '.join(AUGMENTATIONS)}"
            )
        if name == "samples_per_epoch":
            samples_per_epoch(value, 1)  # a bad value fails here, before any work
    return chosen


def samples_per_epoch(value: int | str, n_train: int) -> int:
    """A ``samples_per_epoch`` setting as a count: an int as it is, "Kx" as K per training image
    (`n_train` images; "1x" is one pass over them, as the GAN sources count an epoch)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        value = repr(value)  # falls through to the error below
    if isinstance(value, int) and value >= 1:
        return value
    match = re.fullmatch(r"([1-9][0-9]*)x", value) if isinstance(value, str) else None
    if match is None:
        raise UserError(
            f"OVERRIDES: samples_per_epoch {value!r} must be a count >= 1 or 'Kx' (K crops per "
            "training image, e.g. '1x')"
        )
    return int(match.group(1)) * n_train


def describe(
    profile: str,
    notebook: str,
    overrides: Mapping[str, Any] | str | None = None,
    *,
    dataset: str | None = None,
) -> list[dict[str, Any]]:
    """One row per setting: its value in this run, the gpu value and where that comes from.

    In the gpu profile "value" and "gpu value" agree unless OVERRIDES (or a dry run) changed it;
    in smoke and cpu the difference is what the profile scales down.
    """
    cfg = settings(profile, notebook, overrides, dataset=dataset)
    given = parse_overrides(overrides)
    rows = []
    for name, g in provenance(notebook, dataset).items():
        rows.append({
            "setting": name, "value": cfg[name], "gpu value": g.value, "from": g.origin,
            "why / where": g.why, "overridden": name in given,
        })  # fmt: skip
    return rows
