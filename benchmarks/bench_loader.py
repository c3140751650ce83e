"""Images/s of a classic per-sample loader against colorlib's BatchLoader, on data/kodak24.

Classic: a torch Dataset whose __getitem__ opens the PNG with PIL, crops/resizes/augments it with
torchvision transforms and converts it with skimage.color.rgb2lab, through a DataLoader with
num_workers=0 and batch 16. colorlib: `load_images` once (decode + cache) and `BatchLoader`.
Both yield {"L": L/50 - 1 (B,1,S,S), "ab": ab/110 (B,2,S,S), "rgb": (B,3,S,S)} with random square
crops, flips, a +-10 degree rotation and a brightness factor in [0.6, 1.0].

Run from the repository root: `.venv/bin/python benchmarks/bench_loader.py` (about a minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image
from skimage.color import rgb2lab
from torch.utils.data import DataLoader, Dataset

from colorlib.data import Augment, BatchLoader, load_images

KODAK = Path(__file__).resolve().parents[1] / "data" / "kodak24"
BATCH = 16
CROP_MIN_FRAC = 0.5


class ClassicDataset(Dataset):
    """One PNG decoded, cropped, augmented and converted to Lab per __getitem__ call."""

    def __init__(self, paths: list[Path], size: int) -> None:
        self.paths = paths
        # RandomResizedCrop draws an area fraction of the whole 3:2 image: a square of side
        # [0.5, 1] x the short side is [0.25, 1] x 2/3 of the area.
        self.transform = T.Compose(
            [
                T.RandomResizedCrop(
                    size, scale=(CROP_MIN_FRAC**2 * 2 / 3, 2 / 3), ratio=(1.0, 1.0), antialias=True
                ),
                T.RandomHorizontalFlip(),
                T.RandomVerticalFlip(),
                T.RandomRotation(10),
                T.ColorJitter(brightness=(0.6, 1.0)),
            ]
        )

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        image = self.transform(Image.open(self.paths[i]).convert("RGB"))
        rgb = np.asarray(image, dtype=np.float32) / 255.0
        lab = rgb2lab(rgb).astype(np.float32)
        return {
            "L": torch.from_numpy(lab[None, :, :, 0] / 50.0 - 1.0),
            "ab": torch.from_numpy(lab[:, :, 1:].transpose(2, 0, 1) / 110.0),
            "rgb": torch.from_numpy(rgb.transpose(2, 0, 1).copy()),
        }


def classic_loader(size: int) -> DataLoader:
    paths = sorted(KODAK.glob("*.png"))
    return DataLoader(ClassicDataset(paths, size), batch_size=BATCH, shuffle=True, num_workers=0)


def colorlib_loader(size: int, device: str, cache_dir: str) -> tuple[BatchLoader, float]:
    """The loader and the images/s of its first epoch, decoding and cache build included."""
    start = time.perf_counter()
    images = load_images(KODAK, cache_dir=cache_dir, progress=False)
    loader = BatchLoader(
        images.images,
        size=size,
        batch_size=BATCH,
        samples_per_epoch=len(images) * 4,
        train=True,
        augment=Augment(),
        seed=0,
        device=device,
        crop_min_frac=CROP_MIN_FRAC,
    )
    count = sum(batch["L"].shape[0] for batch in loader)
    _sync(device)
    return loader, count / (time.perf_counter() - start)


def rate(
    loader: DataLoader | BatchLoader, epochs: int, device: str = "cpu"
) -> tuple[float, dict[str, torch.Tensor]]:
    """Images/s over `epochs` passes, and the last batch."""
    count, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            count += batch["L"].shape[0]
    _sync(device)
    return count / (time.perf_counter() - start), batch


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds")
    parser.add_argument("--device", default="cpu", help="device of colorlib's batches")
    args = parser.parse_args()

    print(
        f"data/kodak24 (24 PNG), batch {BATCH}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, colorlib on {args.device}, "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    rows = []
    for size in args.sizes:
        classic = classic_loader(size)
        with tempfile.TemporaryDirectory() as cache_dir:
            ours, first = colorlib_loader(size, args.device, cache_dir)
        # Alternate the two so that load from other processes hits both alike; report medians.
        classic_rates, our_rates = [], []
        for _ in range(args.rounds):
            classic_rate, classic_batch = rate(classic, epochs=2)
            our_rate, our_batch = rate(ours, epochs=1, device=args.device)
            classic_rates.append(classic_rate)
            our_rates.append(our_rate)
        for key in ("L", "ab", "rgb"):  # the same kind of output from both
            assert classic_batch[key].shape[1:] == our_batch[key].shape[1:], key
        c, o = statistics.median(classic_rates), statistics.median(our_rates)
        rows.append((size, c, o, o / c, first))

    print()
    print(f"img/s: medians of {args.rounds} alternating rounds (classic: 2 passes over the 24")
    print("images; colorlib: one epoch of 96 samples, each round a new epoch, decode cache")
    print("already built). first epoch: load_images decoding the 24 PNGs and writing the cache,")
    print("then the first 96 samples.")
    header = ("size", "classic img/s", "colorlib img/s", "ratio", "first epoch")
    print("{:>5} {:>14} {:>15} {:>7} {:>12}".format(*header))
    for size, c, o, ratio, first in rows:
        print(f"{size:>5} {c:>14.1f} {o:>15.1f} {ratio:>6.1f}x {first:>12.1f}")
    print("ratios: " + ", ".join(f"{size}: {ratio:.1f}x" for size, _, _, ratio, _ in rows))


if __name__ == "__main__":
    main()
