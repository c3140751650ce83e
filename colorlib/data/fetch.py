"""SHA-256 checksum lists, and fetching a registered dataset file by file, each one verified.

`download(name)` works from the registry entry (`colorlib.data.registry.DATASETS`): its base
URL, its packaged checksum list in colorlib/checksums/, its mirror environment variable. Every
file is streamed into a temporary file beside its target and renamed into place only once its
hash is right, so an interrupted or corrupted transfer never leaves a bad file behind. Writes
only into the destination folder.

Mistakes the user can fix (a missing or empty mirror folder, a destination that is a file, a
corrupted copy, no network) raise `DownloadError` or `ChecksumError`, both `UserError`s with a
one-line message naming the file or folder and saying what to do.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from importlib import resources
from pathlib import Path

from tqdm.auto import tqdm

from colorlib.data.registry import DATASETS, FACES_URL, DatasetSpec
from colorlib.errors import UserError
from colorlib.files import atomic_path


class ChecksumError(UserError, ValueError):
    """A file does not match its SHA-256 checksum; the message names the file."""


class DownloadError(UserError, RuntimeError):
    """A file could not be fetched, or the source or destination given is unusable; the message
    names the file or folder and says what to do."""


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, as lowercase hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_checksums(path: str | Path) -> dict[str, str]:
    """Parse a `sha256sum` list ("<hex>  <name>" per line) into {name: hex digest}; names are
    paths relative to the list's folder ("train/a.jpg", a leading "./" dropped)."""
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
        name = parts[1].lstrip("*")
        # `sha256sum` run on "." writes "./train/a.jpg"; the file is "train/a.jpg" all the same.
        sums[name[2:] if name.startswith("./") else name] = digest
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
        if name not in missing and file_sha256(folder / name) != digest
    ]
    if missing or bad:
        problems = [f"{name} (missing)" for name in missing]
        problems += [f"{name} (SHA-256 mismatch)" for name in bad]
        raise ChecksumError(f"{folder} does not match {sums_path.name}: " + ", ".join(problems))
    return sorted(expected)


def packaged_checksums(file_name: str) -> Path:
    """The path of a checksum list shipped in colorlib/checksums/ (e.g. "faces.sha256")."""
    return Path(str(resources.files("colorlib").joinpath("checksums", file_name)))


def _fetch_verified(
    name: str, digest: str, dest: Path, source: str, from_mirror: bool, timeout: float, hint: str
) -> None:
    with atomic_path(dest / name) as tmp:
        hasher = hashlib.sha256()
        with open(tmp, "wb") as out:
            if from_mirror:
                src = open(source, "rb")
            else:
                try:
                    src = urllib.request.urlopen(source, timeout=timeout)
                except (urllib.error.URLError, OSError) as exc:
                    raise DownloadError(
                        f"could not download {name} from {source}: {exc}. {hint}"
                    ) from exc
            with src:
                for chunk in iter(lambda: src.read(1 << 16), b""):
                    hasher.update(chunk)
                    out.write(chunk)
        if hasher.hexdigest() != digest:
            raise ChecksumError(
                f"{source}: SHA-256 mismatch (a corrupted or different file), so it was not kept "
                f"in {dest}; replace it with a good copy and rerun"
            )


def _mirror_folder(mirror: str | Path | None, spec: DatasetSpec) -> Path | None:
    """The mirror folder given, else the one in the registry's environment variable, else None."""
    via = "mirror= / --mirror"
    if mirror is None and spec.mirror_env:
        mirror, via = os.environ.get(spec.mirror_env) or None, f"${spec.mirror_env}"
    if mirror is None:
        return None
    if not str(mirror).strip():
        raise DownloadError(
            f"the mirror folder given ({via}) is an empty path: name a folder holding the "
            f"{spec.name} files, or leave it out to download them"
        )
    path = Path(mirror)
    if not path.is_dir():
        raise DownloadError(
            f"mirror folder {path} (from {via}) does not exist: give a folder holding the "
            f"{spec.count} {spec.name} files, or leave it out to download them"
        )
    return path


def _destination(dest: Path) -> Path:
    if dest.exists() and not dest.is_dir():
        raise DownloadError(
            f"destination {dest} is an existing file, not a folder: give another --dest / dest= "
            "(a folder, created if missing)"
        )
    for parent in dest.parents:
        if parent.exists() and not parent.is_dir():
            raise DownloadError(
                f"destination {dest} is under {parent}, a file: give another --dest"
            )
    return dest


def _make_destination(dest: Path) -> None:
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DownloadError(
            f"cannot create the destination folder {dest} ({exc.strerror}): give another "
            "--dest / dest="
        ) from exc


def download(
    name: str,
    dest: str | Path | None = None,
    mirror: str | Path | None = None,
    progress: bool = True,
    *,
    checksums: str | Path | None = None,
    base_url: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch the registered dataset `name` into `dest` (default data/<its folder>), each file
    checked against its SHA-256; returns the folder.

    Files already in `dest` with the right hash are kept. The source is the folder `mirror`, else
    the folder in the registry entry's environment variable (faces: $COLORLIB_FACES_MIRROR,
    bsds500: $COLORLIB_BSDS500_MIRROR), else
    `base_url` (default: the entry's URL). `checksums` is the list to check against (default: the
    entry's list packaged in colorlib/checksums/); it is also written to `dest/SHA256SUMS`. With
    `progress`, a bar while fetching and then one summary line on stderr ("750 files verified in
    data/faces"). Raises `DownloadError` or `ChecksumError` (both `UserError`s, one line each).
    """
    spec = DATASETS.get(name)
    if spec is None or not spec.downloadable:
        downloadable = sorted(n for n, s in DATASETS.items() if s.downloadable)
        what = "ships with the repository" if spec is not None else "is not a registered dataset"
        raise DownloadError(
            f"{name} {what}: the datasets to download are {', '.join(downloadable)}"
        )
    dest = _destination(Path(dest) if dest is not None else Path("data") / spec.folder)
    sums_path = Path(checksums) if checksums is not None else packaged_checksums(spec.checksums)
    expected = read_checksums(sums_path)
    mirror_dir = _mirror_folder(mirror, spec)
    base_url = base_url or spec.url or ""
    todo = [
        file
        for file, digest in expected.items()
        if not ((dest / file).is_file() and file_sha256(dest / file) == digest)
    ]
    hint = "Without network, pass a mirror folder holding the files (mirror= / --mirror"
    hint += f" or ${spec.mirror_env})." if spec.mirror_env else ")."
    if mirror_dir is not None and todo:
        # Checked before copying anything, so that a wrong folder fails at once and leaves no
        # partial set behind.
        absent = [file for file in todo if not (mirror_dir / file).is_file()]
        if len(absent) == len(todo):
            raise DownloadError(
                f"mirror folder {mirror_dir} holds none of the {len(todo)} {name} files still "
                f"missing from {dest} (e.g. {todo[0]}): give the folder that holds them"
            )
        if absent:
            raise DownloadError(
                f"mirror folder {mirror_dir} lacks {len(absent)} of the {len(todo)} {name} files "
                f"still missing from {dest} (e.g. {absent[0]}): complete it or leave it out"
            )
    # Made only now: a wrong mirror or name above leaves no empty folder behind.
    _make_destination(dest)
    bar = tqdm(todo, desc=name, unit="file", disable=not progress or not todo)
    for file in bar:
        if mirror_dir is not None:
            source, from_mirror = str(mirror_dir / file), True
        else:
            source, from_mirror = base_url.rstrip("/") + "/" + file, False
        _fetch_verified(file, expected[file], dest, source, from_mirror, timeout, hint)
    sums_text = sums_path.read_bytes()
    local_sums = dest / "SHA256SUMS"
    if not local_sums.is_file() or local_sums.read_bytes() != sums_text:
        with atomic_path(local_sums) as tmp:
            tmp.write_bytes(sums_text)
    if progress and todo:
        # One line, never the file list: a later call with nothing to fetch stays silent.
        print(
            f"{name}: {len(expected)} files verified in {dest} ({len(todo)} fetched)",
            file=sys.stderr,
        )
    return dest


def download_faces(
    dest: str | Path = "data/faces",
    *,
    mirror: str | Path | None = None,
    progress: bool = True,
    checksums: str | Path | None = None,
    base_url: str = FACES_URL,
    timeout: float = 30.0,
) -> list[Path]:
    """`download("faces", ...)`, returning the paths of the 750 files as before.

    Kept for the callers of this older interface; new code calls `download("faces", ...)`, which
    returns the folder.
    """
    folder = download(
        "faces", dest, mirror, progress, checksums=checksums, base_url=base_url, timeout=timeout
    )
    sums = Path(checksums) if checksums is not None else packaged_checksums("faces.sha256")
    return [folder / name for name in read_checksums(sums)]
