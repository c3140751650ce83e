"""Colorize photos on disk with a trained model: ``python -m colorlib colorize``.

Inputs are files or folders of photos, gray or colour (colour ones are made gray first), of any
size. Each result is written at the input's full resolution as ``<stem>_colorized.png`` in the
output folder. Inputs are never overwritten; a file that cannot be read is reported and skipped,
and the rest of the batch goes on.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from colorlib import data, engine, inference
from colorlib.files import atomic_path

SUFFIX = "_colorized"


@dataclass(frozen=True)
class Outcome:
    source: Path
    output: Path | None  # None when the file was skipped
    error: str | None = None


def find_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """Files as given, plus the image files (by extension) directly inside given folders."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in data.IMAGE_EXTENSIONS
                )
            )
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    if not found:
        raise ValueError(f"no image files found in {', '.join(str(i) for i in inputs)}")
    return found


def plan_outputs(sources: Sequence[Path], output_dir: Path) -> list[Path]:
    """One output path per source: unique, and never one of the inputs."""
    taken = {p.resolve() for p in sources}
    outputs: list[Path] = []
    for src in sources:
        candidate = output_dir / f"{src.stem}{SUFFIX}.png"
        n = 2
        while candidate.resolve() in taken:
            candidate = output_dir / f"{src.stem}{SUFFIX}-{n}.png"
            n += 1
        taken.add(candidate.resolve())
        outputs.append(candidate)
    return outputs


def _save_png(image: torch.Tensor, path: Path) -> None:
    """Write atomically: an interrupted run never leaves a truncated PNG behind."""
    with atomic_path(path) as tmp:
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(tmp, format="PNG")


def colorize(
    checkpoint: str | Path,
    inputs: Sequence[str | Path],
    output: str | Path,
    *,
    device: str | None = None,
    progress: bool = True,
) -> list[Outcome]:
    """Colorize every input photo with the model in `checkpoint`; returns one outcome each."""
    dev = engine.pick_device(device)
    model, spec = inference.load_model(checkpoint, dev)
    sources = find_inputs(inputs)
    output_dir = Path(output)
    output_dir.mkdir(parents=True, exist_ok=True)
    outcomes: list[Outcome] = []
    bar = tqdm(
        list(zip(sources, plan_outputs(sources, output_dir), strict=True)),
        desc=f"colorize ({spec.method})",
        unit="image",
        disable=not progress,
    )
    for src, dst in bar:
        try:
            image = data.decode_image(src).image
        except (data.ImageDecodeError, OSError, ValueError) as err:
            outcomes.append(Outcome(src, None, str(err)))
            bar.write(f"skipped {src}: {err}")
            continue
        _save_png(inference.predict(model, spec, image, dev), dst)
        outcomes.append(Outcome(src, dst))
    return outcomes
