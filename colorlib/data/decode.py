"""Decoding one image file into uint8 RGB (3, H, W), and listing the image files of a folder.

Handles what real folders hold: EXIF orientation, alpha, palette, CMYK, 16-bit PNG/TIFF (through
OpenCV, as PIL keeps only their high bytes), grayscale, JPEG comments (the faces' subject labels).
Reads files only; caching decoded images is `colorlib.data.cache`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from torch import Tensor

IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
)
# Files that legitimately sit next to the images (checksums, provenance notes) and are not
# worth a warning.
_QUIET_SUFFIXES = frozenset({".sha256", ".md"})
_QUIET_NAMES = frozenset({"SHA256SUMS", "LICENSE", "README"})


class DataWarning(UserWarning):
    """A file was skipped or converted while loading an image set."""


class ImageDecodeError(ValueError):
    """A file could not be decoded as an image; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class DecodedImage:
    """One decoded file: uint8 RGB (3, H, W), its JPEG comment, whether it is gray, conversions."""

    image: Tensor
    comment: str
    gray: bool
    notes: list[str] = field(default_factory=list)


def list_folder(
    folder: str | Path, skip: Iterable[str | Path] = ()
) -> tuple[list[Path], list[Path]]:
    """(image files, other files) under `folder` at any depth, each list sorted by the path
    relative to `folder` (so the order is the same on every machine).

    Hidden files and folders (a leading ".") and the folders in `skip` (the decode cache) are
    left out, and so are the contents of symbolic links to folders (they could loop). Checksum
    lists and notes (SHA256SUMS, README, *.md, *.sha256) are left out of `others`.
    """
    folder = Path(folder)
    skipped = {Path(p).resolve() for p in skip}
    images, others = [], []
    for dirpath, dirnames, filenames in os.walk(folder):
        here = Path(dirpath)
        # Pruned in place, so that os.walk does not descend into them.
        dirnames[:] = [
            d for d in dirnames if not d.startswith(".") and (here / d).resolve() not in skipped
        ]
        for name in filenames:
            p = here / name
            if name.startswith(".") or not p.is_file():
                continue
            if p.suffix.lower() in IMAGE_EXTENSIONS:
                images.append(p)
            elif p.suffix.lower() not in _QUIET_SUFFIXES and p.stem.upper() not in _QUIET_NAMES:
                others.append(p)

    def relative(p: Path) -> tuple[str, ...]:
        return p.relative_to(folder).parts

    return sorted(images, key=relative), sorted(others, key=relative)


def _scale16(a: np.ndarray) -> np.ndarray:
    # round(x * 255 / 65535): maps 0 -> 0 and 65535 -> 255 exactly (a plain >> 8 is biased).
    return ((a.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)


def _png_bit_depth(path: Path) -> int:
    with open(path, "rb") as f:
        header = f.read(25)
    return header[24] if len(header) == 25 and header[12:16] == b"IHDR" else 8


def _is_16bit_colour(img: Image.Image, path: Path) -> bool:
    # PIL shows 16-bit colour PNG and TIFF files as mode "RGB" holding the high bytes only.
    if img.mode not in ("RGB", "RGBA"):
        return False
    if img.format == "PNG":
        return _png_bit_depth(path) == 16
    if img.format == "TIFF":
        bits = img.getexif().get(0x0102)  # BitsPerSample
        return 16 in (bits if isinstance(bits, tuple) else (bits,))
    return False


_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def _read_with_cv2(path: Path, orientation: int, notes: list[str]) -> np.ndarray:
    # OpenCV returns the full uint16 data of 16-bit colour PNG and TIFF files.
    import cv2

    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if arr is None:
        raise ImageDecodeError(path, "cannot decode as an image")
    if arr.dtype == np.uint16:
        arr = _scale16(arr)
        notes.append("16-bit image scaled to 8-bit")
    elif arr.dtype != np.uint8:
        raise ImageDecodeError(path, f"unsupported sample type {arr.dtype}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[:, :, :3]
        notes.append("alpha channel dropped")
    arr = arr[:, :, ::-1]  # OpenCV's BGR -> RGB
    return np.ascontiguousarray(_ORIENT.get(orientation, lambda a: a)(arr))


def _pil_to_rgb(img: Image.Image, path: Path, notes: list[str]) -> np.ndarray:
    mode = img.mode
    if mode.startswith("I"):
        a = np.asarray(img)
        if a.min() < 0 or a.max() > 65535:
            raise ImageDecodeError(path, f"unsupported {mode} sample range {a.min()}..{a.max()}")
        notes.append("16-bit image scaled to 8-bit")
        return np.repeat(_scale16(a)[:, :, None], 3, axis=2)
    if mode == "F":
        raise ImageDecodeError(path, "floating-point images are not supported")
    if mode in ("1", "L"):
        return np.repeat(np.asarray(img.convert("L"))[:, :, None], 3, axis=2)
    if mode in ("LA", "La"):
        notes.append("alpha channel dropped")
        return np.repeat(np.asarray(img.convert("L"))[:, :, None], 3, axis=2)
    if mode == "P":
        notes.append("palette image converted to RGB")
        if "transparency" in img.info:
            notes.append("alpha channel dropped")
            img = img.convert("RGBA")
    elif mode in ("RGBA", "RGBa", "PA"):
        notes.append("alpha channel dropped")
    elif mode == "CMYK":
        notes.append("CMYK image converted to RGB")
    elif mode != "RGB":
        notes.append(f"{mode} image converted to RGB")
    return np.asarray(img.convert("RGB"))


def decode_image(path: str | Path) -> DecodedImage:
    """Decode one file into uint8 RGB (3, H, W), honouring EXIF orientation.

    Alpha is dropped, palette/CMYK/other modes are converted, 16-bit samples are scaled to 8 bits;
    each such step is listed in `notes`. `gray` is True when the three channels are equal.
    Raises `ImageDecodeError` (a ValueError naming the file) when the file is not a readable image.
    """
    path = Path(path)
    notes: list[str] = []
    try:
        with Image.open(path) as img:
            img.load()
            raw_comment = img.info.get("comment", b"")
            orientation = img.getexif().get(0x0112, 1)
            if _is_16bit_colour(img, path):
                arr = _read_with_cv2(path, orientation, notes)
            else:
                arr = _pil_to_rgb(ImageOps.exif_transpose(img), path, notes)
    except ImageDecodeError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as exc:
        # Some TIFF variants PIL cannot open, OpenCV can. Other formats get no second try, as
        # OpenCV would silently accept a truncated JPEG that PIL rightly refuses.
        if path.suffix.lower() not in (".tif", ".tiff"):
            raise ImageDecodeError(path, f"cannot decode as an image ({exc})") from exc
        try:
            arr = _read_with_cv2(path, 1, notes)
        except ImageDecodeError:
            raise ImageDecodeError(path, f"cannot decode as an image ({exc})") from exc
        raw_comment = b""
    if isinstance(raw_comment, bytes):
        comment = raw_comment.decode("utf-8", errors="replace").strip("\x00 \n")
    else:
        comment = str(raw_comment).strip()
    image = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
    gray = bool(torch.equal(image[0], image[1]) and torch.equal(image[1], image[2]))
    return DecodedImage(image=image, comment=comment, gray=gray, notes=notes)
