"""The pure helpers of the two Yin et al. scripts and their glue (experiments/_yin.py), on analytic cases.

Verdicts are checked on made-up numbers: the rows must follow the intervals (a row that mixes
gains and losses is "partly", not "agrees"), so a verdict cannot be typed in.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_experiments import glue, load_script
from torch import nn


class Constant(nn.Module):
    """Predicts class 0 for every image, whatever the noise."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(x.shape[0], 10, dtype=x.dtype)
        logits[:, 0] = 1.0
        return logits


def test_image_heatmaps_one_map_per_image() -> None:
    yin = glue("_yin")
    x = torch.rand(3, 3, 8, 8)
    y = torch.tensor([0, 1, 0])
    maps, clean = yin.image_heatmaps(Constant(), x, y, norm=1.0, cells="central:3", seed=0)
    assert maps.shape == (3, 8, 8) and clean.tolist() == [1.0, 0.0, 1.0]
    evaluated = ~maps[0].isnan()
    assert int(evaluated.sum()) == 9  # the central 3x3 block (closed under conjugation)
    assert torch.equal(maps[:, evaluated], torch.tensor([[0.0] * 9, [1.0] * 9, [0.0] * 9], dtype=torch.float64))
    low = yin.ring_means(maps, yin.chebyshev_radius(8, 8) <= 1)
    assert low.tolist() == [0.0, 1.0, 0.0]


def test_boot_and_paired() -> None:
    yin = glue("_yin")
    m = yin.boot(torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert m.kind == "rate" and m.value == 0.5 and 0.0 <= m.low < 0.5 < m.high <= 1.0 and m.n == 4
    d = yin.paired(torch.tensor([0.5, 0.7, 0.9]), torch.tensor([0.1, 0.3, 0.5]))
    assert d.kind == "diff" and d.value == pytest.approx(0.4) and d.low == pytest.approx(0.4)
    assert d.judge(">", 0.0) == "agrees"
    missing = yin.boot(torch.tensor([0.2, math.nan]))
    assert math.isnan(missing.value) and missing.judge(">", 0.0) == "inconclusive"
    assert yin.measure(m.as_dict()) == m


def test_band_fractions_of_pure_frequencies() -> None:
    module = load_script("yin_fourier_perspective")
    u = torch.arange(32, dtype=torch.float64)
    low = torch.cos(2 * math.pi * u / 32)[None, :].expand(32, 32)  # 1 cycle per image: the low band
    nyquist = torch.cos(math.pi * (u[:, None] + u[None, :]))  # the checkerboard: the high band
    delta = torch.stack([low, nyquist])[:, None].expand(2, 3, 32, 32)
    frac = module.band_fractions(delta, 0.25, 0.5)
    assert frac[0].tolist() == pytest.approx([1.0, 0.0, 0.0]) and frac[1].tolist() == pytest.approx([0.0, 0.0, 1.0])


def change(value: float, low: float, high: float) -> dict:
    return glue("_verdicts").Measure(value, low, high, 500, "diff").as_dict()


def test_corruption_verdict_follows_the_intervals() -> None:
    module = load_script("yin_fourier_perspective")
    names = ["gaussian_noise", "defocus_blur", "fog", "contrast", "brightness"]
    gain, loss = change(0.2, 0.1, 0.3), change(-0.2, -0.3, -0.1)
    per = {n: {"change": {"gaussian": gain, "adversarial": gain}} for n in names}
    per["fog"]["change"] = per["contrast"]["change"] = {"gaussian": loss, "adversarial": loss}
    corr = {"names": names, "per_corruption": per, "n": 500}
    cfg = module.Config()
    models = dict.fromkeys(module.SLOTS, "m")
    assert module.corruption_row(corr, cfg, models).verdict.startswith("agrees")
    per["defocus_blur"]["change"] = {"gaussian": loss, "adversarial": gain}  # one blur loss: partly
    row = module.corruption_row(corr, cfg, models)
    assert row.verdict.startswith("partly") and "brightness" not in row.ours  # only noise, blur, fog, contrast
    per["fog"]["change"] = {"gaussian": change(0.0, -0.1, 0.1), "adversarial": loss}
    assert module.corruption_row(corr, cfg, models).verdict.startswith("partly")


def test_imagenet_spread_and_rings() -> None:
    module = load_script("yin_imagenet")
    assert module.spread(1000, 4).tolist() == [0, 333, 666, 999]
    assert module.spread(32, 200).tolist() == list(range(32))
    rings = module.ring_masks(224, 63)
    assert int(rings["low"].sum()) == 81  # Chebyshev radius <= 4: 9 x 9
    assert int(rings["outer"].sum()) == 63**2 - 45**2  # radius 23..31
