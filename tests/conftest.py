"""Shared test fixtures: synthetic photos and folders of them, and the local faces and BSDS500
mirrors.

`make_photo` is the one factory for test images: a smooth, colourful, photo-like picture of any
size, in any PIL mode, saved as PNG, JPEG, ... by the path's suffix. Tests that need exact
pixel values (16-bit channel order, EXIF halves) build their arrays themselves.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]


def _mirror(env: str, folder: str) -> Path:
    """A dataset copied from a local folder instead of the web: $`env`, else the shared datasets
    folder beside the repository. Tests that need it skip when it is absent."""
    return Path(os.environ.get(env) or REPO / ".." / "shared" / "datasets" / folder)


# The 750 course faces; the 500 BSDS500 photos in their train/val/test folders (with SHA256SUMS).
FACES_MIRROR = _mirror("COLORLIB_FACES_MIRROR", "face_images")
BSDS500_MIRROR = _mirror("COLORLIB_BSDS500_MIRROR", "bsds500")


def _present(folder: Path, what: str, env: str) -> Path:
    if not folder.is_dir():
        pytest.skip(f"no local {what} mirror at {folder} (set {env})")
    return folder


MakePhoto = Callable[..., Image.Image]


def photo_array(size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """uint8 RGB (h, w, 3) for size (w, h): smooth colour fields (a random 4x4 grid of colours,
    bicubic-upsampled) with a little fine grain, so it is never gray and compresses like a photo."""
    w, h = size
    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((w, h), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (h, w, 3), dtype=np.int16)
    return np.clip(smooth + grain, 0, 255).astype(np.uint8)


def _in_mode(rgb: np.ndarray, mode: str) -> Image.Image:
    image = Image.fromarray(rgb)
    if mode == "RGB":
        return image
    if mode == "P":
        return image.quantize(colors=16)
    if mode in ("I;16", "I"):  # 16-bit gray, the full 0..65535 range
        gray = np.asarray(image.convert("L"), dtype=np.uint16) * 257
        return Image.fromarray(gray if mode == "I;16" else gray.astype(np.int32))
    if mode in ("RGBA", "LA"):  # a gradient alpha
        alpha = np.linspace(40, 255, rgb.shape[1], dtype=np.uint8)[None].repeat(rgb.shape[0], 0)
        rgba = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
        return rgba if mode == "RGBA" else rgba.convert("LA")
    return image.convert(mode)


@pytest.fixture(scope="session")
def make_photo() -> MakePhoto:
    """`make_photo(path, size=(w, h), mode="RGB", seed=0, **save_options)`: a synthetic photo
    in PIL `mode` ("RGB", "RGBA", "L", "LA", "P", "CMYK", "I;16", ...), saved to `path` in the
    format its suffix names (unless `path` is None), with `save_options` passed to PIL's save
    (quality=, comment=, exif=). Returns the image as saved."""

    def make(
        path: str | Path | None,
        size: tuple[int, int] = (64, 48),
        mode: str = "RGB",
        seed: int = 0,
        **save_options,
    ) -> Image.Image:
        image = _in_mode(photo_array(size, seed), mode)
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            image.save(path, **save_options)
        return image

    return make


@pytest.fixture(scope="session")
def photo_tensor() -> Callable[..., torch.Tensor]:
    """`photo_tensor(h, w, seed=0)`: the same synthetic photo as a uint8 (3, h, w) tensor, for
    tests that need no file."""

    def make(h: int, w: int, seed: int = 0) -> torch.Tensor:
        return torch.from_numpy(photo_array((w, h), seed)).permute(2, 0, 1).contiguous()

    return make


@pytest.fixture
def photo_folder(tmp_path: Path, make_photo: MakePhoto) -> Path:
    """A folder holding one colour photo, good.png (64 x 48), to which a test adds files."""
    folder = tmp_path / "images"
    make_photo(folder / "good.png")
    return folder


@pytest.fixture
def decodes_of(monkeypatch) -> Callable[[object], list[str]]:
    """``decodes_of(module)``: from now on, the names of the files `module` decodes (rather
    than takes from a cache), in order."""

    def watch(module) -> list[str]:
        names: list[str] = []
        original = module.decode_image

        def counting(path):
            names.append(Path(path).name)
            return original(path)

        monkeypatch.setattr(module, "decode_image", counting)
        return names

    return watch


@pytest.fixture(scope="session")
def faces_mirror() -> Path:
    """The local folder of the 750 course faces ($COLORLIB_FACES_MIRROR, default
    ../shared/datasets/face_images beside the repository); skips the test when it is absent."""
    return _present(FACES_MIRROR, "faces", "COLORLIB_FACES_MIRROR")


@pytest.fixture(scope="session")
def bsds500_mirror() -> Path:
    """The local folder of the 500 BSDS500 photos ($COLORLIB_BSDS500_MIRROR, default
    ../shared/datasets/bsds500 beside the repository); skips the test when it is absent."""
    return _present(BSDS500_MIRROR, "BSDS500", "COLORLIB_BSDS500_MIRROR")
