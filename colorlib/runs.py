"""A notebook's run folder: its figures, tables, loss histories and `metrics.json`."""

from __future__ import annotations

import io
import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from colorlib.files import atomic_path


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """What the numbers were measured on: hardware, versions, date."""
    import ignite
    import torchvision

    device = torch.device(device)
    info: dict[str, Any] = {
        "device": str(device),
        "hardware": _hardware(device),
        "cpu_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "ignite": ignite.__version__,
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }
    return info


def _hardware(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} logical cores"


def write_json(path: str | Path, payload: Any) -> Path:
    """Write JSON atomically, so a killed run never leaves a truncated metrics file."""
    path = Path(path)
    text = json.dumps(payload, indent=2, sort_keys=False, default=_jsonable) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, np.generic | torch.Tensor):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def save_png(fig, path: str | Path, dpi: int = 90):
    """Save a matplotlib figure as a palette-quantized PNG, close it, return its RGB image."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    rgb = Image.open(buffer).convert("RGB")
    # An adaptive 256-colour palette with dithering: photos keep their gradients (no banding)
    # at a fraction of a true-colour PNG's size.
    palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    return rgb


class Run:
    """The folder one notebook writes into: ``<out_dir>``.

    Figures go to ``figures/<name>.png``, tables to ``<name>.csv``, and `finish` writes
    ``metrics.json`` with the environment and the wall time since the run began.
    """

    def __init__(self, out_dir: str | Path, notebook: str, **facts: Any) -> None:
        self.dir = Path(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.notebook = notebook
        self.facts = facts
        self.started = time.perf_counter()

    def path(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def figure(self, fig, name: str, dpi: int = 90):
        """Save `fig` as ``figures/<name>.png``, close it, and return it for the notebook to show.

        The PNG is palette-quantized and the notebook shows a JPEG of it: photo grids stay a
        few hundred kB, so the committed report stays small.
        """
        path = self.path("figures", f"{name}.png")
        rgb = save_png(fig, path, dpi)
        try:
            from IPython.display import Image as Shown
        except ImportError:  # outside Jupyter the path is what a caller needs
            return path
        jpeg = io.BytesIO()
        rgb.save(jpeg, format="JPEG", quality=85)
        return Shown(data=jpeg.getvalue(), format="jpeg")

    def table(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        frame.to_csv(self.path(f"{name}.csv"))
        return frame

    def finish(self, device: torch.device | str = "cpu", **results: Any) -> dict[str, Any]:
        payload = {
            "notebook": self.notebook,
            **self.facts,
            **results,
            "wall_seconds": round(time.perf_counter() - self.started, 1),
            "environment": environment(device),
        }
        write_json(self.dir / "metrics.json", payload)
        return payload
