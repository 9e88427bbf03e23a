"""The verdict machinery of the paper-reproduction scripts: rows, numbers with intervals, one rule.

Table rows (:class:`Row`), measured numbers with their intervals (:class:`Measure`), and the one
rule that turns comparisons into a verdict (:data:`RULE`).

Every accuracy is a :class:`Measure` with its Wilson interval (:func:`rate`), a difference of
two accuracies gets Newcombe's interval (:func:`diff`), a mean of query counts a bootstrap
interval (:func:`mean_of`); :meth:`Measure.judge` compares one with a claimed bound and
:func:`combine` turns a row's comparisons into its verdict.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch

from bandlimit.stats import bootstrap_interval, difference_interval, judge, wilson_interval


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of a SUMMARY.md table.

    Attributes:
        claim: The paper's claim, in words (with its number when it has one).
        source: Where the claim comes from: the paper's section/figure/abstract, the official
            code, or "unverified" (papers.md marks it [RECALL]/[BRIEF]: from memory, not checked).
        model: The model(s) measured and the data that trained each (:func:`trained_on`).
        n: The sample size(s) behind our numbers.
        ours: Our number(s), each accuracy or rate with its 95 % interval.
        verdict: One of :data:`VERDICT_WORDS`, then the rule in brackets (:func:`combine`).
    """

    claim: str
    source: str
    model: str
    n: str
    ours: str
    verdict: str


#: The verdicts a row can carry (RESULTS.md explains them).
VERDICT_WORDS = ("agrees", "disagrees", "partly", "inconclusive", "not comparable", "not tested")

#: The rule every verdict follows; tools/gather_results.py puts it at the top of RESULTS.md.
RULE = (
    "**How to read a verdict.** Every accuracy or success rate carries its 95 % Wilson interval, "
    "a difference of two rates Newcombe's hybrid score interval (built from the two Wilson "
    "intervals, treating the samples as independent, which errs towards *inconclusive*), and a "
    "mean of query counts a 95 % percentile-bootstrap interval (10,000 resamples, seed 0). A "
    "claim is a set of comparisons of a measured quantity with a bound (the paper's number, or 0 "
    "for a difference between two models). A comparison **agrees** when the whole interval lies "
    "on the claimed side of the bound, **disagrees** when the whole interval lies on the other "
    "side, and is **inconclusive** otherwise (`bandlimit.stats.judge`). A row's claim holds for "
    "each of its comparisons (every model, every band), so the row **agrees** only when every "
    "comparison agrees, and **disagrees** when at least one comparison disagrees and none agrees "
    "(one clear counter-example refutes a claim about all of them); **partly** when some agree "
    "and some disagree; **inconclusive** otherwise (some agree, the rest are inconclusive; or "
    "all are inconclusive). **not comparable**: our setting "
    "differs from the paper's in a way that decides the number (another model, another "
    "budget), so no verdict is drawn. **not tested**: the run is too small to reach the claimed "
    "regime. Sources: *paper* (its abstract, a figure or a table we could check), *official "
    "code* (the authors' repository), *unverified* (`../shared/reference/papers.md` marks it "
    "[RECALL] or [BRIEF]: quoted from memory, not checked against the PDF; treat the bound as "
    "approximate), *ours* (our expectation, not the paper's)."
)


@dataclasses.dataclass(frozen=True)
class Measure:
    """A measured number with its 95 % interval (``value``, ``low``, ``high``) and sample size.

    ``kind`` picks the format: ``"rate"`` prints percentages, ``"diff"`` percentage points with
    a sign, ``"count"`` plain numbers (query means).
    """

    value: float
    low: float
    high: float
    n: int
    kind: str = "rate"

    def __str__(self) -> str:
        if not math.isfinite(self.value):
            return "n/a"
        if self.kind == "rate":
            return f"{100 * self.value:.1f}% [{100 * self.low:.1f}, {100 * self.high:.1f}]"
        if self.kind == "diff":
            return f"{100 * self.value:+.1f} pts [{100 * self.low:+.1f}, {100 * self.high:+.1f}]"
        return f"{self.value:.0f} [{self.low:.0f}, {self.high:.0f}]"

    def judge(self, claim: str, bound: float) -> str:
        """:func:`bandlimit.stats.judge` on this interval (``"inconclusive"`` when there is none)."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return "inconclusive"
        return judge((self.low, self.high), claim, bound)

    def as_dict(self) -> dict[str, float | int | str]:
        """For results.json."""
        return dataclasses.asdict(self)


def rate(successes: int, n: int) -> Measure:
    """``successes / n`` with its Wilson interval (NaN for ``n == 0``)."""
    if n == 0:
        return Measure(math.nan, math.nan, math.nan, 0)
    low, high = wilson_interval(int(successes), int(n))
    return Measure(successes / n, low, high, int(n))


def rate_of(value: float, n: int) -> Measure:
    """:func:`rate` from a stored fraction (``round(value * n)`` successes)."""
    return rate(round(value * n), n)


def diff(a: Measure, b: Measure) -> Measure:
    """``a - b`` of two rates with Newcombe's interval (samples treated as independent)."""
    if a.n == 0 or b.n == 0:
        return Measure(math.nan, math.nan, math.nan, 0, "diff")
    low, high = difference_interval(round(a.value * a.n), a.n, round(b.value * b.n), b.n)
    return Measure(a.value - b.value, low, high, min(a.n, b.n), "diff")


def mean_of(values: Sequence[float], *, seed: int = 0) -> Measure:
    """Mean with a 95 % percentile-bootstrap interval (10,000 resamples, seeded); NaN when empty."""
    vals = [float(v) for v in values]
    if not vals:
        return Measure(math.nan, math.nan, math.nan, 0, "count")
    mean = sum(vals) / len(vals)
    if len(vals) < 2:
        return Measure(mean, math.nan, math.nan, 1, "count")
    low, high = bootstrap_interval(vals, generator=torch.Generator().manual_seed(seed))
    return Measure(mean, low, high, len(vals), "count")


def combine(parts: Sequence[str], rule: str) -> str:
    """The row verdict from its comparisons' verdicts (``judge`` words), then the rule in brackets.

    All agree: agrees. Some disagree and none agrees: disagrees (the claim is about every part,
    so one clear counter-example refutes it). Some agree and some disagree: partly. Otherwise
    (some agree and the rest are inconclusive, or all are inconclusive): inconclusive. See
    :data:`RULE`.
    """
    if not parts:
        raise ValueError("combine: expected at least one comparison")
    unknown = set(parts) - {"agrees", "disagrees", "inconclusive"}
    if unknown:
        raise ValueError(f"combine: unknown verdicts {sorted(unknown)}")
    agree, disagree = parts.count("agrees"), parts.count("disagrees")
    if agree == len(parts):
        word = "agrees"
    elif disagree and not agree:
        word = "disagrees"
    elif agree and disagree:
        word = "partly"
    else:
        word = "inconclusive"
    return f"{word} ({rule})"
