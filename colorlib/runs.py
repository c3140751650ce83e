"""A notebook's run folder: the one module that names, writes and reads the files in it.

Every file a run writes is created through a path this module hands out (`LAYOUT` lists them,
and a test checks a smoke run against it):

    metrics.json                         what the run measured, and the record of the files below
    stamp.txt                            written by ``colorlib report``: the inputs of the run
    figures/<name>.png                   figures, each recorded with its method and caption
    tables/<name>.csv                    tables, recorded likewise
    predictions/<method>/<stem>.jpg      small previews of the test predictions (report grids)
    <method>/model.pt                    the exported model (``colorlib colorize`` reads it)
    <method>/history.csv                 per-epoch losses and validation metrics
    <method>/checkpoints/*.pt            the trainer's last checkpoint and the best weights
    <method>/snapshots/epoch_<NNN>.png   fixed validation images over the epochs

`RunFolder` reads a finished run (the report uses it and nothing heavier); `Run` writes one.
"""

from __future__ import annotations

import io
import json
import os
import platform
import re
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image

from colorlib.files import atomic_path

# Largest side of the prediction previews kept for the report's grids (scores use full resolution).
PREVIEW_SIDE = 256

_NAME = r"[^/]+"
LAYOUT: dict[str, str] = {
    "metrics.json": "the run's numbers and the record of its figures, tables and methods",
    "stamp.txt": "the inputs of the run (notebook, code, parameters), for `colorlib report`",
    f"figures/{_NAME}\\.png": "a figure",
    f"tables/{_NAME}\\.csv": "a table",
    f"predictions/{_NAME}/{_NAME}\\.jpg": "a preview of one test prediction",
    f"{_NAME}/model\\.pt": "an exported model",
    f"{_NAME}/history\\.csv": "per-epoch history",
    f"{_NAME}/checkpoints/(last_checkpoint_\\d+|best_model_{_NAME})\\.pt": "a training checkpoint",
    f"{_NAME}/snapshots/epoch_\\d{{3,}}\\.png": "fixed images after one epoch",
}
_LAYOUT_RE = [re.compile(pattern) for pattern in LAYOUT]


def declared(relative: str | Path) -> bool:
    """Whether `relative` (a path inside a run folder) is one of the files of `LAYOUT`."""
    text = Path(relative).as_posix()
    return any(p.fullmatch(text) for p in _LAYOUT_RE)


class RunFolder:
    """Where each file of a run lives; reading only, so it costs nothing to make."""

    def __init__(self, root: str | Path) -> None:
        self.dir = Path(root)

    @property
    def metrics_file(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def stamp_file(self) -> Path:
        return self.dir / "stamp.txt"

    def figure_file(self, name: str) -> Path:
        return self.dir / "figures" / f"{name}.png"

    def table_file(self, name: str) -> Path:
        return self.dir / "tables" / f"{name}.csv"

    def preview_file(self, method: str, image_name: str) -> Path:
        return self.dir / "predictions" / method / f"{Path(image_name).stem}.jpg"

    def model_file(self, method: str) -> Path:
        return self.dir / method / "model.pt"

    def history_file(self, method: str) -> Path:
        return self.dir / method / "history.csv"

    def checkpoint_dir(self, method: str) -> Path:
        return self.dir / method / "checkpoints"

    def snapshot_file(self, method: str, epoch: int) -> Path:
        return self.dir / method / "snapshots" / f"epoch_{epoch:03d}.png"

    def snapshot_files(self, method: str) -> dict[int, Path]:
        """The snapshots saved so far, by epoch."""
        found = (self.dir / method / "snapshots").glob("epoch_*.png")
        return dict(sorted((int(p.stem.split("_", 1)[1]), p) for p in found))

    def read_metrics(self) -> dict[str, Any]:
        return json.loads(self.metrics_file.read_text())

    def read_previews(self, method: str, names: Sequence[str]) -> list[torch.Tensor]:
        """The saved previews of the test images `names`, as uint8 (3, H, W)."""
        return [
            torch.from_numpy(
                np.asarray(Image.open(self.preview_file(method, n)).convert("RGB")).copy()
            ).permute(2, 0, 1)
            for n in names
        ]

    def files(self) -> list[Path]:
        """Every file in the folder, relative to it (hidden temporaries excluded)."""
        return sorted(
            p.relative_to(self.dir)
            for p in self.dir.rglob("*")
            if p.is_file() and not p.name.startswith(".")
        )


class Run(RunFolder):
    """The folder one notebook writes into; `finish` writes ``metrics.json``.

    Figures and tables are recorded with the method they belong to (None: the notebook as a
    whole) and a caption, so the report places each under its method without guessing.
    """

    def __init__(self, out_dir: str | Path, notebook: str, **facts: Any) -> None:
        super().__init__(out_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.notebook = notebook
        self.facts = facts
        self.started = time.perf_counter()
        self.figures: dict[str, dict[str, Any]] = {}
        self.tables: dict[str, dict[str, Any]] = {}

    def writing(self, path: Path) -> Path:
        """`path` (from one of the methods above), with its folder made."""
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def figure(
        self,
        fig,
        name: str,
        *,
        caption: str,
        method: str | None = None,
        photo: bool = False,
        dpi: int = 90,
    ):
        """Save `fig` as ``figures/<name>.png``, record it, and return it for the notebook.

        `photo`: the figure shows the dataset's photographs (a report on a dataset whose
        photos may not be shown leaves it out). The PNG is palette-quantized and the notebook
        shows a JPEG of it: photo grids stay a few hundred kB, so the committed report stays small.
        """
        path = self.writing(self.figure_file(name))
        rgb = save_png(fig, path, dpi)
        self.figures[name] = {
            "file": path.relative_to(self.dir).as_posix(),
            "caption": caption,
            "method": method,
            "photo": photo,
        }
        try:
            from IPython.display import Image as Shown
        except ImportError:  # outside Jupyter the path is what a caller needs
            return path
        jpeg = io.BytesIO()
        rgb.save(jpeg, format="JPEG", quality=85)
        return Shown(data=jpeg.getvalue(), format="jpeg")

    def table(
        self, frame: pd.DataFrame, name: str, *, caption: str, method: str | None = None
    ) -> pd.DataFrame:
        """Save `frame` as ``tables/<name>.csv``, record it, and return it for the notebook."""
        path = self.writing(self.table_file(name))
        with atomic_path(path) as tmp:
            frame.to_csv(tmp)
        self.tables[name] = {
            "file": path.relative_to(self.dir).as_posix(),
            "caption": caption,
            "method": method,
        }
        return frame

    def save_previews(
        self, method: str, names: Sequence[str], images: Sequence[torch.Tensor]
    ) -> None:
        for name, img in zip(names, images, strict=True):
            # JPEG keeps the committed report small; scores never read these files.
            path = self.writing(self.preview_file(method, name))
            Image.fromarray(shrink(img).permute(1, 2, 0).numpy()).save(path, quality=92)

    def finish(self, device: torch.device | str = "cpu", **results: Any) -> dict[str, Any]:
        payload = {
            "notebook": self.notebook,
            **self.facts,
            **results,
            "figures": self.figures,
            "tables": self.tables,
            "wall_seconds": round(time.perf_counter() - self.started, 1),
            "environment": environment(device),
        }
        write_json(self.metrics_file, payload)
        return payload


def shrink(image: torch.Tensor, side: int = PREVIEW_SIDE) -> torch.Tensor:
    """`image` (uint8, 3 x H x W) with its longer side at most `side`, antialiased."""
    _, h, w = image.shape
    scale = side / max(h, w)
    if scale >= 1:
        return image
    size = (max(1, round(h * scale)), max(1, round(w * scale)))
    small = torch.nn.functional.interpolate(
        image[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False
    )
    return small[0].round().clamp(0, 255).to(torch.uint8)


def environment(device: torch.device | str = "cpu") -> dict[str, Any]:
    """What the numbers were measured on: hardware, versions, date."""
    device = torch.device(device)
    return {
        "device": str(device),
        "hardware": _hardware(device),
        "cpu_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "ignite": _version("pytorch-ignite"),
        "platform": platform.platform(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
    }


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


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

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    rgb = Image.open(buffer).convert("RGB")
    # An adaptive 256-colour palette with dithering: photos keep their gradients (no banding)
    # at a fraction of a true-colour PNG's size.
    palette = rgb.quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    with atomic_path(path) as tmp:
        rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(
            tmp, format="PNG", optimize=True
        )
    return rgb
