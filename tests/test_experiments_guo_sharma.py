"""The pure helpers of experiments/guo_simba.py and experiments/sharma_band_pgd.py, on hand-made cases.

The smoke tests in ``test_experiments.py`` run the scripts end to end; here the statistics and
the verdicts are checked on records whose answer is known, so that a table cannot say "agrees"
for the wrong reason.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from test_experiments import load_script
from torch import nn

from attacks.simba import coordinate_order


@pytest.fixture(scope="module")
def guo():
    return load_script("guo_simba")


@pytest.fixture(scope="module")
def sharma():
    return load_script("sharma_band_pgd")


def record(success: list[bool], queries: list[int], l2: list[float] | None = None) -> dict:
    """One attack's per-image record, as ``guo_simba.run`` stores it."""
    return {"success": success, "queries": queries, "l2": l2 or [1.0] * len(success), "time_s": 0.0}


# --------------------------------------------------------------------------- guo_simba
def test_paired_difference_uses_only_images_both_attacks_fooled(guo) -> None:
    a = record([True, True, False, True], [10, 20, 999, 30])
    b = record([True, False, True, True], [15, 999, 40, 50])
    d = guo.paired(a, b, "queries")
    # Images 0 and 3 only: (10 - 15 + 30 - 50) / 2.
    assert d.n == 2 and d.value == pytest.approx(-12.5)
    assert d.low <= d.value <= d.high


def test_excess_counts_failures_at_what_they_spent(guo) -> None:
    adv = record([False, True, True], [100, 40, 60])
    nat = record([True, True, True], [10, 20, 30])
    e = guo.excess(adv, nat)
    assert e.n == 3 and e.value == pytest.approx(((100 - 20) + (40 - 40) + (60 - 60)) / 3)


def test_a_shortfall_below_the_claims_budget_is_not_a_disagreement(guo) -> None:
    low = guo.rate(50, 100)  # 50 % [40, 60]: below 95 %
    assert guo.at_least(low, 0.95, 1000, 6144) == "inconclusive"
    assert guo.at_least(low, 0.95, 6144, 6144) == "disagrees"
    assert guo.at_least(guo.rate(100, 100), 0.95, 1000, 6144) == "agrees"


def test_simba_dct_is_low_frequency_first_and_the_official_cifar_order_an_extra(guo) -> None:
    cfg = guo.Config()
    attacks = guo.cifar_attacks(cfg, extra=False)
    assert set(attacks) == {"pixel", "dct"}
    dct = attacks["dct"]
    assert (dct.basis, dct.order, dct.freq_dims, dct.stride) == ("dct", "strided", 4, 1)
    # The official ImageNet 28 / 7 of 224 scaled to 32: the first 3 x 4 x 4 coordinates are the
    # lowest block and the order never goes down in frequency ring.
    order = coordinate_order(3, 32, 32, freq_dims=dct.freq_dims, order="strided", stride=dct.stride)
    radius = torch.maximum(order[:, 1], order[:, 2])
    assert int(radius[:48].max()) < 4 and bool((radius[48:].diff() >= 0).all())
    rand = guo.cifar_attacks(cfg, extra=True)["dct-rand"]
    assert (rand.order, rand.freq_dims) == ("rand", 32)


def test_both_correct_keeps_the_images_every_model_gets_right(guo) -> None:
    class Fixed(nn.Module):
        def __init__(self, preds: list[int]) -> None:
            super().__init__()
            self.preds = torch.tensor(preds)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.one_hot(self.preds[: len(x)], 10).float()

    x = torch.arange(5.0).view(5, 1, 1, 1)
    y = torch.tensor([1, 2, 3, 4, 5])
    xs, ys = guo.both_correct([Fixed([1, 2, 0, 4, 5]), Fixed([1, 0, 3, 4, 5])], x, y, 2)
    assert ys.tolist() == [1, 4] and xs.flatten().tolist() == [0.0, 3.0]


def synthetic_cifar(dct_queries: list[int], pixel_queries: list[int]) -> dict:
    """Both models fooled on every image; PGD-AT at five times the natural model's queries."""
    n = len(dct_queries)
    nat = {"n": n, "pixel": record([True] * n, pixel_queries), "dct": record([True] * n, dct_queries)}
    adv = {
        "n": n,
        "pixel": record([True] * n, [5 * q for q in pixel_queries]),
        "dct": record([True] * n, [5 * q for q in dct_queries]),
    }
    return {"natural": nat, "adversarial": adv}


def test_cifar_rows_follow_the_numbers(guo) -> None:
    cfg = guo.Config()
    models = {"natural": "nat (data)", "adversarial": "adv (data)"}
    pixel = [100 + 7 * i for i in range(80)]
    fewer = guo.cifar_rows(synthetic_cifar([q - 40 for q in pixel], pixel), cfg, models)
    more = guo.cifar_rows(synthetic_cifar([q + 40 for q in pixel], pixel), cfg, models)
    assert fewer[0].verdict.startswith("agrees") and more[0].verdict.startswith("disagrees")
    assert fewer[0].source == "unverified (papers.md [RECALL])"
    assert fewer[2].verdict.startswith("agrees")  # 80 / 80 fooled: Wilson low end 95.4 % > 95 %
    assert fewer[3].verdict.startswith("agrees")  # 5 x the queries > 2 x


def test_imagenet_rows_absolute_not_comparable_relative_judged(guo) -> None:
    cfg = guo.Config()
    skipped = guo.imagenet_rows({"skipped": "why"}, cfg, "lite0 (data)")
    assert len(skipped) == 2 and all(r.verdict == "not tested (why)" for r in skipped)
    inet = {
        "n": 3,
        "data": "sample",
        "pixel": record([True, True, False], [500, 600, 1000]),
        "dct": record([True, True, True], [300, 350, 400]),
    }
    absolute, relative = guo.imagenet_rows(inet, cfg, "lite0 (data)")
    assert absolute.verdict.startswith("not comparable")
    assert relative.n.startswith("2 of 3") and relative.verdict.split()[0] in {"agrees", "inconclusive"}


def test_formats_say_when_there_is_no_interval(guo) -> None:
    assert guo.signed(guo.mean_of([])) == "n/a"
    assert "no interval" in guo.signed(guo.mean_of([3.0]))
    assert guo.real(guo.Measure(1.234, 1.1, 1.4, 5, "count")) == "1.23 [1.10, 1.40]"
    assert guo.signed(guo.Measure(-3.0, -5.0, -1.0, 5, "count")) == "-3 [-5, -1]"


# --------------------------------------------------------------------------- sharma_band_pgd
def counts(correct: dict[str, int], n: int = 1000) -> dict:
    """One model's results at one eps, as ``sharma_band_pgd.main`` stores them."""
    return {b: {"correct": c, "n": n, "robust_accuracy": c / n} for b, c in correct.items()}


def test_sharma_rows_judge_differences_with_newcombe_intervals(sharma) -> None:
    cfg = sharma.Config()
    res = {
        "natural": {
            "8": counts({"all": 0, "low": 20, "mid": 10, "high": 0, "random": 30}),
            "16": counts({"all": 0, "low": 10, "mid": 0, "high": 0, "random": 10}),
        },
        "adversarial": {
            "8": counts({"all": 300, "low": 320, "mid": 550, "high": 700, "random": 600}),
            "16": counts({"all": 100, "low": 20, "mid": 300, "high": 500, "random": 400}),
        },
    }
    rows = sharma.rows(res, cfg, {"natural": "nat (data)", "adversarial": "adv (data)"})
    assert [r.verdict.split()[0] for r in rows] == ["agrees", "agrees", "agrees", "agrees"]
    assert all(sharma.NOT_REFUTATION in r.claim for r in rows[:3])
    assert rows[3].source.startswith("ours")
    # Unrestricted PGD is the reference, not a band: a natural model that only survives it
    # must not turn the "every band breaks it" row into "partly".
    res["natural"]["8"]["all"]["correct"] = 600
    assert sharma.rows(res, cfg, {"natural": "n", "adversarial": "a"})[3].verdict.startswith("agrees")
    res["natural"]["8"]["low"]["correct"] = 600
    assert sharma.rows(res, cfg, {"natural": "n", "adversarial": "a"})[3].verdict.startswith("partly")


def test_within_is_one_two_sided_comparison(sharma) -> None:
    inside, above, below = (sharma.Measure(v, v - 0.02, v + 0.02, 100, "diff") for v in (0.0, 0.2, -0.2))
    assert [sharma.within(m, 0.10) for m in (inside, above, below)] == ["agrees", "disagrees", "disagrees"]
    assert sharma.within(sharma.Measure(0.1, 0.05, 0.15, 100, "diff"), 0.10) == "inconclusive"


def test_sharma_measures_carry_wilson_intervals_from_counts(sharma) -> None:
    m = sharma.measures({"natural": {"8": counts({"all": 0, "low": 50}, n=100)}})["natural"]["8"]
    assert m["all"].value == 0.0 and m["all"].high > 0.0
    assert m["low"].value == 0.5 and m["low"].low < 0.5 < m["low"].high and m["low"].n == 100


def test_sharma_full_is_paper_scale(sharma) -> None:
    full = dataclasses.replace(sharma.Config(), **sharma.FULL)
    assert (full.images, full.steps) == (1000, 50) and full.batch_size >= full.images
