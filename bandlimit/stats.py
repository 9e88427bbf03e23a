"""Uncertainty for the numbers bandlimit reports, and one rule for reading a claim against them.

* :func:`wilson_interval`: the Wilson score interval of a proportion (an accuracy, a success
  rate). Unlike the normal approximation it stays inside [0, 1] and behaves at 0 and n
  successes, which small robust-accuracy samples hit often.
* :func:`bootstrap_interval`: a percentile bootstrap interval of a statistic of a sample (mean
  queries, a median), from an explicit ``torch.Generator``.
* :func:`difference_interval`: Newcombe's hybrid score interval for the difference of two
  proportions (method 10 of Newcombe 1998), built from the two Wilson intervals: for claims
  such as "model A is more accurate than model B".
* :func:`judge`: the verdict rule of the experiments: a claim that a quantity lies above (or
  below) a threshold **agrees** when the whole interval lies on the claimed side, **disagrees**
  when the whole interval lies on the other side, and is **inconclusive** otherwise: a number
  whose interval straddles the claim decides nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from statistics import NormalDist

import torch
from torch import Tensor

__all__ = ["VERDICTS", "bootstrap_interval", "difference_interval", "judge", "wilson_interval"]

#: What :func:`judge` returns.
VERDICTS = ("agrees", "disagrees", "inconclusive")


def _z(confidence: float) -> float:
    if not (isinstance(confidence, float | int) and 0.0 < confidence < 1.0):
        raise ValueError(f"confidence: expected a number in (0, 1), e.g. 0.95, got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_interval(successes: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion ``successes / n``.

    Args:
        successes: Number of successes (e.g. correctly classified images), ``0 <= successes <= n``.
        n: Number of trials, at least 1.
        confidence: Two-sided coverage, in (0, 1).

    Returns:
        ``(low, high)`` with ``0 <= low <= successes / n <= high <= 1``.

    Raises:
        ValueError: counts that are not integers with ``0 <= successes <= n`` and ``n >= 1``.
    """
    for name, value in (("successes", successes), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name}: expected an integer count, got {value!r}")
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"expected 0 <= successes <= n and n >= 1, got successes={successes}, n={n}")
    z = _z(confidence)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # 0 (or n) successes give exactly 0 (or 1) on that side; floating point leaves ~1e-17 there.
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def difference_interval(
    successes_a: int, n_a: int, successes_b: int, n_b: int, *, confidence: float = 0.95
) -> tuple[float, float]:
    """Interval of ``successes_a / n_a - successes_b / n_b`` (Newcombe's hybrid score method).

    Each proportion gets its Wilson interval ``(l, u)``; with ``d = p_a - p_b`` the interval is
    ``d - sqrt((p_a - l_a)^2 + (u_b - p_b)^2)`` to ``d + sqrt((u_a - p_a)^2 + (p_b - l_b)^2)``.
    It treats the two samples as independent. When both are measured on the same images (a
    paired design) the true interval is usually narrower, so this one errs on the side of
    "inconclusive".

    Args:
        successes_a: Successes of the first sample.
        n_a: Size of the first sample.
        successes_b: Successes of the second sample.
        n_b: Size of the second sample.
        confidence: Two-sided coverage, in (0, 1).

    Returns:
        ``(low, high)`` within [-1, 1], containing the observed difference.

    Raises:
        ValueError: as :func:`wilson_interval`, for either sample.
    """
    low_a, high_a = wilson_interval(successes_a, n_a, confidence=confidence)
    low_b, high_b = wilson_interval(successes_b, n_b, confidence=confidence)
    p_a, p_b = successes_a / n_a, successes_b / n_b
    d = p_a - p_b
    low = d - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2)
    high = d + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2)
    return max(-1.0, low), min(1.0, high)


def bootstrap_interval(
    values: Sequence[float] | Tensor,
    *,
    statistic: Callable[[Tensor], Tensor] | str = "mean",
    confidence: float = 0.95,
    resamples: int = 10_000,
    generator: torch.Generator | None = None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values``.

    Args:
        values: The sample (at least 2 finite values), e.g. queries per successful image.
        statistic: ``"mean"``, ``"median"`` or a function from a ``(resamples, n)`` tensor to
            ``(resamples,)`` (one value per resample, along the last dimension).
        confidence: Two-sided coverage, in (0, 1).
        resamples: Number of bootstrap resamples (at least 100).
        generator: Source of the resampling indices (a fixed one makes the interval reproducible).

    Returns:
        ``(low, high)``.

    Raises:
        ValueError: fewer than 2 values, non-finite values, an unknown statistic, too few resamples.
    """
    x = torch.as_tensor(values, dtype=torch.float64).flatten()
    if x.numel() < 2:
        raise ValueError(f"values: expected at least 2 values for a bootstrap, got {x.numel()}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("values: expected finite numbers, got NaN or infinity")
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < 100:
        raise ValueError(f"resamples: expected an integer >= 100, got {resamples!r}")
    _z(confidence)
    if isinstance(statistic, str):
        stats = {"mean": lambda t: t.mean(dim=-1), "median": lambda t: t.median(dim=-1).values}
        if statistic not in stats:
            raise ValueError(f"statistic: expected 'mean', 'median' or a function, got {statistic!r}")
        fn = stats[statistic]
    else:
        fn = statistic
    idx = torch.randint(0, x.numel(), (resamples, x.numel()), generator=generator)
    boot = fn(x[idx]).double()
    alpha = (1.0 - confidence) / 2.0
    low, high = torch.quantile(boot, torch.tensor([alpha, 1.0 - alpha], dtype=torch.float64)).tolist()
    return float(low), float(high)


def judge(interval: tuple[float, float], claim: str, threshold: float) -> str:
    """The verdict on a claim ``quantity <claim> threshold`` given the quantity's interval.

    Args:
        interval: ``(low, high)`` of the measured quantity.
        claim: ``">"`` (the paper says the quantity is above ``threshold``) or ``"<"``.
        threshold: The claimed bound (for a comparison of two methods: their difference and 0).

    Returns:
        ``"agrees"`` when the whole interval is on the claimed side, ``"disagrees"`` when the
        whole interval is on the other side, else ``"inconclusive"``.

    Raises:
        ValueError: ``claim`` is not ``">"`` or ``"<"``, or the interval is not ``low <= high``.
    """
    low, high = float(interval[0]), float(interval[1])
    if not low <= high:
        raise ValueError(f"interval: expected (low, high) with low <= high, got {interval!r}")
    if claim not in (">", "<"):
        raise ValueError(f"claim: expected '>' or '<', got {claim!r}")
    above, below = low > threshold, high < threshold
    if claim == ">":
        return "agrees" if above else "disagrees" if below else "inconclusive"
    return "agrees" if below else "disagrees" if above else "inconclusive"
