"""Loading an image set: `load_images` decodes each file once, keeps it in memory as an
`ImageSet`, and keeps the decoded pixels in a disk cache for the next call.

The cache is one torch file per folder (default `<data root>/.cache/`), each entry keyed on the
SHA-256 of the file's bytes, so a file replaced by another with the same name, size and
modification time is decoded again, and a renamed one is not. Reads the image folder; writes only
the cache file. Downloads a registered set first when it is missing (`colorlib.data.fetch`).
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from colorlib.data.decode import DataWarning, ImageDecodeError, decode_image, list_folder
from colorlib.data.fetch import download, file_sha256
from colorlib.data.registry import DatasetError, resolve
from colorlib.data.store import StoredImages, build
from colorlib.files import atomic_path

# 2: entries keyed on the file's SHA-256 (1 used name, size and mtime); older caches are rebuilt.
CACHE_VERSION = 2


@dataclass
class ImageSet:
    """Decoded images (uint8 (3, H, W) RGB) with their file names and group labels.

    Names are paths relative to the folder ("kodim01.png", "Train/a.jpg")."""

    images: Sequence[Tensor]  # a list, or a StoredImages read from disk on demand
    names: list[str]
    groups: list[str]
    source: str

    def __len__(self) -> int:
        return len(self.images)


def cache_file(folder: str | Path, cache_dir: str | Path) -> Path:
    """The cache file of `folder` in `cache_dir`: one per folder (by its absolute path)."""
    folder = Path(folder)
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{folder.name}-{key}.pt"


def _valid_entry(entry: Any) -> bool:
    if not isinstance(entry, dict):
        return False
    image, error = entry.get("image"), entry.get("error")
    if image is None:
        pixels_ok = isinstance(error, str)
    else:
        pixels_ok = (
            error is None
            and isinstance(image, Tensor)
            and image.dtype == torch.uint8
            and image.dim() == 3
            and image.shape[0] == 3
        )
    return (
        pixels_ok
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("sha256"), str)
        and isinstance(entry.get("comment"), str)
        and isinstance(entry.get("gray"), bool)
        and isinstance(entry.get("notes"), list)
        and all(isinstance(note, str) for note in entry["notes"])
    )


def _read_cache(path: Path, folder: Path) -> list[dict]:
    """The cached entries of `folder`, or [] when there is no usable cache.

    An older version or another folder's cache is silently replaced; a malformed one (truncated,
    not a torch file, unexpected contents) is replaced after one warning naming it.
    """
    if not path.exists():
        return []
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unreadable cache is simply rebuilt
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        problem = f"unreadable: {lines[0][:120]}"
    else:
        problem = None
        if not isinstance(data, dict) or "version" not in data:
            problem = "not a decode cache"
        elif data["version"] != CACHE_VERSION or data.get("folder") != str(folder.resolve()):
            return []
        elif not isinstance(data.get("files"), list) or not all(
            _valid_entry(e) for e in data["files"]
        ):
            problem = "unexpected contents"
        else:
            return data["files"]
    warnings.warn(
        f"decode cache {path} is malformed ({problem}); decoding the images again and rewriting it",
        DataWarning,
        stacklevel=4,
    )
    return []


def _write_cache(path: Path, folder: Path, entries: list[dict]) -> None:
    try:
        data = {"version": CACHE_VERSION, "folder": str(folder.resolve()), "files": entries}
        with atomic_path(path) as tmp:
            torch.save(data, tmp)
    except OSError as exc:  # a read-only data folder only costs the speed-up
        warnings.warn(f"could not write the decode cache {path} ({exc})", DataWarning, stacklevel=4)


def _decode_folder(folder: Path, cache_dir: Path, progress: bool) -> tuple[list[dict], list[Path]]:
    files, others = list_folder(folder, skip=[cache_dir])
    cache_path = cache_file(folder, cache_dir)
    stored = _read_cache(cache_path, folder)
    by_digest = {entry["sha256"]: entry for entry in stored}
    entries: list[dict] = []
    todo: list[tuple[int, Path]] = []
    for p in files:
        name = p.relative_to(folder).as_posix()
        # Hashing every file on every load is cheap next to decoding: on the 2-core course
        # machine, SHA-256 of the 24 Kodak PNGs (15 MB) takes ~15 ms and of the 750 faces (9 MB)
        # ~20 ms (files in the page cache), where decoding them takes ~1.1 s and ~0.35 s.
        digest = file_sha256(p)
        old = by_digest.get(digest)
        if old is not None:
            entries.append({**old, "name": name})
        else:
            entries.append({"name": name, "sha256": digest})
            todo.append((len(entries) - 1, p))
    bar = tqdm(todo, desc=f"decoding {folder.name}", unit="img", disable=not progress or not todo)
    for i, p in bar:
        entry = entries[i]
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
    keys = [(e["name"], e["sha256"]) for e in entries]
    if todo or keys != [(e["name"], e["sha256"]) for e in stored]:
        _write_cache(cache_path, folder, entries)
    return entries, others


def load_images(
    name_or_path: str | Path,
    *,
    root: str | Path = "data",
    mirror: str | Path | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
    keep_gray: bool = False,
    min_size: int | None = None,
    store_side: int | None = None,
) -> ImageSet:
    """Load a registered set (`DATASETS`) or a folder of images as uint8 RGB tensors.

    The folder is read at any depth (hidden folders and the cache folder left out), in the order
    of the paths relative to it, which are the image names ("Train/a.jpg"). Files are decoded
    once and cached in `cache_dir` (default `root/.cache`), keyed by their content (SHA-256), so
    later calls only decode new or changed files. A downloadable set is fetched into
    `root/<folder>` first when missing (see `colorlib.data.fetch.download`; `mirror` is passed
    on). Unreadable files, grayscale images (unless `keep_gray`) and images whose short side is
    below `min_size` are skipped with a `DataWarning` naming the file; conversions (alpha,
    palette, CMYK, 16-bit) are reported the same way. Raises ValueError when nothing usable is
    left.

    `store_side`: keep the images on disk instead (`colorlib.data.store`), resized to that short
    side, for sets larger than memory; `images` is then a `StoredImages` read on demand.
    """
    root = Path(root)
    spec, folder = resolve(name_or_path, root)
    if spec is not None and not spec.embedded:
        download(spec.name, folder, mirror, progress=progress)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist")
    cache = Path(cache_dir) if cache_dir is not None else root / ".cache"
    stored: StoredImages | None = None
    if store_side is None:
        entries, others = _decode_folder(folder, cache, progress)
    else:
        stored, entries, others = build(folder, cache, store_side, progress=progress)
    if not entries and not others:
        raise DatasetError(f"folder {folder} contains no image files")

    skipped = [
        f"{p.relative_to(folder).as_posix()}: not an image file ({p.suffix or 'no extension'})"
        for p in others
    ]
    notes: list[str] = []
    images, names, groups = [], [], []
    for e in entries:
        name = e["name"]
        if e["error"] is not None:
            skipped.append(f"{name}: {e['error']}")
            continue
        h, w = e["size"] if stored is not None else e["image"].shape[-2:]
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
        raise DatasetError(f"no usable images in {folder}: " + "; ".join(skipped))
    for message in skipped:
        warnings.warn(f"skipping {folder / message}", DataWarning, stacklevel=2)
    for message in notes:
        warnings.warn(f"{folder / message}", DataWarning, stacklevel=2)
    source = spec.name if spec is not None else str(folder)
    if stored is not None:  # `images` holds record numbers
        return ImageSet(stored.subset(images), names, groups, source)
    return ImageSet(images=images, names=names, groups=groups, source=source)
