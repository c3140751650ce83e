"""Which torch device a job runs on: the one owner of the DEVICE / ``--device`` setting.

A job that asks for a GPU and silently gets the CPU runs for hours instead of minutes, so a
device that was asked for but is not there is a `UserError`, never a quiet fallback.
"""

from __future__ import annotations

import torch

from colorlib.errors import UserError

ACCEPTED = "cpu, cuda, cuda:N (N = 0, 1, ...), mps, or nothing for CUDA when present"
_ASKED = "DEVICE/--device"


def pick_device(name: str | None = None) -> torch.device:
    """The device called `name`; None or "" -> CUDA when PyTorch sees a GPU, else the CPU.

    Accepts "cpu", "cuda", "cuda:N" and "mps"; anything else, or a GPU that is not there, is a
    one-line `UserError`.
    """
    if name is None or not name.strip():
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    wanted = name.strip().lower()
    if wanted == "cpu":
        return torch.device("cpu")
    if wanted == "mps":
        if not _mps_available():
            raise UserError(
                f"{_ASKED} {name!r} was asked for, but PyTorch sees no Apple GPU (MPS): stopping "
                f"rather than silently running the job on the CPU; ask for cpu, or leave the "
                f"device unset"
            )
        return torch.device("mps")
    kind, colon, index = wanted.partition(":")
    if kind != "cuda" or (colon and not index.isdigit()):
        raise UserError(f"{_ASKED} {name!r} is not a device this accepts: {ACCEPTED}")
    if not torch.cuda.is_available():
        fix = (
            "check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES"
            if torch.version.cuda
            else "install a CUDA build of PyTorch"
        )
        raise UserError(
            f"{_ASKED} {name!r} was asked for, but PyTorch sees no CUDA GPU ({_build()}): stopping "
            f"rather than silently running the job on the CPU; {fix}, ask for cpu, or leave the "
            f"device unset to use a GPU only when there is one"
        )
    if index:
        count = torch.cuda.device_count()
        if int(index) >= count:
            seen = ", ".join(f"cuda:{i}" for i in range(count))
            raise UserError(
                f"{_ASKED} {name!r} was asked for, but PyTorch sees {count} CUDA GPU(s) "
                f"({seen}); ask for one of those"
            )
        return torch.device("cuda", int(index))
    return torch.device("cuda")


def _build() -> str:
    """What this PyTorch was built for: "torch 2.5.1 built for CUDA 12.4" or "..., CPU-only"."""
    cuda = torch.version.cuda
    return f"torch {torch.__version__} " + (f"built for CUDA {cuda}" if cuda else "CPU-only build")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())
