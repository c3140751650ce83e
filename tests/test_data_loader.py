"""colorlib.data.loader, crops and augment: batches, crop geometry, batched augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from colorlib import color, fastlab
from colorlib.color import to_float, to_uint8
from colorlib.data import Augment, BatchLoader, centre_square, load_images, offline_augment
from colorlib.data.augment import affine_grid
from colorlib.data.crops import random_boxes


def chw(image) -> torch.Tensor:
    return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)


@pytest.fixture(scope="module")
def mixed(make_photo) -> list[torch.Tensor]:
    """Colour photos of different sizes and both orientations."""
    sizes = [(72, 48), (48, 72), (64, 64), (90, 50), (50, 90)]  # (w, h)
    return [chw(make_photo(None, size=size, seed=i)) for i, size in enumerate(sizes)]


def batches(loader: BatchLoader) -> list[dict[str, torch.Tensor]]:
    return list(loader)


# --- BatchLoader ----------------------------------------------------------------------------------


def test_loader_batch_shapes_and_ranges(mixed):
    loader = BatchLoader(
        mixed, size=32, batch_size=4, samples_per_epoch=10, train=True, augment=Augment(), seed=0
    )
    assert len(loader) == 3
    out = batches(loader)
    assert len(out) == 3
    for batch in out:
        assert batch["L"].shape == (4, 1, 32, 32) and batch["ab"].shape == (4, 2, 32, 32)
        assert batch["rgb"].shape == (4, 3, 32, 32)
        assert batch["L"].min() >= -1 and batch["L"].max() <= 1
        assert batch["rgb"].min() >= 0 and batch["rgb"].max() <= 1
        L, ab = fastlab.model_input(batch["rgb"])
        assert torch.equal(L, batch["L"]) and torch.equal(ab, batch["ab"])
        # ... and the reference conversion's values, up to float32 rounding.
        ref_L, ref_ab = color.rgb_to_model_input(batch["rgb"])
        torch.testing.assert_close(batch["L"], ref_L, atol=1e-5, rtol=0)
        torch.testing.assert_close(batch["ab"], ref_ab, atol=1e-5, rtol=0)


def test_loader_deterministic_per_seed_and_epoch(mixed):
    def make(seed: int) -> BatchLoader:
        return BatchLoader(mixed, size=32, batch_size=5, train=True, augment=Augment(), seed=seed)

    a, b = make(7), make(7)
    first = batches(a)
    assert all(torch.equal(x["rgb"], y["rgb"]) for x, y in zip(first, batches(b), strict=True))
    a.set_epoch(1)
    second = batches(a)
    assert not torch.equal(first[0]["rgb"], second[0]["rgb"])
    a.set_epoch(0)
    assert torch.equal(batches(a)[0]["rgb"], first[0]["rgb"])
    # Without set_epoch each pass moves on to the next epoch.
    b.set_epoch(1)
    assert torch.equal(batches(b)[0]["rgb"], second[0]["rgb"])
    assert not torch.equal(batches(b)[0]["rgb"], second[0]["rgb"])
    assert not torch.equal(batches(make(8))[0]["rgb"], first[0]["rgb"])


@pytest.mark.parametrize("train", [True, False])
def test_loader_batches_stay_valid_while_iterating(mixed, train):
    # The loader reuses scratch buffers from batch to batch: what it yields must not share them.
    def make() -> BatchLoader:
        return BatchLoader(mixed, size=32, batch_size=2, train=train, augment=Augment(), seed=2)

    kept = batches(make())
    copied = [{k: v.clone() for k, v in batch.items()} for batch in make()]
    assert len(kept) == len(copied) == 3
    for a, b in zip(kept, copied, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("L", "ab", "rgb"))
    assert not torch.equal(kept[0]["rgb"], kept[1]["rgb"])


def test_loader_crops_whole_square_image_when_min_frac_is_one(make_photo):
    image = chw(make_photo(None, size=(32, 32), seed=9))
    loader = BatchLoader([image], size=32, batch_size=2, train=True, crop_min_frac=1.0, seed=0)
    batch = next(iter(loader))
    assert torch.equal(batch["rgb"], to_float(image).expand(2, 3, 32, 32))


def test_random_boxes_cover_the_allowed_range():
    u = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    boxes = random_boxes([(60, 100)] * 2000, u, 0.5)
    sides = [side for _, _, side in boxes]
    assert min(sides) == 30 and max(sides) == 60
    assert all(0 <= top <= 60 - s and 0 <= left <= 100 - s for top, left, s in boxes)
    assert max(left for _, left, s in boxes if s == 30) > 60  # positions reach the far side


def test_eval_mode_centre_crop_in_order(mixed):
    # Pixel noise, not a smooth photo: the antialiased and the aliased resize must differ.
    noise = np.random.default_rng(3).integers(0, 256, (50, 90, 3), dtype=np.uint8)
    images = [*mixed[:3], torch.from_numpy(noise).permute(2, 0, 1), mixed[4]]
    loader = BatchLoader(images, size=32, batch_size=2, train=False, augment=Augment(), seed=0)
    out = batches(loader)
    assert len(loader) == 3 and [b["rgb"].shape[0] for b in out] == [2, 2, 1]
    crop = to_float(images[3][:, :, 20:70])[None]  # 50 x 90: the centre square, columns 20..70
    expected = F.interpolate(crop, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.allclose(out[1]["rgb"][1], expected[0], atol=1.5 / 255)
    aliased = F.interpolate(crop, size=(32, 32), mode="bilinear", antialias=False)
    assert (out[1]["rgb"][1] - aliased[0]).abs().max() > 10 / 255
    assert torch.equal(batches(loader)[1]["rgb"], out[1]["rgb"])  # no randomness in eval


@pytest.mark.slow
def test_loader_on_kodak_mixed_orientations(tmp_path):
    kodak = load_images("kodak24", cache_dir=tmp_path, progress=False)
    picked = [kodak.images[i] for i in (5, 6, 7, 8)]
    assert {tuple(image.shape) for image in picked} == {(3, 512, 768), (3, 768, 512)}
    loader = BatchLoader(picked, size=64, batch_size=4, augment=Augment(), seed=1)
    batch = next(iter(loader))
    assert batch["L"].shape == (4, 1, 64, 64)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loader_on_cuda_matches_cpu(mixed):
    def first(device: str) -> dict[str, torch.Tensor]:
        loader = BatchLoader(mixed, size=32, batch_size=5, augment=Augment(), device=device)
        return next(iter(loader))

    cpu, gpu = first("cpu"), first("cuda")
    assert gpu["L"].device.type == "cuda" and gpu["ab"].shape == (5, 2, 32, 32)
    # The CPU path rounds the resized crops to uint8; the GPU path stays in float.
    assert torch.allclose(cpu["rgb"], gpu["rgb"].cpu(), atol=2 / 255)


def test_loader_rejects_non_uint8():
    with pytest.raises(ValueError, match="x.png: expected a uint8 tensor"):
        BatchLoader([torch.zeros(3, 40, 40)], size=32, names=["x.png"])


def test_centre_square_is_what_an_evaluation_batch_shows(make_photo):
    image = chw(make_photo(None, size=(60, 40), seed=3))
    square = centre_square(image, 24)
    assert square.shape == (3, 24, 24) and square.dtype == torch.uint8
    batch = next(iter(BatchLoader([image], size=24, batch_size=1, train=False)))
    assert (to_uint8(batch["rgb"])[0].int() - square.int()).abs().max() <= 1


# --- Augment --------------------------------------------------------------------------------------


def test_augment_flips_per_sample():
    x = torch.rand(2, 3, 8, 8)
    aug = Augment(hflip=True, vflip=False, max_rotation_deg=0.0, brightness=None)
    params = {
        "hflip": torch.tensor([True, False]),
        "vflip": torch.tensor([True, True]),
        "angle": torch.zeros(2),
        "brightness": torch.ones(2),
    }
    out = aug.apply(x, params)
    assert torch.equal(out[0], x[0].flip(-1)) and torch.equal(out[1], x[1])
    out = Augment(hflip=False, vflip=True, max_rotation_deg=0.0, brightness=None).apply(x, params)
    assert torch.equal(out, x.flip(-2))


def test_augment_flips_folded_into_rotation_grid():
    x = torch.rand(3, 3, 8, 8)
    params = {
        "hflip": torch.tensor([True, False, True]),
        "vflip": torch.tensor([False, True, True]),
        "angle": torch.zeros(3),
        "brightness": torch.ones(3),
    }
    out = Augment(brightness=None).apply(x, params)
    assert torch.allclose(out[0], x[0].flip(-1), atol=1e-6)
    assert torch.allclose(out[1], x[1].flip(-2), atol=1e-6)
    assert torch.allclose(out[2], x[2].flip(-1, -2), atol=1e-6)
    out = Augment(hflip=False, brightness=None).apply(x, params)
    assert torch.allclose(out[0], x[0], atol=1e-6)


def test_augment_rotation_and_brightness():
    x = torch.rand(2, 3, 8, 8)
    params = {
        "hflip": torch.tensor([False, False]),
        "vflip": torch.tensor([False, False]),
        "angle": torch.tensor([90.0, 0.0]),
        "brightness": torch.tensor([1.0, 0.5]),
    }
    out = Augment(hflip=False, vflip=False, max_rotation_deg=90.0).apply(x, params)
    rotated = [torch.rot90(x[0], k, dims=(1, 2)) for k in (1, -1)]
    assert any(torch.allclose(out[0], r, atol=1e-5) for r in rotated)
    assert torch.allclose(out[1], x[1] * 0.5, atol=1e-6)


def test_augment_draws_in_range():
    params = Augment().sample(4000, torch.Generator().manual_seed(0))
    assert params["angle"].abs().max() <= 10 and params["angle"].abs().max() > 9.9
    assert params["brightness"].min() >= 0.6 and params["brightness"].max() <= 1.0
    assert 0.45 < params["hflip"].float().mean() < 0.55
    assert 0.45 < params["vflip"].float().mean() < 0.55


def test_offline_augment(mixed):
    out = offline_augment(mixed[:3], copies=4, size=40, seed=0)
    assert len(out) == 12
    assert all(t.dtype == torch.uint8 and t.shape == (3, 40, 40) for t in out)
    assert not torch.equal(out[0], out[1])
    again = offline_augment(mixed[:3], copies=4, size=40, seed=0)
    assert all(torch.equal(a, b) for a, b in zip(out, again, strict=True))
    assert offline_augment(mixed[:1], copies=2)[0].shape == (3, 48, 48)  # default: short side


def test_affine_grid_matches_torch():
    theta = torch.randn(4, 2, 3, generator=torch.Generator().manual_seed(0))
    for h, w in ((7, 9), (32, 32), (1, 5)):
        expected = F.affine_grid(theta, [4, 3, h, w], align_corners=False)
        assert torch.allclose(affine_grid(theta, h, w), expected, atol=1e-6)


@pytest.mark.parametrize("rotation", [10.0, 0.0])
def test_loader_augment_path_matches_apply(rotation):
    # The loader converts, darkens and rotates the uint8 crops in fewer passes; the result must
    # be Augment.apply's.
    gen = torch.Generator().manual_seed(3)
    crops = torch.randint(0, 256, (6, 3, 24, 24), dtype=torch.uint8, generator=gen)
    crops = crops.contiguous(memory_format=torch.channels_last)  # as the CPU resize leaves them
    aug = Augment(max_rotation_deg=rotation)
    params = aug.sample(6, gen)
    expected = aug.apply(to_float(crops), params)
    for batch in (crops, to_float(crops)):
        out = aug.apply_to_batch(batch, params)
        assert out.dtype == torch.float32 and out.is_contiguous()
        assert torch.allclose(out, expected, atol=1e-5, rtol=0)
        assert out.min() >= 0 and out.max() <= 1
