"""`BatchLoader`: batches of {"L", "ab", "rgb"} cut from in-memory uint8 images, and
`augment_examples`, a few training crops as a batch would draw them.

The sets are small (24 Kodak photos, 750 faces), so every image stays in memory and a batch is
cut, resized, augmented and converted to Lab as whole tensors: no worker processes, no
per-sample Python colour conversion. The random draws depend only on (seed, epoch). Uses the
crop geometry (`colorlib.data.crops`), `Augment` and the fast Lab conversion
(`colorlib.fastlab`); no files.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from colorlib.color import to_uint8
from colorlib.data.augment import Augment
from colorlib.data.crops import Box, centre_box, random_boxes, render, render_crops, resize_layout
from colorlib.data.store import StoredImages
from colorlib.fastlab import Scratch, model_input


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # Mix (seed, epoch) so neighbouring seeds and epochs give unrelated streams.
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


class BatchLoader:
    """Batches of {"L", "ab", "rgb"} cut from in-memory uint8 images, converted on `device`.

    Training: `samples_per_epoch` (default: one per image) random square crops, side drawn in
    [crop_min_frac, 1] x min(H, W) at a uniform position, resized to `size` (antialiased
    bilinear), then `augment` on the whole batch; images are visited in shuffled passes and every
    batch is full, so an epoch is ceil(samples / batch_size) batches. Evaluation: each image once,
    in order, centre square crop resized to `size` (the last batch may be short).
    The draws depend only on (seed, epoch): each iteration uses the current epoch and then moves
    to the next; `set_epoch(e)` chooses the epoch of the next iteration.

    `images` may be a `StoredImages` (a set larger than memory): each batch then reads its own
    images from disk. `shard` (rank, world): in training each rank draws the same global batches
    and keeps its block of batch_size / world of every one, so N ranks together see what one
    process would; in evaluation rank r gets images r, r + world, ...
    """

    def __init__(
        self,
        images: Sequence[Tensor],
        *,
        size: int,
        batch_size: int = 16,
        samples_per_epoch: int | None = None,
        train: bool = True,
        augment: Augment | None = None,
        seed: int = 0,
        device: str | torch.device = "cpu",
        crop_min_frac: float = 0.5,
        names: Sequence[str] | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if len(images) == 0:
            raise ValueError("images is empty")
        if size < 1 or batch_size < 1:
            raise ValueError(f"size and batch_size must be >= 1, got {size} and {batch_size}")
        if not 0.0 < crop_min_frac <= 1.0:
            raise ValueError(f"crop_min_frac must be in (0, 1], got {crop_min_frac}")
        if samples_per_epoch is not None and samples_per_epoch < 1:
            raise ValueError(f"samples_per_epoch must be >= 1, got {samples_per_epoch}")
        if names is not None and len(names) != len(images):
            raise ValueError(f"got {len(names)} names for {len(images)} images")
        rank, world = shard
        if not 0 <= rank < world or batch_size % world:
            raise ValueError(f"shard {shard}: need 0 <= rank < world dividing {batch_size}")
        self.shard = shard
        self.device = torch.device(device)
        if isinstance(images, StoredImages):
            # Checked when stored (uint8, short side = the store's side); read per batch.
            self.shapes = images.shapes
            smallest = min(min(shape) for shape in self.shapes)
            if smallest < size:
                raise ValueError(f"stored images are {smallest} px, below the crop size {size}")
        for i, image in enumerate(() if isinstance(images, StoredImages) else images):
            label = names[i] if names is not None else f"image {i}"
            if image.dtype != torch.uint8 or image.dim() != 3 or image.shape[0] != 3:
                raise ValueError(
                    f"{label}: expected a uint8 tensor (3, H, W), got {image.dtype} "
                    f"{tuple(image.shape)}"
                )
            if min(image.shape[-2:]) < size:
                h, w = image.shape[-2:]
                raise ValueError(f"{label}: {w}x{h} is smaller than the crop size {size}")
        if not isinstance(images, StoredImages):
            # The whole set sits in memory; move it once rather than per batch.
            images = [resize_layout(image.to(self.device)) for image in images]
            self.shapes = [(int(im.shape[-2]), int(im.shape[-1])) for im in images]
        self.images: Sequence[Tensor] = images
        self.size = size
        self.batch_size = batch_size
        self.samples_per_epoch = samples_per_epoch
        self.train = train
        self.augment = augment
        self.seed = seed
        self.crop_min_frac = crop_min_frac
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose random draws the next iteration uses."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        if not self.train:
            rank, world = self.shard
            return math.ceil(len(range(rank, len(self.images), world)) / (self.batch_size // world))
        return math.ceil((self.samples_per_epoch or len(self.images)) / self.batch_size)

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        # A generator: the draws happen at the first next(), after any set_epoch() the training
        # loop makes between creating the iterator and starting the epoch.
        plans = self._plan()
        # Intermediate buffers reused from batch to batch (each iterator has its own); the
        # tensors yielded are always new.
        scratch: Scratch = {}
        for (_, boxes, params), images in zip(plans, self._images_of(plans), strict=True):
            if params is not None and self.augment is not None:
                rgb = self.augment.apply_to_batch(
                    render_crops(images, boxes, self.size), params, scratch
                )
            else:
                rgb = render(images, boxes, self.size)
            yield self._batch(rgb, scratch)

    def _plan(self) -> list[tuple[list[int], list[Box], dict[str, Tensor] | None]]:
        """This iteration's batches: (image indices, crop boxes, augmentation draws) each."""
        shapes, (rank, world) = self.shapes, self.shard
        per = self.batch_size // world
        if not self.train:
            mine = list(range(rank, len(self.images), world))
            batches = [mine[start : start + per] for start in range(0, len(mine), per)]
            return [(idx, [centre_box(*shapes[i]) for i in idx], None) for idx in batches]
        epoch, self.epoch = self.epoch, self.epoch + 1
        generator = _epoch_generator(self.seed, epoch)
        n_total = len(self) * self.batch_size
        n = len(self.images)
        passes = [torch.randperm(n, generator=generator) for _ in range(math.ceil(n_total / n))]
        order = torch.cat(passes)[:n_total].tolist()
        u = torch.rand(n_total, 3, generator=generator, dtype=torch.float64)
        params = self.augment.sample(n_total, generator) if self.augment is not None else None
        plans = []
        for first in range(0, n_total, self.batch_size):
            start = first + rank * per  # this rank's block of the global batch
            idx = order[start : start + per]
            part = slice(start, start + len(idx))
            boxes = random_boxes([shapes[i] for i in idx], u[part], self.crop_min_frac)
            drawn = {k: v[part] for k, v in params.items()} if params is not None else None
            plans.append((idx, boxes, drawn))
        return plans

    def _images_of(self, plans: list) -> Iterator[list[Tensor]]:
        """Each plan's images. From a store on disk, the next batch's records are read in a
        background thread while this batch is cut and converted (the read waits on the disk,
        not on Python), so a cold disk costs little more than a warm page cache."""
        if not isinstance(self.images, StoredImages):
            for idx, _, _ in plans:
                yield [self.images[i] for i in idx]
            return
        with ThreadPoolExecutor(1, thread_name_prefix="colorlib-read-ahead") as pool:
            ahead = [pool.submit(self._read, idx) for idx, _, _ in plans[:1]]
            for k in range(len(plans)):
                images = ahead.pop().result()
                if k + 1 < len(plans):
                    ahead.append(pool.submit(self._read, plans[k + 1][0]))
                yield images

    def _read(self, idx: list[int]) -> list[Tensor]:
        assert isinstance(self.images, StoredImages)
        return [resize_layout(image.to(self.device)) for image in self.images.read(idx)]

    @staticmethod
    def _batch(rgb: Tensor, scratch: Scratch) -> dict[str, Tensor]:
        # The batches never need gradients: the fast twin of color.rgb_to_model_input, reusing
        # the loop's buffers.
        L, ab = model_input(rgb, scratch)
        return {"L": L, "ab": ab, "rgb": rgb}


def augment_examples(
    image: Tensor, n: int, *, size: int, seed: int = 0, augment: Augment | None = None
) -> list[Tensor]:
    """`n` augmented training crops of one uint8 image, as a training batch would draw them."""
    loader = BatchLoader(
        [image],
        size=size,
        batch_size=n,
        samples_per_epoch=n,
        train=True,
        augment=augment or Augment(),
        seed=seed,
    )
    return list(to_uint8(next(iter(loader))["rgb"]))
