"""ImageNet weights from torchvision, fetched once into torch's cache: the one owner of downloads
of pretrained networks (the perceptual loss's VGG16, the Lab GAN's ResNet-18 discriminator).

`weights_file(entry)` takes a torchvision weights entry (e.g.
``torchvision.models.VGG16_Weights.IMAGENET1K_V1``: its URL and file name come from torchvision's
weights API) and returns the file in torch's hub cache (``<torch.hub.get_dir()>/checkpoints``,
where torchvision itself keeps it), downloading it when it is missing and downloads are allowed.
A download is streamed to a temporary file and kept only if its SHA-256 starts with the digest
prefix torchvision puts in the file name (torch.hub's check), so a broken transfer leaves nothing.

Where there is no network (a cluster's compute node, CI), the caller falls back to random
weights and says so; set ``COLORLIB_OFFLINE=1`` to skip the attempt, or fetch the files once on
a machine with network (``python -c "from colorlib import pretrained; pretrained.fetch_all()"``
on a cluster's login node).
"""

from __future__ import annotations

import hashlib
import os
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from colorlib.files import atomic_path

OFFLINE_ENV = "COLORLIB_OFFLINE"
TIMEOUT_S = 30.0  # per network operation: a node whose firewall drops packets fails in seconds


@dataclass(frozen=True)
class Found:
    """The outcome of `weights_file`: the file (None when unavailable) and a sentence saying
    where it came from or why there is none."""

    path: Path | None
    status: str


def cache_path(entry: Any) -> Path:
    """Where torch's hub cache keeps the file of a torchvision weights entry."""
    name = Path(urllib.parse.urlparse(entry.url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def hash_prefix(path_or_name: str | Path) -> str:
    """The SHA-256 prefix in a torchvision file name ("vgg16-397923af.pth" -> "397923af")."""
    match = re.search(r"-([a-f0-9]{6,})\.", Path(path_or_name).name)
    if match is None:
        raise ValueError(f"{Path(path_or_name).name} carries no SHA-256 prefix in its name")
    return match.group(1)


def offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip() not in ("", "0")


def download(url: str, dest: Path, prefix: str, timeout: float = TIMEOUT_S) -> str:
    """Stream `url` into `dest` (atomically); returns the SHA-256, which must start with
    `prefix`. Raises OSError (urllib's URLError is one) or ValueError for a wrong digest."""
    digest = hashlib.sha256()
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        request = urllib.request.Request(url, headers={"User-Agent": "colorlib"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        out.close()
        if not digest.hexdigest().startswith(prefix):
            raise ValueError(
                f"{url}: SHA-256 {digest.hexdigest()} does not start with {prefix} (a corrupted "
                "or different file), so it was not kept"
            )
    return digest.hexdigest()


def weights_file(entry: Any, *, allow_download: bool = True) -> Found:
    """The cached file of torchvision weights `entry`, downloaded first if need be and allowed
    (not with ``$COLORLIB_OFFLINE`` set). Never raises for a network failure: the `Found`
    has no path and its status says why."""
    path = cache_path(entry)
    if path.is_file():
        return Found(path, f"ImageNet weights from torch's cache, {path}")
    if not allow_download or offline():
        why = f"${OFFLINE_ENV} is set" if offline() else "downloading was not allowed"
        return Found(None, f"{path} is not in torch's cache and {why}")
    try:
        digest = download(entry.url, path, hash_prefix(path))
    except (OSError, ValueError) as err:  # no network, a proxy's error page, a bad digest
        reason = " ".join(str(getattr(err, "reason", err)).split())
        return Found(None, f"could not download {entry.url} ({reason})")
    return Found(path, f"ImageNet weights downloaded from {entry.url} to {path} (SHA-256 {digest})")


def entries() -> dict[str, Any]:
    """The torchvision weights colorlib uses, by name."""
    import torchvision  # here: importing it costs a second that light callers do not need

    return {
        "vgg16": torchvision.models.VGG16_Weights.IMAGENET1K_V1,
        "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
    }


def fetch_all() -> dict[str, Found]:
    """Download every file `entries` names into torch's cache (run once where there is network;
    the cluster's set-up script does, before jobs on nodes without it)."""
    found = {name: weights_file(entry) for name, entry in entries().items()}
    for name, outcome in found.items():
        print(f"{name}: {outcome.status}")
    return found
