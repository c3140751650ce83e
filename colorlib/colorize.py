"""Colorize photos on disk with a trained model: ``python -m colorlib colorize``.

Inputs are files or folders of photos, gray or colour (colour ones are made gray first), of any
size. Each result is written at the input's full resolution as ``<stem>_colorized.png`` in the
output folder.

Nothing is ever lost: inputs are never overwritten, and a result never replaces a file this run
did not write unless the caller asks (``overwrite=True``, ``--overwrite``); every planned result
is checked before any work starts. A folder that is also the output folder is read without its
earlier results (``*_colorized.png``), so a second run does not colorize them again. A file that
cannot be read is reported and skipped, and the rest of the batch goes on. Every other mistake
(a missing input, a bad checkpoint or device, an output folder that cannot be written) is one
`UserError` raised before any work.

Only what colorizing needs is imported: not the training engine, ignite, pandas or matplotlib.
With ``COLORLIB_TIMINGS=1`` in the environment, one line on stderr gives the time each stage took
and the peak memory (``benchmarks/bench_colorize.py`` reads it).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image
from tqdm.auto import tqdm

from colorlib import data, devices, inference, modelfile
from colorlib.errors import UserError
from colorlib.files import atomic_path

SUFFIX = "_colorized"
# This command's results: <stem>_colorized.png, or <stem>_colorized-N.png for a repeated stem.
_OWN_RESULT = re.compile(rf".+{SUFFIX}(-\d+)?\.png", re.IGNORECASE)
TIMINGS_ENV = "COLORLIB_TIMINGS"


@dataclass(frozen=True)
class Outcome:
    source: Path
    output: Path | None  # None when the file was skipped
    error: str | None = None  # why it was skipped (the path is in `source`, not repeated here)


def find_inputs(
    inputs: Iterable[str | Path], output_dir: str | Path | None = None
) -> tuple[list[Path], list[Path]]:
    """(sources, earlier results): files as given, plus the image files (by extension) directly
    inside given folders, except, in a folder that is `output_dir`, this command's own results
    (``*_colorized.png``), which are returned second."""
    inputs = list(inputs)
    out = _resolved(Path(output_dir)) if output_dir is not None else None
    found: list[Path] = []
    own: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            try:
                files = sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in data.IMAGE_EXTENSIONS
                )
            except OSError as err:
                raise UserError(f"--input {path}: cannot list the folder ({_why(err)})") from err
            if out is not None and _resolved(path) == out:
                own.extend(p for p in files if _OWN_RESULT.fullmatch(p.name))
                files = [p for p in files if not _OWN_RESULT.fullmatch(p.name)]
            found.extend(files)
        elif path.exists():
            found.append(path)
        else:
            raise UserError(f"--input {path} does not exist")
    if not found:
        given = ", ".join(str(i) for i in inputs)
        if own:
            raise UserError(
                f"--input {given} holds only earlier results of this command (*{SUFFIX}.png), "
                f"which are not colorized again; name them as files to colorize them anyway"
            )
        extensions = " ".join(sorted(data.IMAGE_EXTENSIONS))
        raise UserError(f"--input {given}: no image files there ({extensions})")
    return found, own


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


def check_output_dir(output_dir: Path) -> None:
    """`output_dir` is a folder this process can write in, or one it can make: else a UserError.
    Makes nothing."""
    if output_dir.exists() and not output_dir.is_dir():
        raise UserError(f"--output {output_dir} is a file, not a folder: give a folder")
    existing = next(p for p in (output_dir, *output_dir.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"--output {output_dir} cannot be made: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "write in" if existing == output_dir else f"make {output_dir} in"
        raise UserError(f"--output {output_dir}: no permission to {what} {existing}")


def check_conflicts(outputs: Sequence[Path], overwrite: bool = False) -> None:
    """A UserError naming the first planned output that exists (any, without `overwrite`; a
    folder in the way even with it) and how many do."""
    folders = [p for p in outputs if p.is_dir()]
    if folders:
        raise UserError(f"{folders[0]} is a folder, where a result would go: move it away")
    if overwrite:
        return
    existing = [p for p in outputs if p.exists() or p.is_symlink()]
    if existing:
        more = f" (and {len(existing) - 1} more of the {len(outputs)} results)"
        raise UserError(
            f"{existing[0]} already exists{more if len(existing) > 1 else ''}: nothing was "
            f"written; pass --overwrite to replace {'it' if len(existing) == 1 else 'them'}, "
            f"or give another --output folder"
        )


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
    overwrite: bool = False,
) -> list[Outcome]:
    """Colorize every input photo with the model in `checkpoint`; returns one outcome each.

    Raises `UserError` before any work for a mistake in the arguments, and when a result would
    replace an existing file (unless `overwrite`).
    """
    clock = _Clock()
    dev = devices.pick_device(device)
    output_dir = Path(output)
    sources, own = find_inputs(inputs, output_dir)
    check_output_dir(output_dir)
    outputs = plan_outputs(sources, output_dir)
    check_conflicts(outputs, overwrite)
    with clock("load"):
        model, spec = modelfile.load_model(checkpoint, dev)
    if own:
        print(
            f"not colorizing {len(own)} earlier result(s) in {output_dir} (*{SUFFIX}.png); "
            f"name them as files to colorize them anyway",
            file=sys.stderr,
        )
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"--output {output_dir} cannot be made ({_why(err)})") from err
    outcomes: list[Outcome] = []
    bar = tqdm(
        list(zip(sources, outputs, strict=True)),
        desc=f"colorize ({spec.method})",
        unit="image",
        disable=not progress,
    )
    for src, dst in bar:
        try:
            with clock("decode"):
                image = data.decode_image(src).image
        except (data.ImageDecodeError, OSError, ValueError) as err:
            outcomes.append(Outcome(src, None, _reason(err, src)))
            continue
        with clock("predict"):
            result = inference.predict(model, spec, image, dev)
        del image
        try:
            with clock("encode"):
                _save_png(result, dst)
        except OSError as err:
            raise UserError(f"cannot write {dst} ({_why(err)})") from err
        outcomes.append(Outcome(src, dst))
    if os.environ.get(TIMINGS_ENV):
        print(clock.report(), file=sys.stderr)
    return outcomes


# --- helpers ------------------------------------------------------------------------------------


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()


def _why(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


def _reason(err: Exception, path: Path) -> str:
    """Why `path` was skipped, in one line that does not repeat the path."""
    if isinstance(err, data.ImageDecodeError):
        text = err.reason
    elif isinstance(err, OSError):
        text = _why(err)
    else:
        text = str(err)
    for name in {str(path), str(_resolved(path))}:
        text = re.sub(rf"\s*'?{re.escape(name)}'?:?", "", text)
    return " ".join(text.split()) or type(err).__name__


class _Clock:
    """Seconds spent per stage, for the ``COLORLIB_TIMINGS`` line: "startup" is from the start of
    the process to the call (the interpreter, imports, argument checks; -1 where unknown)."""

    def __init__(self) -> None:
        self.seconds = {"startup": _seconds_since_process_start()}
        self.seconds.update(dict.fromkeys(("load", "decode", "predict", "encode"), 0.0))

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - start

    def report(self) -> str:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
        peak_mb = peak / (1 << 20 if sys.platform == "darwin" else 1 << 10)
        stages = " ".join(f"{k}={v:.3f}" for k, v in self.seconds.items())
        return f"colorize timings (s): {stages} peak_rss_mb={peak_mb:.0f}"


def _seconds_since_process_start() -> float:
    """From /proc (Linux; 10 ms steps); -1.0 elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rpartition(")")[2].split()[19])  # field 22, starttime
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return -1.0
