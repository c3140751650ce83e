"""Files written safely (all or nothing, ordinary permissions) and torch files read safely."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from colorlib.errors import UserError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; when the block succeeds, move it into place.

    An interrupted or failing write never leaves a truncated file, and never replaces a good
    one. The result gets the usual permissions (0666 less the umask), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_torch(path: str | Path, what: str = "checkpoint") -> Any:
    """``torch.load(path, weights_only=True)``, with one-line `UserError`s naming the file.

    Never relays torch's advice to retry with ``weights_only=False``: a file that needs it is
    not one of ours, and loading it would run arbitrary code.
    """
    import pickle
    import zipfile

    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} {path} does not exist")
    truncated = UserError(
        f"{path} is unreadable, probably truncated by an interrupted copy or run: delete it "
        f"(or copy it again) and rerun"
    )
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        if path.read_bytes()[:4] == b"PK\x03\x04":  # a zip's start without its end
            raise truncated
        raise UserError(f"{path} is not a PyTorch file ({_looks_like(path)}); expected a {what}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise UserError(
            f"{path} holds Python objects besides tensors and plain data; colorlib loads only "
            f"files it wrote itself, so this is not a colorlib {what}"
        ) from err
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile) as err:
        raise truncated from err


def _looks_like(path: Path) -> str:
    head = path.read_bytes()[:8]
    kinds = {
        b"\x89PNG": "it is a PNG image",
        b"\xff\xd8\xff": "it is a JPEG image",
        b"GIF8": "it is a GIF image",
        b"%PDF": "it is a PDF",
    }
    for magic, kind in kinds.items():
        if head.startswith(magic):
            return kind
    return "not a zip archive as torch.save writes"
