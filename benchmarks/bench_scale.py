"""Outgrowing one machine: the disk-backed decode cache against the in-memory one, and 2-process
(gloo) training against 1 process.

`loader`: 1k, 10k and 50k synthetic 256x256 JPEGs (made once, kept in --work, default
/tmp/colorlib-bench-scale), each loaded and read by a training `BatchLoader` in a fresh process,
in memory (`load_images`, today's default) and from disk (`load_images(store_side=...)`). Each
configuration runs twice in its own process: once to build its cache (decode), once to load it
and draw --batches batches; the second gives images/s and peak resident memory (ru_maxrss), the
first the build time. The disk store is read twice: cold, its record file dropped from the page
cache first (posix_fadvise, no privileges needed), so every record comes from the disk; and warm,
the file read once first. Each row says how much of the file the page cache held (mincore).
Ratios are against the in-memory loader at the same size, or, where that is skipped for memory
(more than --memory-share of the available RAM), the largest measured.

`train`: one epoch-sized run of a small ColorNet with colorlib's Trainer, 1 process and then 2
gloo processes (each half of the same global batch), samples/s and their ratio.

Run from the repository root:
    .venv/bin/python benchmarks/bench_scale.py loader      # --counts 1000 10000 50000
    .venv/bin/python benchmarks/bench_scale.py train
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np

WORK = Path("/tmp/colorlib-bench-scale")
SIDE = 256
BASES = 256  # distinct pictures; each file also gets its own JPEG comment, so all differ


def _base_jpeg(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    coarse = Image.fromarray(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    smooth = np.asarray(coarse.resize((SIDE, SIDE), Image.Resampling.BICUBIC), dtype=np.int16)
    grain = rng.integers(-6, 7, (SIDE, SIDE, 3), dtype=np.int16)
    out = io.BytesIO()
    Image.fromarray(np.clip(smooth + grain, 0, 255).astype(np.uint8)).save(out, "JPEG", quality=90)
    return out.getvalue()


def make_folders(work: Path, counts: list[int]) -> dict[int, Path]:
    """Folder n<count> of `count` distinct JPEGs for each count; the files are made once into
    all/ and hard-linked, so a rerun costs nothing."""
    everything = work / "all"
    everything.mkdir(parents=True, exist_ok=True)
    need = max(counts)
    have = len(list(everything.iterdir()))
    if have < need:
        print(f"making {need - have} JPEGs in {everything} ...", flush=True)
        with Pool(2) as pool:
            bases = pool.map(_base_jpeg, range(BASES))
        for i in range(have, need):
            jpeg = bases[i % BASES]
            comment = f"image {i}".encode()
            # A COM segment after the SOI marker: same pixels, different bytes and SHA-256.
            segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
            (everything / f"{i:06d}.jpg").write_bytes(jpeg[:2] + segment + jpeg[2:])
    folders = {}
    for count in counts:
        folder = work / f"n{count}"
        if not folder.is_dir() or len(list(folder.iterdir())) != count:
            folder.mkdir(exist_ok=True)
            for i in range(count):
                link = folder / f"{i:06d}.jpg"
                if not link.exists():
                    os.link(everything / f"{i:06d}.jpg", link)
        folders[count] = folder
    return folders


def page_cache_share(path: Path) -> float:
    """The share of `path`'s pages in the operating system's page cache (mincore(2))."""
    import ctypes
    import mmap

    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    with open(path, "rb") as f:
        mapping = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)  # private: never written
    try:
        address = ctypes.addressof(ctypes.c_char.from_buffer(mapping))
        flags = (ctypes.c_ubyte * pages)()
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), flags) != 0:
            raise OSError(ctypes.get_errno(), "mincore failed")
        share = sum(b & 1 for b in flags) / pages
        del address  # the exported buffer must go before the mapping closes
        return share
    finally:
        mapping.close()


def set_page_cache(path: Path, state: str) -> None:
    """Make `path` cold (its pages dropped from the page cache: posix_fadvise DONTNEED, which
    needs no privileges) or warm (read once, start to end)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        if state == "cold":
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        elif state == "warm":
            while os.read(fd, 1 << 24):
                pass
    finally:
        os.close(fd)


def child_loader(
    folder: str, mode: str, size: int, batches: int, batch: int, cache: str, state: str
) -> dict:
    """In a fresh process: load the set (building or reading its cache) and draw batches; from
    the disk store, with its record file first made `state` (cold or warm) in the page cache."""
    import torch

    from colorlib.data import Augment, BatchLoader, StoredImages, load_images

    torch.set_num_threads(1)  # a 2-core machine shared with others: one core each, steadier
    start = time.perf_counter()
    side = size if mode == "disk" else None
    images = load_images(folder, cache_dir=cache, progress=False, store_side=side)
    loaded = time.perf_counter() - start
    rate, cached = 0.0, None
    if batches:
        if isinstance(images.images, StoredImages):
            set_page_cache(images.images.path, state)
            cached = page_cache_share(images.images.path)
        loader = BatchLoader(
            images.images,
            size=size,
            batch_size=batch,
            samples_per_epoch=batches * batch,
            augment=Augment(),
            seed=0,
        )
        start = time.perf_counter()
        count = sum(b["L"].shape[0] for b in loader)
        rate = count / (time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"load_s": loaded, "img_s": rate, "peak_mb": peak, "cached": cached}


def run_child(*args: str) -> dict:
    cmd = [sys.executable, __file__, "child", *args]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def available_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("inf")


def bench_loader(args: argparse.Namespace) -> None:
    folders = make_folders(args.work, args.counts)
    print(
        f"{SIDE}x{SIDE} JPEGs, crops {args.size}, batch {args.batch}, {args.batches} batches per "
        f"measurement, 1 thread per process; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    rows = []
    for count, folder in folders.items():
        for mode in ("memory", "disk"):
            # In memory: the decoded set, once in the cache file's tensors, once in the loader.
            need = 2 * count * SIDE * SIDE * 3 / 2**20
            if mode == "memory" and need > args.memory_share * available_mb():
                print(f"{count:>6} {mode}: skipped (about {need / 1024:.1f} GB resident)")
                continue
            cache = str(args.work / f"cache-{mode}")
            common = (str(folder), mode, str(args.size))
            built = run_child(*common, "0", str(args.batch), cache, "-")
            # The store is read cold (from the disk) and warm (from the page cache); in memory
            # the page cache plays no part once the set is loaded.
            for state in ("cold", "warm") if mode == "disk" else ("-",):
                m = run_child(*common, str(args.batches), str(args.batch), cache, state)
                label = mode if state == "-" else f"{mode} {state}"
                rows.append((count, label, m))
                cached = "" if m["cached"] is None else f", {m['cached']:4.0%} in page cache"
                print(
                    f"{count:>6} {label:>10}: build {built['load_s']:7.1f} s, load "
                    f"{m['load_s']:6.2f} s, {m['img_s']:7.1f} img/s, "
                    f"peak {m['peak_mb']:7.0f} MB{cached}",
                    flush=True,
                )
    print()
    header = ("images", "loader", "img/s", "peak MB", "vs memory", f"MB vs {min(folders)}")
    print("{:>6} {:>10} {:>8} {:>8} {:>10} {:>9}".format(*header))
    memory = {c: m for c, label, m in rows if label == "memory"}
    first = {label: m for _, label, m in reversed(rows)}  # each loader's smallest size
    for count, label, m in rows:
        base = memory.get(count) or memory[max(memory)]
        ratio = m["img_s"] / base["img_s"]
        mark = "" if count in memory else f" (vs memory at {max(memory)})"
        grow = m["peak_mb"] / first[label]["peak_mb"] if label != "memory" else None
        grow_text = f"{grow:8.2f}x" if grow is not None else f"{'':9}"
        print(
            f"{count:>6} {label:>10} {m['img_s']:8.1f} {m['peak_mb']:8.0f} {ratio:9.2f}x "
            f"{grow_text}{mark}"
        )


def train_job(local_rank: int, size: int, batch: int, steps: int, out: str) -> None:
    """One rank: ColorNet trained for `steps` global batches (this rank's block of each) after a
    warm-up step; rank 0 writes the samples/s of the whole group to `out`."""
    import torch
    from torch import nn

    from colorlib import distributed
    from colorlib import steps as colorlib_steps
    from colorlib.data import Augment, BatchLoader
    from colorlib.models import define_G

    torch.set_num_threads(1)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    images = [torch.from_numpy(rng.integers(0, 256, (3, SIDE, SIDE), dtype=np.uint8))
              for _ in range(64)]  # fmt: skip
    model = define_G("colornet", widths=[8, 32, 128], activation="sigmoid")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    step = colorlib_steps.supervised_step(distributed.auto_model(model), optimizer, nn.MSELoss())
    loader = BatchLoader(images, size=size, batch_size=batch, samples_per_epoch=(steps + 1) * batch,
                         augment=Augment(), seed=0)  # fmt: skip
    batches = iter(distributed.shard(loader))
    step(next(batches))  # warm-up: DDP's first step builds its buckets
    distributed.barrier()
    start = time.perf_counter()
    for b in batches:
        step(b)
    distributed.barrier()
    if distributed.rank() == 0:
        Path(out).write_text(str(steps * batch / (time.perf_counter() - start)))


def train_throughput(nproc: int, *, size: int, batch: int, steps: int) -> float:
    from colorlib import distributed

    out = Path(tempfile.mkdtemp()) / "rate.txt"
    distributed.launch(train_job, nproc, size, batch, steps, str(out), backend="gloo")
    return float(out.read_text())


def bench_train(args: argparse.Namespace) -> None:
    print(
        f"ColorNet (8, 32, 128), crops {args.size}, global batch {args.batch}, {args.steps} "
        f"steps; gloo on the CPU, 1 thread per process, {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    one = train_throughput(1, size=args.size, batch=args.batch, steps=args.steps)
    two = train_throughput(2, size=args.size, batch=args.batch, steps=args.steps)
    print(f"1 process:   {one:7.1f} samples/s")
    print(f"2 processes: {two:7.1f} samples/s")
    print(f"ratio 2/1:   {two / one:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        folder, mode, size, batches, batch, cache, state = sys.argv[2:9]
        result = child_loader(folder, mode, int(size), int(batches), int(batch), cache, state)
        print(json.dumps(result))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["loader", "train"])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--size", type=int, default=128, help="crop size (and store side)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--steps", type=int, default=30, help="train: steps per measurement")
    parser.add_argument("--memory-share", type=float, default=0.4)
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    (bench_loader if args.what == "loader" else bench_train)(args)


if __name__ == "__main__":
    main()
