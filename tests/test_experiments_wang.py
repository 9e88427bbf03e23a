"""The pure helpers of experiments/wang_hfc.py: chance, minimal FGSM eps, median shifts, the verdicts.

The table logic runs on synthetic results, so each verdict can be checked against what the
rule must give (an HFC accuracy at chance is no evidence; the plain smoothing variant on a
BatchNorm network is not comparable).
"""

from __future__ import annotations

import dataclasses
import math
from types import ModuleType
from typing import Any

import pytest
import torch
from test_experiments import load_script
from torch import Tensor, nn


@pytest.fixture(scope="module")
def wang() -> ModuleType:
    return load_script("wang_hfc")


def test_chance_is_the_most_frequent_class_share(wang: ModuleType) -> None:
    assert wang.chance(torch.tensor([0, 0, 0, 1, 2, 3, 4, 5, 6, 7])) == pytest.approx(0.3)


class SumModel(nn.Module):
    """Logits ``[0, sum(x) - threshold]``: class 1 once the pixel sum passes the threshold."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def forward(self, x: Tensor) -> Tensor:
        s = x.flatten(1).sum(1) - self.threshold
        return torch.stack([torch.zeros_like(s), s], dim=1)


def test_fgsm_min_eps_is_the_first_grid_point_that_fools(wang: ModuleType) -> None:
    # 3x2x2 = 12 pixels; the gradient sign for label 0 is +1 everywhere, so x + eps moves the sum by 12 eps.
    model = SumModel(threshold=6.0)
    x = torch.stack([torch.full((3, 2, 2), v) for v in (0.4, 0.45, 0.6, 1.0)])
    y = torch.tensor([0, 0, 0, 0])
    # needed eps: 0.1 and 0.05 (first grid points above: 0.125 and 0.0625); 0.6 is misclassified;
    # 1.0 is misclassified too. A fifth image at 0.0 needs eps 0.5 > grid end: never fooled.
    x = torch.cat([x, torch.zeros(1, 3, 2, 2)])
    y = torch.cat([y, torch.tensor([0])])
    grid = torch.arange(1, 5) / 16  # 0.0625 ... 0.25
    got = wang.fgsm_min_eps(model, x, y, grid, batch_size=2)
    assert got[:4].tolist() == pytest.approx([0.125, 0.0625, 0.0, 0.0])
    assert math.isinf(got[4])


def test_median_shift_is_paired_and_exact_for_a_constant_shift(wang: ModuleType) -> None:
    before = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    shifted = wang.median_shift([v + 2.0 for v in before], before)
    assert (shifted.value, shifted.low, shifted.high) == (2.0, 2.0, 2.0)
    assert shifted.judge(">", 0.0) == "agrees"
    same = wang.median_shift(before, before)
    assert same.judge(">", 0.0) == "inconclusive"
    with pytest.raises(ValueError, match="same images"):
        wang.median_shift([1.0, 2.0], [1.0])


def fake_results(cfg: Any, *, hfc: float, adv_hfc: float, hfc_late: float, n: int = 1000) -> dict[str, Any]:
    """Results shaped like main's, with chosen HFC accuracies (radius 8 only)."""
    split = {"chance": 0.1} | {
        s: {
            m: {"n": n, "low": [0.5], "high": [adv_hfc if s == "adversarial" else hfc], "clean": 0.9}
            for m in ("raw", "rescaled")
        }
        for s in ("natural", "gaussian", "adversarial")
    }
    records = [
        {"n": n, "low": [0.4], "high": [0.1], "clean": 0.3},
        {"n": n, "low": [0.5], "high": [hfc_late], "clean": 0.5},
    ]
    point = {"n": n, "clean": 0.9, "FGSM@2": 0.3, "PGD@2": 0.1, "min_eps_255": [1.0] * 19}
    smoothed = point | {"clean": 0.5, "FGSM@2": 0.45, "PGD@2": 0.2, "min_eps_255": [2.0] * 19}
    curves = {s: {v: [point, smoothed] for v in cfg.variants} for s in ("natural", "adversarial")}
    return {
        "split": split,
        "training": {"chance": 0.1, "train_images": 100, "records": records},
        "smoothing": {"curves": curves, "batchnorm": {"natural": True, "adversarial": True}},
    }


def test_rows_follow_the_rule(wang: ModuleType) -> None:
    cfg = dataclasses.replace(wang.Config(), radii=(8.0,), rhos=(0.0, 0.5))
    slots = {"natural": "a.th", "gaussian": "b.th", "adversarial": "c.th"}
    table, measures, notes = wang.rows(fake_results(cfg, hfc=0.3, adv_hfc=0.1, hfc_late=0.3), cfg, slots)
    verdicts = [r.verdict.split(" (")[0] for r in table]
    # HFC above chance; natural above PGD-AT; LFC first and HFC rising above chance; smoothing trades
    # clean for robustness (sum variant); the plain variant on BatchNorm models is not comparable.
    assert verdicts == ["agrees", "agrees", "agrees", "agrees", "agrees", "not comparable", "not comparable"]
    assert "hfc_natural_raw" in measures and "Chance" in notes
    assert all(r.n and r.model and r.source for r in table)

    # At chance: no evidence either way; PGD-AT equal to natural: the difference is inconclusive.
    table, _, _ = wang.rows(fake_results(cfg, hfc=0.1, adv_hfc=0.1, hfc_late=0.1), cfg, slots)
    assert [r.verdict.split(" (")[0] for r in table[:3]] == ["inconclusive", "inconclusive", "inconclusive"]
    assert "raw inconclusive, rescaled inconclusive" in table[1].verdict
