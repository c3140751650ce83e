"""Photos unlike any training set, for an out-of-domain check: the sample photos that ship with
our dependencies.

They need no download and are free to show: scikit-image's portrait in a spacesuit, cat, cup of
coffee, rocket on its pad and motorcycle, and matplotlib's portrait of Grace Hopper (six, the
fewest on which a paired comparison can be significant: see `colorlib.stats.MIN_PAIRS`). A
model that learnt colour from sixteen Kodak photographs or from 750 faces meets them
unprepared; scoring them beside gray and the training set's mean colour measures what it learnt
that transfers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


def _photos() -> dict[str, Callable[[], np.ndarray]]:
    from skimage import data as sk  # local: only the out-of-domain check needs it

    return {
        "astronaut": sk.astronaut,
        "chelsea": sk.chelsea,
        "coffee": sk.coffee,
        "rocket": sk.rocket,
        "motorcycle": lambda: sk.stereo_motorcycle()[0],
        "grace_hopper": _grace_hopper,
    }


def _grace_hopper() -> np.ndarray:
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as file:
        return np.asarray(Image.open(file).convert("RGB"))


def sample_photos() -> tuple[list[str], list[torch.Tensor]]:
    """The names and uint8 (3, H, W) images of the bundled colour photos."""
    names, images = [], []
    for name, load in _photos().items():
        names.append(name)
        images.append(torch.from_numpy(np.array(load()[..., :3])).permute(2, 0, 1))
    return names, images
