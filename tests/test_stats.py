"""Bootstrap intervals and paired differences on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from colorlib import stats


def normal(mean, sd, size, seed):
    return np.random.default_rng(seed).normal(mean, sd, size)


def spread(diff):
    return f"difference {diff.mean:+.2f}, 95% interval [{diff.lo:+.2f}, {diff.hi:+.2f}]"


def test_the_interval_of_the_mean_has_the_width_of_its_standard_error():
    values = normal(10.0, 1.0, 400, seed=1)
    lo, hi = stats.bootstrap_interval(values)
    assert lo < values.mean() < hi
    # 2 x 1.96 x 1 / sqrt(400) = 0.196: an interval of the values (about 3.9) or of the
    # standard deviation would fail this.
    assert 0.16 < hi - lo < 0.23


def test_the_95_percent_interval_covers_the_true_mean_about_95_times_in_100():
    covered = [
        lo <= 5.0 <= hi
        for lo, hi in (
            stats.bootstrap_interval(normal(5.0, 2.0, 30, seed=s), n=500, seed=s)
            for s in range(300)
        )
    ]
    # The percentile bootstrap runs a little short at n = 30 (about 93%); 80% or 100% is a bug.
    assert 0.89 <= np.mean(covered) <= 0.98


def test_the_same_inputs_give_the_same_interval_and_another_seed_another():
    values = normal(0.0, 1.0, 25, seed=2)
    assert stats.bootstrap_interval(values) == stats.bootstrap_interval(values)
    assert stats.paired_difference(values, values[::-1]) == stats.paired_difference(
        values, values[::-1]
    )
    assert stats.bootstrap_interval(values, seed=1) != stats.bootstrap_interval(values, seed=0)


def test_a_clearly_lower_method_is_supported_image_by_image():
    # The images differ far more (sd 5) than the methods (0.3 apart, noise 0.1): only the
    # pairing shows the difference.
    images = normal(12.0, 5.0, 24, seed=3)
    a = images + normal(0.0, 0.1, 24, seed=4)
    b = images + 0.3 + normal(0.0, 0.1, 24, seed=5)
    mean, lo, hi = stats.paired_difference(a, b)
    assert mean == pytest.approx(np.mean(a - b))
    assert -0.45 < lo < mean < hi < -0.15
    diff = stats.compare(a, b)
    assert diff.supported and diff.pairs == 24 and diff.lower >= 20
    text = stats.verdict(diff, "better than", "worse than", "gray")
    assert text == f"better than gray by {-diff.mean:.2f} ({spread(diff)})"
    # Unpaired (b shuffled against a) the same two sets of numbers support nothing.
    shuffled = np.random.default_rng(6).permutation(b)
    assert not stats.compare(a, shuffled).supported


def test_two_methods_alike_in_distribution_are_not_told_apart():
    a = normal(11.0, 2.0, 40, seed=7)
    b = normal(11.0, 2.0, 40, seed=8)
    diff = stats.compare(a, b)
    assert diff.lo < 0 < diff.hi and not diff.supported
    text = stats.verdict(diff, "better than", "worse than", "gray")
    assert text == f"not distinguishable from gray ({spread(diff)})"
    same = stats.compare(a, a)
    assert (same.mean, same.lo, same.hi, same.supported) == (0.0, 0.0, 0.0, False)


def test_a_few_images_never_support_a_claim_even_when_all_agree():
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 3.0, 4.0, 5.5]
    diff = stats.compare(a, b)
    assert diff.hi < 0  # every resample agrees ...
    assert not diff.supported  # ... but 4 images are too few (sign test p = 0.125)
    assert "4 images are too few to tell" in stats.verdict(diff)
    six = stats.compare([*a, 5.0, 6.0], [*b, 6.0, 7.0])
    assert six.supported and six.pairs == stats.MIN_PAIRS


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="pair up"):
        stats.paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="NaN"):
        stats.bootstrap_interval([1.0, float("nan")])
    with pytest.raises(ValueError, match="empty"):
        stats.bootstrap_interval([])
    with pytest.raises(ValueError, match="level"):
        stats.bootstrap_interval([1.0], level=95)
