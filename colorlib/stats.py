"""How sure a mean over a few test images is: bootstrap intervals and paired differences.

A report scores each method on the same test images, so two methods are compared image by image
(the paired difference), not by their means alone: the images differ far more from each other
than the methods do. Every function is deterministic (a fixed seed), so a report regenerated
from the same numbers says the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000
# With n pairs whose differences all share one sign, every bootstrap mean shares it too, so
# the percentile interval excludes 0 however small n is. A sign test first reaches p < 0.05
# (two-sided) for such a result at n = 6 (2 / 2^6 = 0.031): below that no difference is claimed.
MIN_PAIRS = 6


def _finite(values: Sequence[float], name: str = "values") -> np.ndarray:
    array = np.asarray(values, dtype=np.float64).ravel()
    if array.size == 0:
        raise ValueError(f"{name} is empty: a bootstrap needs at least one value")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return array


def bootstrap_means(values: Sequence[float], n: int = RESAMPLES, seed: int = 0) -> np.ndarray:
    """The means of `n` resamples (with replacement, same size) of `values`."""
    array = _finite(values)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, array.size, size=(n, array.size))
    return array[picks].mean(axis=1)


def bootstrap_interval(
    values: Sequence[float], level: float = LEVEL, n: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` at `level` (0.95: 95%)."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    tail = (1 - level) / 2
    lo, hi = np.quantile(bootstrap_means(values, n, seed), [tail, 1 - tail])
    return float(lo), float(hi)


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    level: float = LEVEL,
    n: int = RESAMPLES,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Mean of a - b over pairs (one pair per image) and the bootstrap interval of that mean."""
    first, second = _finite(a, "a"), _finite(b, "b")
    if first.size != second.size:
        raise ValueError(f"a and b must pair up, got {first.size} and {second.size} values")
    diff = first - second
    lo, hi = bootstrap_interval(diff, level, n, seed)
    return float(diff.mean()), lo, hi


@dataclass(frozen=True)
class Difference:
    """The mean paired difference a - b, its interval, and on how many pairs a < b."""

    mean: float
    lo: float
    hi: float
    pairs: int
    lower: int  # pairs with a < b
    level: float = LEVEL

    @property
    def supported(self) -> bool:
        """Whether the data back a difference: the interval excludes 0, on enough pairs."""
        return self.pairs >= MIN_PAIRS and (self.lo > 0 or self.hi < 0)


def compare(
    a: Sequence[float],
    b: Sequence[float],
    level: float = LEVEL,
    n: int = RESAMPLES,
    seed: int = 0,
) -> Difference:
    """`paired_difference` of a and b, with the counts a reader needs to judge it."""
    mean, lo, hi = paired_difference(a, b, level, n, seed)
    lower = int((np.asarray(a, dtype=np.float64) < np.asarray(b, dtype=np.float64)).sum())
    return Difference(mean, lo, hi, len(a), lower, level)


def verdict(
    diff: Difference, lower: str = "lower than", higher: str = "higher than", other: str = "b"
) -> str:
    """Words for `diff` (a - b): "lower than b by X" only when the data support it, otherwise
    "not distinguishable from b", each with the difference and its interval."""
    spread = (
        f"difference {diff.mean:+.2f}, {diff.level:.0%} interval [{diff.lo:+.2f}, {diff.hi:+.2f}]"
    )
    if diff.supported:
        word = lower if diff.mean < 0 else higher
        return f"{word} {other} by {abs(diff.mean):.2f} ({spread})"
    if diff.pairs < MIN_PAIRS:
        spread += f"; {diff.pairs} images are too few to tell"
    return f"not distinguishable from {other} ({spread})"
