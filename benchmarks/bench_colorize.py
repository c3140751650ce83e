"""Time and peak memory of ``python -m colorlib colorize`` on one 12-megapixel photo, against
the least any such command must do.

In one run:
1. makes a 4000x3000 smooth colour JPEG in a temporary folder, and a small exported model (a
   ``unet`` with ngf 32 at size 256, the cpu profile's Pix2Pix generator width), unless
   ``--checkpoint`` names one;
2. runs the command in a fresh process with ``COLORLIB_TIMINGS=1``, so that it reports its own
   stages (start-up with the imports, checkpoint, decode, predict, encode), and measures its wall
   time and peak resident memory (the largest child's ``ru_maxrss``);
3. does the baseline by hand, here: the network's forward pass at its size, a PIL decode of the
   photo and a PNG encode of the same photo as colorized (the command's result: PIL's defaults,
   as the command writes; a colorized result takes longer to compress than the smooth photo).

It prints every figure, the ratio of the command's wall time to the baseline, and the peak memory,
against the targets: within 2x of the baseline, under 1 GB.

Run from the repository root: ``.venv/bin/python benchmarks/bench_colorize.py`` (half a minute).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from colorlib.modelfile import ModelSpec, load_model, save_model

REPO = Path(__file__).resolve().parents[1]
TARGET_RATIO = 2.0
TARGET_MB = 1024
STAGES = ("startup", "load", "decode", "predict", "encode")


def make_photo(path: Path, width: int, height: int) -> None:
    """Smooth colour fields (a random 5x4 grid of colours, bicubic-upsampled), a camera JPEG."""
    rng = np.random.default_rng(0)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8))
    coarse.resize((width, height), Image.Resampling.BICUBIC).save(path, quality=90)


def make_model(path: Path) -> None:
    kwargs = {"in_channels": 1, "out_channels": 2, "ngf": 32, "image_size": 256}
    spec = ModelSpec("pix2pix_lab", "unet", kwargs, io="lab", size=256)
    torch.manual_seed(0)
    save_model(path, spec.build(), spec)


def run_command(checkpoint: Path, photo: Path, out: Path, device: str) -> tuple[float, dict]:
    """Wall seconds of the command, and its timings line as {stage: seconds, "peak_rss_mb": MB}."""
    argv = [sys.executable, "-m", "colorlib", "colorize", "--checkpoint", str(checkpoint)]
    argv += ["--input", str(photo), "--output", str(out), "--quiet"]
    argv += ["--device", device] if device else []
    env = {**os.environ, "COLORLIB_TIMINGS": "1"}
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"the command failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    line = next(x for x in done.stderr.splitlines() if x.startswith("colorize timings"))
    return wall, {k: float(v) for k, v in re.findall(r"(\w+)=([-\d.]+)", line)}


def baseline(checkpoint: Path, photo: Path, result: Path, device: str) -> dict[str, float]:
    """Seconds of the work any colorize command must do: the forward pass (warm, best of 3),
    decoding the photo, and PNG-encoding the result (PIL's defaults, as the command does; a
    result encodes slower than a smooth photo, so it is the result's pixels that are encoded),
    plus, for reference only, PNG-encoding the photo itself."""
    model, spec = load_model(checkpoint, device or "cpu")
    zeros = torch.zeros(1, 1, spec.size, spec.size, device=next(model.parameters()).device)
    x = spec.convention.model_input(zeros)
    times = []
    with torch.no_grad():
        for _ in range(4):
            start = time.perf_counter()
            model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    start = time.perf_counter()
    with Image.open(photo) as image:
        rgb = np.asarray(image.convert("RGB"))
    decode = time.perf_counter() - start
    with Image.open(result) as image:
        colorized = np.asarray(image.convert("RGB"))
    start = time.perf_counter()
    Image.fromarray(colorized).save(io.BytesIO(), format="PNG")
    encode = time.perf_counter() - start
    start = time.perf_counter()
    Image.fromarray(rgb).save(io.BytesIO(), format="PNG")
    encode_photo = time.perf_counter() - start
    return {"forward": min(times[1:]), "decode": decode, "encode": encode, "photo": encode_photo}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", type=Path, help="an exported model.pt (default: a new unet)")
    p.add_argument("--size", default="4000x3000", help="the photo's WIDTHxHEIGHT")
    p.add_argument("--device", default="cpu", help="for the command and the baseline")
    args = p.parse_args()
    width, height = map(int, args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        photo = folder / "photo.jpg"
        make_photo(photo, width, height)
        checkpoint = args.checkpoint or folder / "model.pt"
        if args.checkpoint is None:
            make_model(checkpoint)
        _, spec = load_model(checkpoint)
        # First the command (so that the largest child is the command), then the baseline.
        wall, stages = run_command(checkpoint, photo, folder / "out", args.device)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        result = folder / "out" / f"{photo.stem}_colorized.png"
        base = baseline(checkpoint, photo, result, args.device)

    mp = width * height / 1e6
    print(
        f"photo {width}x{height} ({mp:.1f} MP) JPEG; model {spec.arch} {spec.kwargs} at {spec.size}"
    )
    print(f"device {args.device}, {torch.get_num_threads()} threads, load {os.getloadavg()[0]:.2f}")
    print(f"command: python -m colorlib colorize ... wall {wall:.2f} s")
    accounted = sum(stages[s] for s in STAGES if stages.get(s, -1) >= 0)
    parts = ", ".join(f"{s} {stages[s]:.2f}" for s in STAGES if s in stages)
    print(f"  its own breakdown (s): {parts}, exit and rest {wall - accounted:.2f}")
    print(
        f"  peak memory: {peak_mb:.0f} MB (its own report: {stages.get('peak_rss_mb', -1):.0f} MB)"
    )
    total_base = base["forward"] + base["decode"] + base["encode"]
    print(
        f"baseline by hand (s): forward {base['forward']:.3f} + decode {base['decode']:.2f} "
        f"+ PNG encode of the result {base['encode']:.2f} = {total_base:.2f} "
        f"(PNG encode of the photo itself: {base['photo']:.2f})"
    )
    ratio = wall / total_base
    print(
        f"ratio total/baseline: {ratio:.2f}x (target <= {TARGET_RATIO:g}x: "
        f"{'met' if ratio <= TARGET_RATIO else 'NOT met'}); peak memory {peak_mb:.0f} MB "
        f"(target < {TARGET_MB} MB: {'met' if peak_mb < TARGET_MB else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
