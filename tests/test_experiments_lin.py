"""The pure helpers of experiments/lin_post_averaging.py on analytic cases.

The minimal-eps search is checked on a linear classifier, whose smallest L∞ perturbation that
flips the label is known in closed form; the table's verdicts on hand-made per-image hits,
so that each verdict is seen to agree and to disagree.
"""

from __future__ import annotations

import dataclasses
import math
import re
from types import ModuleType

import pytest
import torch
from test_experiments import glue, load_script
from torch import nn


@pytest.fixture(scope="module")
def lin() -> ModuleType:
    return load_script("lin_post_averaging")


class Linear2(nn.Module):
    """Two classes with logits (0, w·(x - 0.5)): class 1 iff w·(x - 0.5) > 0."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w, requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = ((x - 0.5).flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([torch.zeros_like(score), score], 1)


def linear_case(n: int = 6) -> tuple[Linear2, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images near 0.5 (no box clipping) of class 1, and each one's exact minimal L∞ eps = margin / ||w||_1."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(3, 4, 4, generator=g)
    model = Linear2(w)
    x = 0.5 + 0.01 * torch.randn(n, 3, 4, 4, generator=g)
    margin = ((x - 0.5).flatten(1) * w.flatten()).sum(1)
    x = torch.where((margin > 0).view(-1, 1, 1, 1), x, 1.0 - x)  # every image of class 1
    margin = margin.abs()
    return model, x, torch.ones(n, dtype=torch.long), margin / w.abs().sum()


@pytest.mark.parametrize("steps", [1, 10])
def test_minimal_eps_brackets_the_exact_linear_eps(lin: ModuleType, steps: int) -> None:
    model, x, y, exact = linear_case()
    eps_max, bisections = 0.05, 10
    assert bool((exact < eps_max).all())
    adv, eps = lin.minimal_eps(
        model, x, y, eps_max=eps_max, bisections=bisections, steps=steps, generator=torch.Generator().manual_seed(1)
    )
    # No perturbation below the exact eps can fool a linear model; FGSM (and PGD) reach it within one bisection step.
    assert bool((eps >= exact - 1e-6).all())
    assert bool((eps <= exact + eps_max / 2**bisections + 1e-6).all())
    assert bool(((adv - x).flatten(1).abs().amax(1) <= eps + 1e-6).all())
    assert bool((model(adv).argmax(1) != y).all())


def test_minimal_eps_zero_for_wrong_inf_for_unreachable(lin: ModuleType) -> None:
    model, x, y, exact = linear_case(4)
    y = y.clone()
    y[0] = 0  # already wrong: eps 0 and the image unchanged
    eps_max = float(exact[1:].min()) / 2  # below every remaining image's exact eps: none is fooled
    adv, eps = lin.minimal_eps(model, x, y, eps_max=eps_max, bisections=4, steps=5, generator=torch.Generator())
    assert eps[0] == 0 and torch.equal(adv[0], x[0])
    assert bool(torch.isinf(eps[1:]).all())
    assert bool(((adv - x).flatten(1).abs().amax(1) <= eps_max + 1e-6).all())


def test_pgd_per_image_respects_each_budget(lin: ModuleType) -> None:
    model, x, y, exact = linear_case()
    budgets = torch.where(torch.arange(len(x)) % 2 == 0, exact * 2, exact / 2)
    adv, fooled = lin.pgd_per_image(model, x, y, budgets, steps=10, random_start=True, generator=torch.Generator())
    assert bool(((adv - x).flatten(1).abs().amax(1) <= budgets + 1e-6).all())
    assert fooled.tolist() == [i % 2 == 0 for i in range(len(x))]


def test_eot_passes_give_at_least_the_asked_directions(lin: ModuleType) -> None:
    model = Linear2(torch.ones(3, 4, 4))
    cfg = lin.Config(k=15, eot_directions=30)  # 90 by default: ours 6, official 1
    ours, official = lin.variants(model, cfg).values()
    assert lin.directions_per_pass(official) == 90 and lin.eot_passes(official, cfg) == 1
    assert lin.directions_per_pass(ours) == 15 and lin.eot_passes(ours, cfg) == 2
    assert lin.eot_passes(model, cfg) == 1


def fake_results(lin: ModuleType, n: int, transfer_right: int, eot_right: int, clean_right: int | None = None) -> dict:
    """Per-image hits: the base model right on every clean image and fooled by every transfer set."""

    def ones(k: int, m: int = n) -> str:
        return "1" * k + "0" * (m - k)

    columns = ["clean", *lin.TRANSFER]
    hits = {"undefended": {c: ones(n if c == "clean" else 0) for c in columns} | {"square": ones(2, 4)}}
    for v in ("ours", "official"):
        hits[v] = {c: ones(transfer_right) for c in lin.TRANSFER} | {
            "clean": ones(n if clean_right is None else clean_right)
        }
        hits[v] |= {"pgd_fixed": ones(0), "pgd_eot": ones(eot_right), "square": ones(3, 4)}
    return {
        "hits": hits,
        "forwards_per_image": {"ours": 15, "official": 91},
        "eot_passes": {"ours": 2, "official": 1},
        "sizes": {k: {"median_eps_255": 1.0, "median_l2": 0.1} for k in lin.TRANSFER},
    }


def verdicts(lin: ModuleType, res: dict, cfg: object) -> list[str]:
    return [row.verdict.split(" (")[0] for row in lin.rows(res, cfg)]


def test_rows_agree_disagree_and_stay_not_comparable(lin: ModuleType) -> None:
    cfg = lin.Config(images=100, square_images=4)
    words = glue("_verdicts").VERDICT_WORDS
    strong = verdicts(lin, fake_results(lin, 100, transfer_right=100, eot_right=0), cfg)
    # Lin's > 95 %, < 1 pt drop (100 images cannot show it), Table 10 clean, 95.5 % kept, fixed < min-eps,
    # Table 10 Square, PGD-EOT < 10 %.
    assert strong == ["agrees", "inconclusive", "not comparable", "agrees", "agrees", "not comparable", "agrees"]
    weak = verdicts(lin, fake_results(lin, 100, transfer_right=50, eot_right=60, clean_right=80), cfg)
    assert weak == ["disagrees", "disagrees", "not comparable", "disagrees", "agrees", "not comparable", "disagrees"]
    small = verdicts(lin, fake_results(lin, 8, transfer_right=8, eot_right=0), dataclasses.replace(cfg, images=8))
    assert small[0] == "inconclusive" and small[-1] == "inconclusive"  # 8 images decide neither
    big = verdicts(
        lin, fake_results(lin, 1000, transfer_right=1000, eot_right=0), dataclasses.replace(cfg, images=1000)
    )
    assert big[1] == "agrees"  # no drop on 1,000 images: the whole interval above -1 pt
    assert all(re.match(rf"({'|'.join(words)})$", w) for w in strong + weak + small + big)


def test_defence_rate_counts_only_images_the_base_model_lost(lin: ModuleType) -> None:
    res = {"hits": {"undefended": {"clean": "1110", "x": "0100"}, "ours": {"x": "1011"}}}
    m = lin.defence_rate(res, "ours", "x")  # images 0 and 2: base right clean, fooled; ours right on both
    assert (m.value, m.n) == (1.0, 2)
    kept = lin.conditional(res, "ours", "x", ("undefended", "clean"))
    assert (kept.value, kept.n) == (2 / 3, 3)


def test_side_table_has_every_model_and_table10(lin: ModuleType) -> None:
    cfg = lin.Config(images=100, square_images=4)
    text = lin.side_table(fake_results(lin, 100, 90, 0), cfg)
    table = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert len(table) == 1 + 4  # header, undefended, ours, official, Table 10
    assert all(ln.count("|") == table[0].count("|") for ln in table)
    assert "90.0% [82.6, 94.5] (n=100)" in text and "15.8 % (20,000 queries)" in text
    assert math.isclose(lin.TABLE10["pgd"] / lin.TABLE10["clean"], 0.9546, abs_tol=1e-4)
