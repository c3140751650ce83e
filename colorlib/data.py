"""Image sets for colorization: registry, decoding with a disk cache, splits and a batched loader.

The sets are small (24 Kodak photos, 750 faces), so every image is decoded once, kept in memory as a
uint8 tensor (3, H, W), and cached on disk; batches are then cut, resized, augmented and converted
to Lab as whole tensors (no worker processes, no per-sample Python colour conversion).
"""

from __future__ import annotations

import hashlib
import math
import os
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import Tensor
from tqdm.auto import tqdm

from colorlib.color import (
    _model_input_no_grad,
    _scratch_buffer,
    to_float,
    to_uint8,
)
from colorlib.files import atomic_path

FACES_URL = "https://raw.githubusercontent.com/2014mchidamb/DeepColorization/master/face_images/"
FACES_MIRROR_ENV = "COLORLIB_FACES_MIRROR"
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".gif"}
)
# Files that legitimately sit next to the images (checksums, provenance notes) and are not
# worth a warning.
_QUIET_SUFFIXES = frozenset({".sha256", ".md"})
_QUIET_NAMES = frozenset({"SHA256SUMS", "LICENSE", "README"})
_CACHE_VERSION = 1
_REPO_DATA = Path(__file__).resolve().parents[1] / "data"


class DataWarning(UserWarning):
    """A file was skipped or converted while loading an image set."""


class ImageDecodeError(ValueError):
    """A file could not be decoded as an image; the message names the file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


class ChecksumError(ValueError):
    """A file does not match its SHA-256 checksum; the message names the file."""


class DownloadError(RuntimeError):
    """A file could not be fetched; the message names the file and where it was fetched from."""


# --- registry -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetSpec:
    """A named image set: where it lives under the data root and how it is split by default."""

    name: str
    folder: str
    description: str
    embedded: bool
    groups_from_comment: bool
    test_fraction: float
    by_group: bool
    count: int


DATASETS: dict[str, DatasetSpec] = {
    "kodak24": DatasetSpec(
        name="kodak24",
        folder="kodak24",
        description="Kodak Lossless True Color Image Suite: 24 PNG photos, 768x512 and 512x768 "
        "(shipped in data/kodak24)",
        embedded=True,
        groups_from_comment=False,
        test_fraction=1 / 3,
        by_group=False,
        count=24,
    ),
    "faces": DatasetSpec(
        name="faces",
        folder="faces",
        description="Georgia Tech faces of the DeepColorization course assignment: 750 JPEG "
        "128x128, 50 subjects x 15 (downloaded on demand to data/faces)",
        embedded=False,
        groups_from_comment=True,
        test_fraction=0.1,
        by_group=True,
        count=750,
    ),
}


@dataclass
class ImageSet:
    """Decoded images (uint8 (3, H, W) RGB) with their file names and group labels."""

    images: list[Tensor]
    names: list[str]
    groups: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, indices: Sequence[int]) -> ImageSet:
        """The images at `indices`, in that order, with the same source."""
        return ImageSet(
            images=[self.images[i] for i in indices],
            names=[self.names[i] for i in indices],
            groups=[self.groups[i] for i in indices],
            source=self.source,
        )


# --- checksums and download -----------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(path: str | Path) -> dict[str, str]:
    """Parse a `sha256sum` list ("<hex>  <name>" per line) into {name: hex digest}."""
    path = Path(path)
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(maxsplit=1)
        digest = parts[0].lower()
        if len(parts) != 2 or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{path}, line {number}: expected '<sha256 hex>  <file name>'")
        sums[parts[1].lstrip("*")] = digest
    if not sums:
        raise ValueError(f"{path}: no checksums in the file")
    return sums


def verify_checksums(folder: str | Path, sums: str | Path | None = None) -> list[str]:
    """Check every file listed in `sums` (default `folder/SHA256SUMS`) against its SHA-256.

    Returns the verified names; raises `ChecksumError` naming each missing or mismatched file.
    """
    folder = Path(folder)
    sums_path = Path(sums) if sums is not None else folder / "SHA256SUMS"
    if not sums_path.is_file():
        raise FileNotFoundError(f"no checksum list at {sums_path}")
    expected = read_checksums(sums_path)
    missing = [name for name in expected if not (folder / name).is_file()]
    bad = [
        name
        for name, digest in expected.items()
        if name not in missing and _sha256(folder / name) != digest
    ]
    if missing or bad:
        problems = [f"{name} (missing)" for name in missing]
        problems += [f"{name} (SHA-256 mismatch)" for name in bad]
        raise ChecksumError(f"{folder} does not match {sums_path.name}: " + ", ".join(problems))
    return sorted(expected)


def _packaged_faces_checksums() -> Path:
    return Path(str(resources.files("colorlib").joinpath("checksums", "faces.sha256")))


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _fetch_verified(
    name: str, digest: str, dest: Path, mirror: Path | None, base_url: str, timeout: float
) -> None:
    # Stream into a hidden temporary file next to the target and only rename it into place once
    # its hash is right, so an interrupted or corrupted transfer never leaves a bad image behind.
    source = str(mirror / name) if mirror is not None else base_url.rstrip("/") + "/" + name
    with atomic_path(dest / name) as tmp:
        hasher = hashlib.sha256()
        with open(tmp, "wb") as out:
            if mirror is not None:
                if not (mirror / name).is_file():
                    raise FileNotFoundError(f"{name}: not found in the mirror folder {mirror}")
                src = open(mirror / name, "rb")
            else:
                try:
                    src = urllib.request.urlopen(source, timeout=timeout)
                except (urllib.error.URLError, OSError) as exc:
                    raise DownloadError(
                        f"could not download {name} from {source}: {exc}. Without network, pass "
                        f"mirror= or set {FACES_MIRROR_ENV} to a folder holding the files."
                    ) from exc
            with src:
                for chunk in iter(lambda: src.read(1 << 16), b""):
                    hasher.update(chunk)
                    out.write(chunk)
        if hasher.hexdigest() != digest:
            raise ChecksumError(
                f"{name}: SHA-256 mismatch for the copy from {source} (expected {digest}, got "
                f"{hasher.hexdigest()}); the file was not kept"
            )


def download_faces(
    dest: str | Path = "data/faces",
    *,
    mirror: str | Path | None = None,
    progress: bool = True,
    checksums: str | Path | None = None,
    base_url: str = FACES_URL,
    timeout: float = 30.0,
) -> list[Path]:
    """Fetch the face JPEGs into `dest`, each checked against its SHA-256; returns their paths.

    Files already in `dest` with the right hash are kept. The source is the folder `mirror`, else
    the folder in $COLORLIB_FACES_MIRROR, else `base_url` (raw GitHub). `checksums` is the list to
    check against (default: the one packaged in colorlib/checksums/faces.sha256); it is also
    written to `dest/SHA256SUMS`. A mismatch raises `ChecksumError` naming the file.
    """
    dest = Path(dest)
    sums_path = Path(checksums) if checksums is not None else _packaged_faces_checksums()
    expected = read_checksums(sums_path)
    if mirror is None:
        mirror = os.environ.get(FACES_MIRROR_ENV) or None
    mirror_dir = Path(mirror) if mirror is not None else None
    if mirror_dir is not None and not mirror_dir.is_dir():
        raise FileNotFoundError(
            f"faces mirror folder {mirror_dir} does not exist (from mirror= or ${FACES_MIRROR_ENV})"
        )
    dest.mkdir(parents=True, exist_ok=True)
    todo = [
        name
        for name, digest in expected.items()
        if not ((dest / name).is_file() and _sha256(dest / name) == digest)
    ]
    bar = tqdm(todo, desc="faces", unit="file", disable=not progress or not todo)
    for name in bar:
        _fetch_verified(name, expected[name], dest, mirror_dir, base_url, timeout)
    sums_text = sums_path.read_bytes()
    local_sums = dest / "SHA256SUMS"
    if not local_sums.is_file() or local_sums.read_bytes() != sums_text:
        _write_atomic(local_sums, sums_text)
    return [dest / name for name in expected]


# --- decoding -------------------------------------------------------------------------------------


@dataclass
class DecodedImage:
    """One decoded file: uint8 RGB (3, H, W), its JPEG comment, whether it is gray, conversions."""

    image: Tensor
    comment: str
    gray: bool
    notes: list[str] = field(default_factory=list)


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


# --- folders and the decode cache -----------------------------------------------------------------


def _list_folder(folder: Path) -> tuple[list[Path], list[Path]]:
    images, others = [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or not p.is_file():
            continue
        if p.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(p)
        elif p.suffix.lower() not in _QUIET_SUFFIXES and p.stem.upper() not in _QUIET_NAMES:
            others.append(p)
    return images, others


def _cache_file(folder: Path, cache_dir: Path) -> Path:
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return cache_dir / f"{folder.name}-{key}.pt"


def _read_cache(path: Path, folder: Path) -> dict[str, dict]:
    if not path.is_file():
        return {}
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable cache is simply rebuilt
        warnings.warn(f"ignoring unreadable decode cache {path} ({exc})", DataWarning, stacklevel=3)
        return {}
    if data.get("version") != _CACHE_VERSION or data.get("folder") != str(folder.resolve()):
        return {}
    return {entry["name"]: entry for entry in data["files"]}


def _write_cache(path: Path, folder: Path, entries: list[dict]) -> None:
    try:
        data = {"version": _CACHE_VERSION, "folder": str(folder.resolve()), "files": entries}
        with atomic_path(path) as tmp:
            torch.save(data, tmp)
    except OSError as exc:  # a read-only data folder only costs the speed-up
        warnings.warn(f"could not write the decode cache {path} ({exc})", DataWarning, stacklevel=3)


def _decode_folder(folder: Path, cache_dir: Path, progress: bool) -> tuple[list[dict], list[Path]]:
    files, others = _list_folder(folder)
    cache_path = _cache_file(folder, cache_dir)
    cached = _read_cache(cache_path, folder)
    entries: list[dict] = []
    todo: list[tuple[int, Path, os.stat_result]] = []
    for p in files:
        st = p.stat()
        old = cached.get(p.name)
        if old is not None and old["size"] == st.st_size and old["mtime_ns"] == st.st_mtime_ns:
            entries.append(old)
        else:
            entries.append({})
            todo.append((len(entries) - 1, p, st))
    bar = tqdm(todo, desc=f"decoding {folder.name}", unit="img", disable=not progress or not todo)
    for i, p, st in bar:
        entry = {"name": p.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        try:
            decoded = decode_image(p)
        except ImageDecodeError as exc:
            entry.update(image=None, comment="", gray=False, notes=[], error=exc.reason)
        else:
            entry.update(
                image=decoded.image,
                comment=decoded.comment,
                gray=decoded.gray,
                notes=decoded.notes,
                error=None,
            )
        entries[i] = entry
    if todo or len(cached) != len(entries):
        _write_cache(cache_path, folder, entries)
    return entries, others


def _resolve(name_or_path: str | Path, root: Path) -> tuple[DatasetSpec | None, Path]:
    key = str(name_or_path)
    if key in DATASETS:
        spec = DATASETS[key]
        folder = root / spec.folder
        # The embedded set ships in the repository: find it from any working directory.
        if spec.embedded and not folder.is_dir() and (_REPO_DATA / spec.folder).is_dir():
            folder = _REPO_DATA / spec.folder
        return spec, folder
    path = Path(name_or_path)
    if path.is_dir():
        return None, path
    if path.exists():
        raise ValueError(f"{path} is a file; give a folder of images or one of {sorted(DATASETS)}")
    raise ValueError(
        f"unknown dataset {key!r}: known datasets are {', '.join(sorted(DATASETS))}, "
        "or give the path of a folder of images"
    )


def load_images(
    name_or_path: str | Path,
    *,
    root: str | Path = "data",
    mirror: str | Path | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    keep_gray: bool = False,
    min_size: int | None = None,
) -> ImageSet:
    """Load a registered set (`DATASETS`) or a folder of images as uint8 RGB tensors.

    Files are decoded once and cached in `cache_dir` (default `root/.cache`), keyed by file name,
    size and mtime, so later calls only decode new or changed files. "faces" is downloaded into
    `root/faces` first when missing (see `download_faces`; `mirror` is passed on). Unreadable
    files, grayscale images (unless `keep_gray`) and images whose short side is below `min_size`
    are skipped with a `DataWarning` naming the file; conversions (alpha, palette, CMYK, 16-bit)
    are reported the same way. Raises ValueError when nothing usable is left.
    """
    root = Path(root)
    spec, folder = _resolve(name_or_path, root)
    if spec is not None and not spec.embedded:
        download_faces(folder, mirror=mirror, progress=progress)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    cache = Path(cache_dir) if cache_dir is not None else root / ".cache"
    entries, others = _decode_folder(folder, cache, progress)
    if not entries and not others:
        raise ValueError(f"folder {folder} contains no image files")

    skipped = [f"{p.name}: not an image file ({p.suffix or 'no extension'})" for p in others]
    notes: list[str] = []
    images, names, groups = [], [], []
    for e in entries:
        name = e["name"]
        if e["error"] is not None:
            skipped.append(f"{name}: {e['error']}")
            continue
        h, w = e["image"].shape[-2:]
        if e["gray"] and not keep_gray:
            skipped.append(f"{name}: grayscale image in a colour set (keep_gray=True keeps it)")
            continue
        if min_size is not None and min(h, w) < min_size:
            skipped.append(f"{name}: {w}x{h} is smaller than the crop size {min_size}")
            continue
        notes.extend(f"{name}: {note}" for note in e["notes"])
        images.append(e["image"])
        names.append(name)
        use_comment = spec is not None and spec.groups_from_comment and e["comment"]
        groups.append(e["comment"] if use_comment else name)
    if not images:
        raise ValueError(f"no usable images in {folder}: " + "; ".join(skipped))
    for message in skipped:
        warnings.warn(f"skipping {folder / message}", DataWarning, stacklevel=2)
    for message in notes:
        warnings.warn(f"{folder / message}", DataWarning, stacklevel=2)
    source = spec.name if spec is not None else str(folder)
    return ImageSet(images=images, names=names, groups=groups, source=source)


# --- splits ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Index lists (into an ImageSet) of the train, validation and test parts, with their names."""

    train: list[int]
    val: list[int]
    test: list[int]
    train_names: list[str]
    val_names: list[str]
    test_names: list[str]


def split(
    imageset: ImageSet,
    *,
    test_fraction: float | None = None,
    seed: int = 0,
    by_group: bool | None = None,
) -> Split:
    """Hold out `test_fraction` of the groups (by_group) or of the images, then halve the held-out
    part into validation and test (test gets the odd one). Deterministic for a seed.

    Defaults come from the registry: faces hold out 5 of 50 subjects (675/30/45 images), kodak24
    8 of 24 images (16/4/4); a user folder holds out 20% of its images.
    """
    spec = DATASETS.get(imageset.source)
    if test_fraction is None:
        test_fraction = spec.test_fraction if spec is not None else 0.2
    if by_group is None:
        by_group = spec.by_group if spec is not None else False
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    keys = imageset.groups if by_group else imageset.names
    units = sorted(set(keys))
    if len(units) < 3:
        kind = "groups" if by_group else "images"
        raise ValueError(f"need at least 3 {kind} to split into train/val/test, got {len(units)}")
    n_held = min(max(round(test_fraction * len(units)), 2), len(units) - 1)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(units), generator=generator).tolist()
    held = [units[i] for i in order[:n_held]]
    val_units, test_units = set(held[: n_held // 2]), set(held[n_held // 2 :])
    parts: dict[str, list[int]] = {"train": [], "val": [], "test": []}
    for i, key in enumerate(keys):
        part = "val" if key in val_units else "test" if key in test_units else "train"
        parts[part].append(i)
    return Split(
        train=parts["train"],
        val=parts["val"],
        test=parts["test"],
        train_names=[imageset.names[i] for i in parts["train"]],
        val_names=[imageset.names[i] for i in parts["val"]],
        test_names=[imageset.names[i] for i in parts["test"]],
    )


# --- augmentation and batches ---------------------------------------------------------------------


@dataclass(frozen=True)
class Augment:
    """Per-sample random flips, small rotation (reflection padding) and darkening, on a batch."""

    hflip: bool = True
    vflip: bool = True
    max_rotation_deg: float = 10.0
    brightness: tuple[float, float] | None = (0.6, 1.0)

    def sample(self, n: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Draw the parameters of `n` samples (always the same draws, whatever is enabled)."""
        u = torch.rand(n, 4, generator=generator)
        low, high = self.brightness if self.brightness is not None else (1.0, 1.0)
        return {
            "hflip": u[:, 0] < 0.5,
            "vflip": u[:, 1] < 0.5,
            "angle": (2.0 * u[:, 2] - 1.0) * self.max_rotation_deg,
            "brightness": low + u[:, 3] * (high - low),
        }

    def apply(self, rgb: Tensor, params: dict[str, Tensor]) -> Tensor:
        """Augment float RGB (B, 3, H, W) in [0, 1] with parameters from `sample`."""
        b = rgb.shape[0]
        p = {k: v[:b].to(rgb.device) for k, v in params.items()}
        if self.max_rotation_deg > 0:
            rgb = self._rotate(rgb, p)
        else:
            if self.hflip:
                rgb = torch.where(p["hflip"].view(-1, 1, 1, 1), rgb.flip(-1), rgb)
            if self.vflip:
                rgb = torch.where(p["vflip"].view(-1, 1, 1, 1), rgb.flip(-2), rgb)
        if self.brightness is not None:
            rgb = rgb * p["brightness"].to(rgb.dtype).view(-1, 1, 1, 1)
            return rgb.clamp_(0.0, 1.0)  # a fresh tensor: clamp in place
        return rgb.clamp(0.0, 1.0)

    def _apply_to_batch(
        self, batch: Tensor, params: dict[str, Tensor], scratch: dict[str, Tensor] | None = None
    ) -> Tensor:
        """`apply` on a rendered batch, uint8 (B, 3, H, W) or float in [0, 1]: the loader's
        path, equal to `apply(to_float(batch), params)` up to float rounding. The conversion to
        float and the brightness factor are applied together before the rotation (bilinear
        resampling commutes with a per-image factor), in a buffer kept in `scratch` for the
        next batch (see `colorlib.color._scratch_buffer`) with the sampling grid."""
        if self.max_rotation_deg <= 0:
            batch = batch.contiguous()
            return self.apply(to_float(batch) if batch.dtype == torch.uint8 else batch, params)
        b = batch.shape[0]
        p = {k: v[:b].to(batch.device) for k, v in params.items()}
        scale = torch.full((b,), 1.0 / 255.0 if batch.dtype == torch.uint8 else 1.0)
        scale = scale.to(batch.device)
        if self.brightness is not None:
            scale = scale * p["brightness"].float()
        # In the batch's own layout (the CPU crops are channels-last, as the uint8 resize works):
        # a conversion that also transposed would cost 3x more, and grid_sample reads either
        # layout at the same speed and writes the default one.
        layout = (
            torch.channels_last
            if batch.dim() == 4 and batch.is_contiguous(memory_format=torch.channels_last)
            else torch.contiguous_format
        )
        rgb, _ = _scratch_buffer(
            scratch, "augment_input", tuple(batch.shape), batch.device, memory_format=layout
        )
        # copy_ then mul_: a mixed-type torch.mul(..., out=) would convert into a temporary first.
        rgb.copy_(batch).mul_(scale.view(-1, 1, 1, 1))
        return self._rotate(rgb, p, scratch).clamp_(0.0, 1.0)

    def _rotate(
        self, rgb: Tensor, p: dict[str, Tensor], scratch: dict[str, Tensor] | None = None
    ) -> Tensor:
        # The flips are folded into the rotation's sampling grid: one resampling pass for all.
        angle = torch.deg2rad(p["angle"].to(rgb.dtype))
        sx = 1.0 - 2.0 * (p["hflip"] & self.hflip).to(rgb.dtype)
        sy = 1.0 - 2.0 * (p["vflip"] & self.vflip).to(rgb.dtype)
        cos, sin, zero = angle.cos(), angle.sin(), torch.zeros_like(angle)
        theta = torch.stack((sx * cos, -sx * sin, zero, sy * sin, sy * cos, zero), dim=1)
        b, _, h, w = rgb.shape
        planes, _ = _scratch_buffer(scratch, "augment_grid", (b, 2, h, w), rgb.device, rgb.dtype)
        grid = _affine_grid(theta.view(-1, 2, 3), h, w, out=planes)
        return F.grid_sample(
            rgb, grid, mode="bilinear", padding_mode="reflection", align_corners=False
        )

    def __call__(self, rgb: Tensor, generator: torch.Generator) -> Tensor:
        return self.apply(rgb, self.sample(rgb.shape[0], generator))


def _pixel_centres(n: int, like: Tensor) -> Tensor:
    """Normalised coordinates of the centres of n pixels (align_corners=False)."""
    return (torch.arange(n, dtype=like.dtype, device=like.device) * 2.0 + 1.0) / n - 1.0


def _affine_grid(theta: Tensor, h: int, w: int, out: Tensor | None = None) -> Tensor:
    """`F.affine_grid(theta, (B, C, h, w), align_corners=False)`, ~5x faster: the x and y planes
    are each a per-column plus a per-row part, summed in one pass into `out` (B, 2, h, w) and
    returned as a (B, h, w, 2) view, which grid_sample reads as fast as a contiguous grid."""
    b = theta.shape[0]
    columns = _pixel_centres(w, theta).view(1, 1, 1, w) * theta[:, :, 0].view(b, 2, 1, 1)
    rows = _pixel_centres(h, theta).view(1, 1, h, 1) * theta[:, :, 1].view(b, 2, 1, 1)
    grid = torch.add(columns, rows + theta[:, :, 2].view(b, 2, 1, 1), out=out)
    return grid.permute(0, 2, 3, 1)


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # Mix (seed, epoch) so neighbouring seeds and epochs give unrelated streams.
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def _random_boxes(shapes: list[tuple[int, int]], u: Tensor, min_frac: float) -> list[tuple]:
    boxes = []
    for (h, w), (u_side, u_y, u_x) in zip(shapes, u.tolist(), strict=True):
        m = min(h, w)
        low = max(1, math.ceil(min_frac * m))
        side = min(m, low + int(u_side * (m - low + 1)))
        top = min(h - side, int(u_y * (h - side + 1)))
        left = min(w - side, int(u_x * (w - side + 1)))
        boxes.append((top, left, side))
    return boxes


def _centre_box(h: int, w: int) -> tuple[int, int, int]:
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side


def centre_square(image: Tensor, size: int) -> Tensor:
    """The centre square of a uint8 image (3, H, W), resized to `size` (antialiased): what an
    evaluation batch shows the network."""
    _, h, w = image.shape
    return _render_crops([image.cpu()], [_centre_box(h, w)], size)[0].contiguous()


def _resize_layout(image: Tensor) -> Tensor:
    """`image` stored channels-last (H, W, 3 in memory) on the CPU, where the antialiased uint8
    resize works in that layout and would otherwise convert every crop (about 2x slower)."""
    if image.device.type != "cpu" or image.permute(1, 2, 0).is_contiguous():
        return image
    return image.permute(1, 2, 0).contiguous().permute(2, 0, 1)


def _render_crops(images: list[Tensor], boxes: list[tuple], size: int) -> Tensor:
    """Crop each square box and resize it to size x size: (B, 3, size, size), uint8 on the CPU
    (where the antialiased resize of uint8 is about 3x faster than of float), float elsewhere."""
    out = []
    for image, (top, left, side) in zip(images, boxes, strict=True):
        crop = image[None, :, top : top + side, left : left + side]
        if image.device.type != "cpu":
            crop = to_float(crop)
        if side != size:
            crop = F.interpolate(
                crop, size=(size, size), mode="bilinear", antialias=True, align_corners=False
            )
        out.append(crop)
    return torch.cat(out)


def _render(images: list[Tensor], boxes: list[tuple], size: int) -> Tensor:
    """Crop each square box and resize it to size x size: float RGB (B, 3, size, size)."""
    batch = _render_crops(images, boxes, size).contiguous()
    return to_float(batch) if batch.dtype == torch.uint8 else batch


class BatchLoader:
    """Batches of {"L", "ab", "rgb"} cut from in-memory uint8 images, converted on `device`.

    Training: `samples_per_epoch` (default: one per image) random square crops, side drawn in
    [crop_min_frac, 1] x min(H, W) at a uniform position, resized to `size` (antialiased
    bilinear), then `augment` on the whole batch; images are visited in shuffled passes and every
    batch is full, so an epoch is ceil(samples / batch_size) batches. Evaluation: each image once,
    in order, centre square crop resized to `size` (the last batch may be short).
    The draws depend only on (seed, epoch): each iteration uses the current epoch and then moves
    to the next; `set_epoch(e)` chooses the epoch of the next iteration.
    """

    def __init__(
        self,
        images: Sequence[Tensor],
        *,
        size: int,
        batch_size: int = 16,
        samples_per_epoch: int | None = None,
        train: bool = True,
        augment: Augment | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        crop_min_frac: float = 0.5,
        names: Sequence[str] | None = None,
    ) -> None:
        if len(images) == 0:
            raise ValueError("images is empty")
        if size < 1 or batch_size < 1:
            raise ValueError(f"size and batch_size must be >= 1, got {size} and {batch_size}")
        if not 0.0 < crop_min_frac <= 1.0:
            raise ValueError(f"crop_min_frac must be in (0, 1], got {crop_min_frac}")
        if samples_per_epoch is not None and samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be >= 1, got {samples_per_epoch}")
        if names is not None and len(names) != len(images):
            raise ValueError(f"got {len(names)} names for {len(images)} images")
        for i, image in enumerate(images):
            label = names[i] if names is not None else f"image {i}"
            if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(
                    f"{label}: expected a uint8 tensor (3, H, W), got {image.dtype} "
                    f"{tuple(image.shape)}"
                )
            if min(image.shape[-2:]) < size:
                h, w = image.shape[-2:]
                raise ValueError(f"{label}: {w}x{h} is smaller than the crop size {size}")
        self.device = torch.device(device)
        # The whole set sits in memory; move it once rather than per batch.
        self.images = [_resize_layout(image.to(self.device)) for image in images]
        self.size = size
        self.batch_size = batch_size
        self.samples_per_epoch = samples_per_epoch
        self.train = train
        self.augment = augment
        self.seed = seed
        self.crop_min_frac = crop_min_frac
        self.epoch = 0

    @classmethod
    def from_imageset(
        cls, imageset: ImageSet, indices: Sequence[int] | None = None, **kwargs
    ) -> BatchLoader:
        """A loader over `imageset` (or its `indices`), naming files in its errors."""
        subset = imageset.subset(indices) if indices is not None else imageset
        return cls(subset.images, names=subset.names, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if not self.train:
            return math.ceil(len(self.images) / self.batch_size)
        return math.ceil((self.samples_per_epoch or len(self.images)) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        # A generator: the draws happen at the first next(), after any set_epoch() the training
        # loop makes between creating the iterator and starting the epoch.
        shapes = [tuple(image.shape[-2:]) for image in self.images]
        # Intermediate buffers reused from batch to batch (each iterator has its own); the
        # tensors yielded are always new.
        scratch: dict[str, Tensor] = {}
        if not self.train:
            for start in range(0, len(self.images), self.batch_size):
                idx = list(range(start, min(start + self.batch_size, len(self.images))))
                boxes = [_centre_box(*shapes[i]) for i in idx]
                yield self._batch(self._render(idx, boxes), scratch)
            return
        epoch, self.epoch = self.epoch, self.epoch + 1
        generator = _epoch_generator(self.seed, epoch)
        n_total = len(self) * self.batch_size
        n = len(self.images)
        passes = [torch.randperm(n, generator=generator) for _ in range(math.ceil(n_total / n))]
        order = torch.cat(passes)[:n_total].tolist()
        u = torch.rand(n_total, 3, generator=generator, dtype=torch.float64)
        params = self.augment.sample(n_total, generator) if self.augment is not None else None
        for start in range(0, n_total, self.batch_size):
            idx = order[start : start + self.batch_size]
            boxes = _random_boxes(
                [shapes[i] for i in idx], u[start : start + len(idx)], self.crop_min_frac
            )
            if self.augment is not None and params is not None:
                crops = _render_crops([self.images[i] for i in idx], boxes, self.size)
                rgb = self.augment._apply_to_batch(
                    crops, {k: v[start : start + len(idx)] for k, v in params.items()}, scratch
                )
            else:
                rgb = self._render(idx, boxes)
            yield self._batch(rgb, scratch)

    def _render(self, idx: list[int], boxes: list[tuple]) -> Tensor:
        return _render([self.images[i] for i in idx], boxes, self.size)

    @staticmethod
    def _batch(rgb: Tensor, scratch: dict[str, Tensor]) -> dict[str, Tensor]:
        # The batches never need gradients: the no-grad conversion, equal to
        # rgb_to_model_input's for this input, reusing the loop's buffers.
        L, ab = _model_input_no_grad(rgb, scratch)
        return {"L": L, "ab": ab, "rgb": rgb}


def offline_augment(
    images: Sequence[Tensor],
    copies: int = 10,
    *,
    size: int | None = None,
    augment: Augment | None = None,
    crop_min_frac: float = 0.5,
    seed: int = 0,
) -> list[Tensor]:
    """The source's offline augmented set: `copies` random crops (resized to `size`, default the
    smallest short side) of each image, augmented, as uint8 (3, size, size) tensors; the copies of
    image i are at [i * copies, (i + 1) * copies). `augment` defaults to `Augment()`.
    """
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    if len(images) == 0:
        raise ValueError("images is empty")
    augment = augment if augment is not None else Augment()
    if size is None:
        size = min(min(image.shape[-2:]) for image in images)
    generator = torch.Generator().manual_seed(seed)
    out: list[Tensor] = []
    for image in images:
        h, w = image.shape[-2:]
        if min(h, w) < size:
            raise ValueError(f"an image of {w}x{h} is smaller than size {size}")
        u = torch.rand(copies, 3, generator=generator, dtype=torch.float64)
        boxes = _random_boxes([(h, w)] * copies, u, crop_min_frac)
        rgb = augment(_render([_resize_layout(image)] * copies, boxes, size), generator)
        out.extend(to_uint8(rgb).unbind(0))
    return out


def augment_examples(
    image: Tensor, n: int, *, size: int, seed: int = 0, augment: Augment | None = None
) -> list[Tensor]:
    """`n` augmented training crops of one uint8 image, as a training batch would draw them."""
    loader = BatchLoader(
        [image],
        size=size,
        batch_size=n,
        samples_per_epoch=n,
        train=True,
        augment=augment or Augment(),
        seed=seed,
    )
    return list(to_uint8(next(iter(loader))["rgb"]))
