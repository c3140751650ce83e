"""The disk-backed decode cache: a folder's images decoded once into fixed-size uint8 records of
one memory-mapped file, for sets larger than memory.

Each image is resized (antialiased) so that its short side is the store's `side`, its long side
cut to at most `max_aspect` x `side` (centred), and kept channels-last in one slot of
``records.u8``; a portrait image is kept transposed, so every slot is side x long. ``index.json``
lists every source file with its size and modification time, its slot and what decoding it said.
A changed, added or removed file costs only its own record.

Crash safety: pixels are written only into slots that the index on disk does not reference (new
ones, or ones freed by an index written first without the stale entries), flushed, and then the
new index is moved into place; a store whose index is missing or does not match its record file
is rebuilt. One builder at a time (a lock file); readers never lock, and several processes (loader
workers, distributed ranks) can read one store at once.

Reading is one `preadv` per record straight into the tensor that holds it, nearest slot first
for a batch: nothing is mapped, so resident memory stays flat however many images are read (the
operating system's page cache keeps what it can, outside the process), and a record read cold
from the disk costs one request rather than a page fault per 4 KB. Reads the image folder;
writes only the store folder.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import mmap
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from tqdm.auto import tqdm

from colorlib.data.decode import DataWarning, ImageDecodeError, decode_image, list_folder

STORE_VERSION = 1
INDEX = "index.json"
RECORDS = "records.u8"
# 3:2 photos fit whole; longer panoramas lose their ends.
MAX_ASPECT = 1.5


def store_dir(folder: str | Path, cache_dir: str | Path, side: int) -> Path:
    """The store of `folder` at `side` in `cache_dir`: one per folder (by its absolute path)."""
    folder = Path(folder)
    key = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"{folder.name}-{key}-side{side}.store"


class StoredImages(Sequence[Tensor]):
    """Images of a store, read on demand: ``images[i]`` is uint8 (3, h, w), channels-last in
    memory (the layout the loader's uint8 resize prefers); `read` fetches a batch of them.
    `shapes` costs no read.

    Picklable: each process (a loader worker, a rank) opens the record file for itself.
    """

    def __init__(self, path: Path, slot_bytes: int, long_side: int, table: np.ndarray) -> None:
        self.path = Path(path)
        self.slot_bytes = slot_bytes
        self.long_side = long_side
        # Columns: slot, stored rows, stored columns, transposed (0/1); compact for 100k images.
        self.table = np.asarray(table, dtype=np.int64).reshape(-1, 4)
        self._fd: int | None = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.table)

    @property
    def shapes(self) -> list[tuple[int, int]]:
        """(H, W) of each image as `__getitem__` returns it."""
        return [(int(w), int(h)) if t else (int(h), int(w)) for _, h, w, t in self.table]

    def subset(self, indices: Sequence[int]) -> StoredImages:
        """The images at `indices`, still on disk."""
        return StoredImages(self.path, self.slot_bytes, self.long_side, self.table[list(indices)])

    def _file(self) -> int:
        # A descriptor inherited through fork belongs to the parent, which may close it.
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            self._pid = os.getpid()
        return self._fd

    def read(self, indices: Sequence[int]) -> list[Tensor]:
        """The images at `indices`, in that order; read from the disk in slot order, so a batch
        drawn at random still moves forward through the file."""
        fd, out = self._file(), [None] * len(indices)
        rows = self.table[np.asarray(indices, dtype=np.int64)]
        for k in np.argsort(rows[:, 0], kind="stable"):
            slot, h, w, transposed = (int(v) for v in rows[k])
            record = torch.empty((h, w, 3), dtype=torch.uint8)
            got = os.preadv(fd, [record.numpy()], slot * self.slot_bytes)
            if got != record.numel():
                raise OSError(f"decode store {self.path}: record {slot} is cut short")
            image = record.permute(2, 0, 1)
            out[k] = image.transpose(1, 2) if transposed else image
        return out  # type: ignore[return-value]

    def __getitem__(self, i: int) -> Tensor:  # type: ignore[override]
        if isinstance(i, slice):
            return self.read(range(*i.indices(len(self))))  # type: ignore[return-value]
        return self.read([i])[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_fd": None, "_pid": -1}

    def __del__(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)


def _record(image: Tensor, side: int, long_side: int) -> tuple[Tensor, bool]:
    """`image` (3, H, W) as stored: short side `side`, long side at most `long_side`, (rows,
    cols, 3) with rows the short side; and whether it was transposed."""
    _, h, w = image.shape
    transposed = h > w
    if transposed:
        image = image.transpose(1, 2)
        h, w = w, h
    new_w = max(side, round(w * side / h))
    if (h, w) != (side, new_w):
        image = F.interpolate(
            image[None].contiguous(memory_format=torch.channels_last),
            size=(side, new_w),
            mode="bilinear",
            antialias=True,
            align_corners=False,
        )[0]
    if new_w > long_side:
        left = (new_w - long_side) // 2
        image = image[:, :, left : left + long_side]
    return image.permute(1, 2, 0).contiguous(), transposed


def _read_index(path: Path, folder: Path, side: int, long_side: int) -> list[dict]:
    """The entries of a valid index, [] for none (missing, another layout, or unreadable)."""
    index = path / INDEX
    if not index.exists():
        return []
    try:
        data = json.loads(index.read_text())
        ok = (
            data.get("version") == STORE_VERSION
            and data.get("folder") == str(folder.resolve())
            and (data.get("side"), data.get("long_side")) == (side, long_side)
        )
        files = data["files"] if ok else []
        size = (path / RECORDS).stat().st_size if files else 0
        slot_bytes = _slot_bytes(side, long_side)
        if any(e["slot"] is not None and (e["slot"] + 1) * slot_bytes > size for e in files):
            raise ValueError("its record file is shorter than the index says")
        return files
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        warnings.warn(f"decode store {path} is unusable ({exc}); rebuilding it", DataWarning, 4)
        return []


def _write_index(path: Path, folder: Path, side: int, long_side: int, files: list[dict]) -> None:
    data = {
        "version": STORE_VERSION,
        "folder": str(folder.resolve()),
        "side": side,
        "long_side": long_side,
        "files": files,
    }
    tmp = path / f".{INDEX}.{os.getpid()}.part"
    with open(tmp, "w") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path / INDEX)  # the commit point: readers see the old index or the new


def _slot_bytes(side: int, long_side: int) -> int:
    n = side * long_side * 3
    return -(-n // mmap.PAGESIZE) * mmap.PAGESIZE  # page-aligned: a record shares no page


def _stat(p: Path) -> tuple[int, int]:
    st = p.stat()
    return st.st_size, st.st_mtime_ns


def build(
    folder: str | Path,
    cache_dir: str | Path,
    side: int,
    *,
    max_aspect: float = MAX_ASPECT,
    progress: bool = True,
) -> tuple[StoredImages, list[dict], list[Path]]:
    """Bring the store of `folder` up to date; (the images of its records in file order, one
    entry per image file, other files).

    Each entry holds "name", "comment", "gray", "notes", "error" (None or why it was skipped),
    "size" (the source's (H, W)) and "image", its index in the returned images (None when it has
    no record: undecodable, or a short side below `side`).
    """
    folder = Path(folder)
    if side < 1:
        raise ValueError(f"side must be >= 1, got {side}")
    long_side = max(side, int(side * max_aspect))
    path = store_dir(folder, cache_dir, side)
    path.mkdir(parents=True, exist_ok=True)
    files, others = list_folder(folder, skip=[Path(cache_dir)])
    with open(path / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # ranks started together build it once
        entries = _update(path, folder, files, side, long_side, progress)
    table, meta = [], []
    for e in entries:
        index = None
        if e["slot"] is not None:
            index = len(table)
            table.append((e["slot"], e["rows"], e["cols"], e["transposed"]))
        meta.append({**e, "image": index, "size": tuple(e["size_hw"])})
    images = StoredImages(path / RECORDS, _slot_bytes(side, long_side), long_side, np.array(table))
    return images, meta, others


def _update(
    path: Path, folder: Path, files: list[Path], side: int, long_side: int, progress: bool
) -> list[dict]:
    stored = _read_index(path, folder, side, long_side)
    by_name = {e["name"]: e for e in stored}
    entries: list[dict] = []
    kept: list[dict] = []
    todo: list[tuple[int, Path]] = []
    for p in files:
        name = p.relative_to(folder).as_posix()
        size, mtime = _stat(p)
        old = by_name.get(name)
        if old is not None and (old["bytes"], old["mtime_ns"]) == (size, mtime):
            entries.append(old)
            kept.append(old)
        else:
            entries.append({"name": name, "bytes": size, "mtime_ns": mtime, "slot": None})
            todo.append((len(entries) - 1, p))
    if not todo and len(kept) == len(stored):
        return entries
    if len(kept) < len(stored):
        # Free the stale slots on disk before any of them is written over.
        _write_index(path, folder, side, long_side, kept)
    used = {e["slot"] for e in kept if e["slot"] is not None}
    next_slot = max([e["slot"] for e in stored if e["slot"] is not None], default=-1) + 1
    free = iter(sorted(set(range(next_slot)) - used))
    slot_bytes = _slot_bytes(side, long_side)
    fd = os.open(path / RECORDS, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        bar = tqdm(todo, desc=f"storing {folder.name}", unit="img", disable=not progress)
        for i, p in bar:
            entry = entries[i]
            try:
                decoded = decode_image(p)
            except ImageDecodeError as exc:
                entry.update(_facts(None, exc.reason))
                continue
            entry.update(_facts(decoded, None))
            h, w = decoded.image.shape[-2:]
            if min(h, w) < side:
                entry["error"] = f"{w}x{h} is smaller than the store's side {side}"
                continue
            record, transposed = _record(decoded.image, side, long_side)
            slot = next(free, None)
            if slot is None:
                slot, next_slot = next_slot, next_slot + 1
            os.pwrite(fd, record.numpy().tobytes(), slot * slot_bytes)
            entry.update(slot=slot, rows=record.shape[0], cols=record.shape[1])
            entry["transposed"] = int(transposed)
        end = max([e["slot"] for e in entries if e["slot"] is not None], default=-1) + 1
        if os.fstat(fd).st_size < end * slot_bytes:
            os.ftruncate(fd, end * slot_bytes)  # the last slot's padding
        os.fsync(fd)  # the pixels reach the disk before the index that points at them
    finally:
        os.close(fd)
    _write_index(path, folder, side, long_side, entries)
    return entries


def _facts(decoded: Any, error: str | None) -> dict[str, Any]:
    if decoded is None:
        return {"comment": "", "gray": False, "notes": [], "error": error, "size_hw": [0, 0]}
    return {
        "comment": decoded.comment,
        "gray": decoded.gray,
        "notes": decoded.notes,
        "error": None,
        "size_hw": list(decoded.image.shape[-2:]),
    }
