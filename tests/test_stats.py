"""Tests of bandlimit.stats: Wilson and bootstrap intervals against scipy, and the verdict rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats as sps

from bandlimit.stats import bootstrap_interval, difference_interval, judge, wilson_interval


@pytest.mark.parametrize(("k", "n"), [(0, 10), (1, 10), (5, 10), (10, 10), (357, 1028), (0, 1), (1, 1), (87, 128)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_matches_scipy(k: int, n: int, confidence: float) -> None:
    ours = wilson_interval(k, n, confidence=confidence)
    ref = sps.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    assert ours == pytest.approx((ref.low, ref.high), abs=1e-12)
    assert 0.0 <= ours[0] <= k / n <= ours[1] <= 1.0


def test_wilson_analytic_end_points() -> None:
    # k = 0: low is 0 and high = z^2 / (n + z^2), the closed form at the boundary.
    z = 1.959963984540054
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(z * z / (10 + z * z), abs=1e-12)
    # Symmetry: the interval of n - k mirrors that of k.
    a, b = wilson_interval(3, 20)
    c, d = wilson_interval(17, 20)
    assert (a, b) == pytest.approx((1 - d, 1 - c), abs=1e-12)
    # At p = 1/2 the width has the closed form 2z sqrt(1/(4n) + z^2/(4n^2)) / (1 + z^2/n): about 1/sqrt(n).
    for n in (100, 400):
        width = np.subtract(*wilson_interval(n // 2, n)[::-1])
        assert width == pytest.approx(2 * z * math.sqrt(0.25 / n + z * z / (4 * n * n)) / (1 + z * z / n), abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "confidence"), [(-1, 5, 0.95), (6, 5, 0.95), (1, 0, 0.95), (1.0, 5, 0.95), (1, 5, 1.0), (1, 5, 0)]
)
def test_wilson_bad_input(k: object, n: object, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(k, n, confidence=confidence)  # type: ignore[arg-type]


def test_bootstrap_is_close_to_scipy_and_reproducible() -> None:
    rng = np.random.default_rng(0)
    values = rng.exponential(100.0, size=200)  # query counts: skewed
    g = torch.Generator().manual_seed(0)
    ours = bootstrap_interval(values, resamples=20_000, generator=g)
    ref = sps.bootstrap((values,), np.mean, n_resamples=20_000, method="percentile", random_state=1)
    assert ours == pytest.approx((ref.confidence_interval.low, ref.confidence_interval.high), rel=0.02)
    assert ours[0] < values.mean() < ours[1]
    again = bootstrap_interval(values, resamples=20_000, generator=torch.Generator().manual_seed(0))
    assert again == ours
    med = bootstrap_interval(values, statistic="median", generator=torch.Generator().manual_seed(1))
    assert med[0] < float(np.median(values)) < med[1]


def test_bootstrap_of_a_constant_sample_is_a_point() -> None:
    assert bootstrap_interval([5.0] * 10, generator=torch.Generator().manual_seed(0)) == (5.0, 5.0)


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [([1.0], {}, "at least 2"), ([1.0, math.nan], {}, "finite"), ([1.0, 2.0], {"statistic": "mode"}, "statistic"),
     ([1.0, 2.0], {"resamples": 10}, "resamples"), ([1.0, 2.0], {"confidence": 1.5}, "confidence")],
)  # fmt: skip
def test_bootstrap_bad_input(values: list[float], kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bootstrap_interval(values, **kwargs)


@pytest.mark.parametrize(
    ("interval", "claim", "threshold", "verdict"),
    [
        ((0.30, 0.40), ">", 0.25, "agrees"),
        ((0.30, 0.40), ">", 0.45, "disagrees"),
        ((0.30, 0.40), ">", 0.35, "inconclusive"),
        ((0.30, 0.40), "<", 0.45, "agrees"),
        ((0.30, 0.40), "<", 0.25, "disagrees"),
        ((0.30, 0.40), "<", 0.30, "inconclusive"),  # on the edge decides nothing
        ((-45.0, 30.0), "<", 0.0, "inconclusive"),  # e.g. DCT minus pixel queries, one SE apart
    ],
)
def test_judge(interval: tuple[float, float], claim: str, threshold: float, verdict: str) -> None:
    assert judge(interval, claim, threshold) == verdict


def test_judge_bad_input() -> None:
    with pytest.raises(ValueError, match="claim"):
        judge((0.1, 0.2), ">=", 0.1)
    with pytest.raises(ValueError, match="low <= high"):
        judge((0.3, 0.2), ">", 0.1)


@pytest.mark.parametrize(
    ("a", "n_a", "b", "n_b", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10, examples (a)-(e).
        (56, 70, 48, 80, (0.0524, 0.3339)),
        (9, 10, 3, 10, (0.1705, 0.8090)),
        (6, 7, 2, 7, (0.0582, 0.8062)),
        (5, 56, 0, 29, (-0.0381, 0.1926)),
        (0, 10, 0, 20, (-0.1611, 0.2775)),
    ],
)
def test_difference_interval_matches_newcombe(a: int, n_a: int, b: int, n_b: int, expected: tuple) -> None:
    low, high = difference_interval(a, n_a, b, n_b)
    assert low == pytest.approx(expected[0], abs=5e-5)
    assert high == pytest.approx(expected[1], abs=5e-5)
    assert low <= a / n_a - b / n_b <= high


def test_difference_interval_antisymmetric_and_bounded() -> None:
    low, high = difference_interval(3, 40, 31, 50)
    assert difference_interval(31, 50, 3, 40) == pytest.approx((-high, -low))
    assert difference_interval(10, 10, 0, 10)[1] <= 1.0
    assert difference_interval(0, 10, 10, 10)[0] >= -1.0
    with pytest.raises(ValueError, match="successes <= n"):
        difference_interval(5, 4, 1, 4)
