"""Tests of attacks.fourier: planted vulnerable cells, a brute-force reference, exact queries, budgets."""

from __future__ import annotations

import functools
import math

import _doubles
import pytest
import torch
from _recorders import ForwardSizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from attacks.base import ThreatModel
from attacks.fourier import FourierBasisAttack, sign_patterns
from bandlimit._torch import CPU_PASS_SIZE, pass_size
from bandlimit.spectral import fourier_basis, fourier_basis_pairs, fourier_partner


class PlantedModel(nn.Module):
    """Two classes; class 1 iff ``sum_c w_c <x_c, U_cell>`` exceeds ``threshold``.

    Distinct Fourier basis images are orthogonal, so on a grey image only the planted cell with
    the sign pattern matching ``w`` (and enough norm) can flip the prediction.
    """

    def __init__(self, h: int, w: int, cell: tuple[int, int], weights: list[float], threshold: float) -> None:
        super().__init__()
        self.register_buffer("basis", fourier_basis(h, w, *cell, dtype=torch.float64))
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float64))
        self.threshold = threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        proj = ((x.double() - 0.5) * self.basis).sum(dim=(2, 3))  # (N, C)
        score = (proj * self.weights).sum(dim=1)
        return torch.stack([torch.full_like(score, self.threshold), score], dim=1).to(x.dtype)


# The shared random linear classifier with milder logits.
LinearNet = functools.partial(_doubles.LinearNet, scale=0.3)


class CountingModel(nn.Module):
    """Counts evaluations per clean image (nearest in L∞ within ``radius``) and the grad mode."""

    def __init__(self, model: nn.Module, clean: torch.Tensor, radius: float) -> None:
        super().__init__()
        self.model, self.clean, self.radius = model, clean.clone(), radius
        self.counts = torch.zeros(clean.shape[0], dtype=torch.int64)
        self.grad_modes: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_modes.add(torch.is_grad_enabled())
        near = (x.detach()[:, None] - self.clean[None]).flatten(2).abs().amax(dim=2) <= self.radius + 1e-6
        if not bool((near.sum(dim=1) == 1).all()):
            raise AssertionError("an evaluated image is not attributable to exactly one clean image")
        self.counts += near.sum(dim=0)
        return self.model(x)


def cell_order(h: int, w: int, order: str) -> list[tuple[int, int]]:
    """The cells in the attack's order, written independently: row-major, or by distance from DC."""
    cells = [tuple(r) for r in fourier_basis_pairs(h, w).tolist()]
    if order == "radius":  # Python's sort is stable: row-major within a ring
        cells = sorted(cells, key=lambda c: (c[0] - h // 2) ** 2 + (c[1] - w // 2) ** 2)
    return cells


def brute_force(
    model: nn.Module,
    x: torch.Tensor,
    label: int,
    *,
    v: float,
    per_channel: bool,
    targeted: bool,
    order: str = "radius",
) -> tuple[int, tuple[int, int], list[float], bool]:
    """One image, one clipped candidate at a time: first success, else the highest loss (independent loops)."""
    c, h, w = x.shape
    if per_channel:
        patterns = [[-1.0 if (k >> ch) & 1 else 1.0 for ch in range(c)] for k in range(2**c)]
    else:
        patterns = [[1.0] * c, [-1.0] * c]
    best = (-math.inf, -1)
    position = 0
    cells = cell_order(h, w, order)
    for cell in cells:
        u = fourier_basis(h, w, *cell, dtype=x.dtype)
        for pattern in patterns:
            cand = (x + v * torch.tensor(pattern, dtype=x.dtype)[:, None, None] * u).clamp(0, 1)
            with torch.no_grad():
                logits = model(cand[None])[0]
            pred = int(logits.argmax())
            if (pred == label) if targeted else (pred != label):
                return position, cell, pattern, True
            logp = float(torch.log_softmax(logits.double(), 0)[label])
            loss = logp if targeted else -logp
            if loss > best[0]:
                best = (loss, position)
            position += 1
    position = best[1]
    return position, cells[position // len(patterns)], patterns[position % len(patterns)], False


def grey(n: int, h: int = 8, w: int = 8) -> torch.Tensor:
    return torch.full((n, 3, h, w), 0.5, dtype=torch.float64)


# ------------------------------------------------------------------ planted cells
class TestPlantedCell:
    def test_finds_the_planted_cell_and_sign(self) -> None:
        pairs = fourier_basis_pairs(8, 8)
        p = 21
        cell = tuple(pairs[p].tolist())
        model = PlantedModel(8, 8, cell, [1.0, 1.0, 1.0], threshold=2.0)  # + on all channels gives 3v = 3
        attack = FourierBasisAttack(norm_l2=1.0, batch_cells=1, order="given")
        result = attack.run(model, grey(2), torch.zeros(2, dtype=torch.long))
        assert bool(result.info["success"].all())
        assert result.info["cell"].tolist() == [list(cell)] * 2
        assert result.info["sign"].tolist() == [[1, 1, 1]] * 2
        assert result.info["candidate"].tolist() == [2 * p] * 2
        assert result.queries.tolist() == [2 * (p + 1)] * 2  # whole cells (both signs) are evaluated
        # Low frequencies first (the default): the planted cell's rank in that order.
        rank = cell_order(8, 8, "radius").index(cell)
        by_radius = FourierBasisAttack(norm_l2=1.0, batch_cells=1).run(model, grey(1), torch.zeros(1, dtype=torch.long))
        assert by_radius.info["cell"].tolist() == [list(cell)] and by_radius.info["candidate"].tolist() == [2 * rank]
        assert by_radius.queries.tolist() == [2 * (rank + 1)] and rank != p

    def test_planted_partner_index_gives_the_same_image(self) -> None:
        cell = (2, 5)
        partner = fourier_partner(8, 8, *cell)
        model = PlantedModel(8, 8, partner, [1.0, 1.0, 1.0], threshold=2.0)
        result = FourierBasisAttack(norm_l2=1.0).run(model, grey(1), torch.zeros(1, dtype=torch.long))
        assert result.info["cell"].tolist() in ([list(cell)], [list(partner)])
        assert bool(result.info["success"].all())

    def test_per_channel_signs(self) -> None:
        pairs = fourier_basis_pairs(8, 8)
        p = 9
        cell = tuple(pairs[p].tolist())
        model = PlantedModel(8, 8, cell, [1.0, -1.0, 1.0], threshold=2.5)  # only (+, -, +) reaches 3
        whole = FourierBasisAttack(norm_l2=1.0).run(model, grey(1), torch.zeros(1, dtype=torch.long))
        assert not bool(whole.info["success"].any())
        per = FourierBasisAttack(norm_l2=1.0, per_channel_sign=True, batch_cells=4, order="given").run(
            model, grey(1), torch.zeros(1, dtype=torch.long)
        )
        assert bool(per.info["success"].all())
        assert per.info["sign"].tolist() == [[1, -1, 1]]
        assert per.info["candidate"].tolist() == [8 * p + 2]  # pattern 2 = bit 1 set = channel 1 negative
        assert per.queries.tolist() == [8 * 4 * (p // 4 + 1)]  # rounded up to the end of the chunk

    def test_perturbation_is_the_library_basis(self) -> None:
        cell = tuple(fourier_basis_pairs(8, 8)[30].tolist())
        model = PlantedModel(8, 8, cell, [1.0, -1.0, -1.0], threshold=2.5)
        result = FourierBasisAttack(norm_l2=1.0, per_channel_sign=True).run(
            model, grey(1), torch.zeros(1, dtype=torch.long)
        )
        expected = torch.tensor([1.0, -1.0, -1.0], dtype=torch.float64)[:, None, None] * fourier_basis(
            8, 8, *cell, dtype=torch.float64
        )
        torch.testing.assert_close(result.x_adv[0] - 0.5, expected, rtol=0, atol=1e-12)
        torch.testing.assert_close((result.x_adv - grey(1)).norm(), torch.tensor(math.sqrt(3), dtype=torch.float64))

    def test_targeted(self) -> None:
        cell = tuple(fourier_basis_pairs(8, 8)[5].tolist())
        model = PlantedModel(8, 8, cell, [-1.0, -1.0, -1.0], threshold=2.0)
        result = FourierBasisAttack(norm_l2=1.0).run(
            model, grey(1), torch.zeros(1, dtype=torch.long), targets=torch.ones(1, dtype=torch.long)
        )
        assert result.info["sign"].tolist() == [[-1, -1, -1]]
        assert bool(result.info["success"].all())


# ------------------------------------------------------- reference and query counts
@pytest.mark.parametrize("order", ["radius", "given"])
@pytest.mark.parametrize(
    ("per_channel", "targeted", "batch_cells"),
    [(False, False, 16), (True, False, 5), (False, True, 7), (False, False, 3)],
)
def test_matches_brute_force_reference(per_channel: bool, targeted: bool, batch_cells: int, order: str) -> None:
    model = LinearNet(seed=2).double()
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = model(x).argmax(1)
    targets = model(x).topk(2, dim=1).indices[:, 1] if targeted else None  # runner-up class: reachable
    attack = FourierBasisAttack(norm_l2=0.3, per_channel_sign=per_channel, batch_cells=batch_cells, order=order)
    result = attack.run(model, x, y, targets=targets)
    label = targets if targeted else y
    num_signs = 8 if per_channel else 2
    for i in range(5):
        pos, cell, pattern, ok = brute_force(
            model, x[i], int(label[i]), v=0.3, per_channel=per_channel, targeted=targeted, order=order
        )
        assert int(result.info["candidate"][i]) == pos
        assert result.info["cell"][i].tolist() == list(cell)
        assert result.info["sign"][i].tolist() == pattern
        assert bool(result.info["success"][i]) == ok
        chunk, total = batch_cells * num_signs, fourier_basis_pairs(8, 8).shape[0] * num_signs  # 34 cells
        expected_q = min(chunk * (pos // chunk + 1), total) if ok else total
        assert int(result.queries[i]) == expected_q
    assert 0 < int(result.info["success"].sum()) < 5  # both branches are exercised


def test_query_counts_are_exact_and_independent_of_batching() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 8, 8, generator=g)
    pairwise = (x[:, None] - x[None]).flatten(2).abs().amax(2) + 10 * torch.eye(6)
    radius = 0.3 * math.sqrt(2) / 8  # peak amplitude of v * U on 8x8
    assert float(pairwise.min()) > 2 * radius
    inner = LinearNet(seed=4)
    y = inner(x).argmax(1)
    model = CountingModel(inner, x, radius)
    big = FourierBasisAttack(norm_l2=0.3, batch_cells=4).run(model, x, y)
    assert torch.equal(model.counts, big.queries + 1)  # +1: the base class's clean forward
    assert model.grad_modes == {False}
    assert 0 < int(big.info["success"].sum()) < 6
    assert len(set(big.queries.tolist())) > 1
    small = FourierBasisAttack(norm_l2=0.3, batch_cells=4, batch_size=8).run(inner, x, y)  # one image per pass
    assert torch.equal(small.queries, big.queries)
    assert torch.equal(small.x_adv, big.x_adv)


def test_already_misclassified_and_default_cells() -> None:
    model = PlantedModel(32, 32, (3, 4), [1.0, 1.0, 1.0], threshold=100.0)  # never fooled at v = 1
    x = torch.full((2, 3, 32, 32), 0.5)
    y = torch.tensor([0, 1])  # image 1 is already misclassified (prediction is 0)
    result = FourierBasisAttack(norm_l2=1.0, batch_cells=64).run(model, x, y)
    assert result.queries.tolist() == [2 * 514, 0]
    assert result.info["success"].tolist() == [False, True]
    assert result.info["cell"][1].tolist() == [-1, -1] and result.info["sign"][1].tolist() == [0, 0, 0]
    assert torch.equal(result.x_adv[1], x[1])


# ---------------------------------------------------------------------- properties
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    v=st.floats(0.1, 8.0),
    per_channel=st.booleans(),
    batch_cells=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_within_threat_and_range(v: float, per_channel: bool, batch_cells: int, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(3, 3, 8, 8, generator=g)
    model = LinearNet(seed=seed % 3)
    attack = FourierBasisAttack(norm_l2=v, per_channel_sign=per_channel, batch_cells=batch_cells)
    result = attack.run(model, x, model(x).argmax(1))
    assert attack.threat == ThreatModel("l2", v * math.sqrt(3))
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0
    assert bool((attack.threat.distance(result.x_adv - x) <= attack.threat.eps + 1e-6).all())
    assert torch.equal(result.info["success"], model(result.x_adv).argmax(1) != model(x).argmax(1))


def test_deterministic() -> None:
    model = LinearNet()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    attack = FourierBasisAttack(norm_l2=1.0)
    a = attack.run(model, x, model(x).argmax(1), generator=torch.Generator().manual_seed(0))
    b = attack.run(model, x, model(x).argmax(1))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries)
    assert attack.randomized is False and attack.uses_gradients is False


def test_sign_patterns() -> None:
    assert sign_patterns(3, per_channel=False).tolist() == [[1, 1, 1], [-1, -1, -1]]
    per = sign_patterns(2, per_channel=True)
    assert per.tolist() == [[1, 1], [-1, 1], [1, -1], [-1, -1]]


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"norm_l2": 0.0}, ValueError, "norm_l2: expected a value > 0"),
        ({"norm_l2": float("nan")}, ValueError, "norm_l2: expected a finite number"),
        ({"channels": 0}, ValueError, "channels: expected an integer >= 1"),
        ({"per_channel_sign": 1}, TypeError, "per_channel_sign: expected True or False"),
        ({"clip": "yes"}, TypeError, "clip: expected True or False"),
        ({"clip": False}, ValueError, r"clip: expected True, got False.*fourier_heatmap\(.*clip=False\)"),
        ({"batch_cells": 0}, ValueError, "batch_cells: expected an integer >= 1"),
        ({"batch_size": -1}, ValueError, "batch_size: expected an integer >= 1"),
        ({"cells": []}, ValueError, "cells: expected at least one"),
        ({"cells": [(1, 2, 3)]}, ValueError, r"cells: expected \(i, j\) pairs"),
        ({"cells": [(1.5, 2)]}, TypeError, "cells: expected integer indices"),
        ({"cells": [(-1, 2)]}, ValueError, "cells: expected centred indices >= 0"),
        ({"cells": torch.zeros(2, 2)}, TypeError, "cells: expected integer"),
    ],
)
def test_bad_settings(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        FourierBasisAttack(**kwargs)


def test_evaluate_refuses_clip_false_and_accepts_the_clipped_attack() -> None:
    # What the docstring says: an unclipped candidate is not an image in [0, 1], the harness
    # rejects it, so clip=False is refused (naming the fix) before anything is evaluated.
    from bandlimit.evaluation import BudgetViolation, evaluate, verify_adversarial

    model = LinearNet(seed=3)
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    x[:, :, :2] = 0.0  # saturated pixels: an unclipped Fourier perturbation leaves [0, 1] there
    y = model(x).argmax(1)
    counting = CountingModel(model, x, radius=4.0)
    with pytest.raises(ValueError, match=r"clip: expected True.*keep clip=True.*fourier_heatmap"):
        evaluate(counting, (x, y), [FourierBasisAttack(norm_l2=1.0, clip=False)], checks=False)
    assert int(counting.counts.sum()) == 0
    unclipped = x + 1.0 * fourier_basis(8, 8, 4, 5, dtype=x.dtype)
    with pytest.raises(BudgetViolation, match=r"leaves \[0, 1\]"):
        verify_adversarial(x, unclipped, norm="l2", eps=1.0 * math.sqrt(3), attack="fourier")
    attack = FourierBasisAttack(norm_l2=1.0)
    result = evaluate(model, (x, y), [attack], checks=False)
    assert result.n == 8 and result.clean_accuracy == 1.0
    assert 0.0 <= result.robust_accuracy[attack.threat.key] < 1.0


def test_bad_inputs_at_run_time() -> None:
    model = LinearNet(shape=(1, 8, 8))
    with pytest.raises(ValueError, match="build the attack with channels=1"):
        FourierBasisAttack()(model, torch.rand(1, 1, 8, 8), torch.tensor([0]))
    with pytest.raises(ValueError, match=r"cells: expected centred indices with i in \[0, 7\]"):
        FourierBasisAttack(channels=1, cells=[(8, 0)])(model, torch.rand(1, 1, 8, 8), torch.tensor([0]))
    attack = FourierBasisAttack(channels=1, cells=torch.tensor([[1, 2], [3, 4]]))
    assert attack.config["cells"] == ((1, 2), (3, 4))
    assert attack.replace(norm_l2=2.0).config["cells"] == ((1, 2), (3, 4))
    result = attack.run(model, torch.rand(2, 1, 8, 8), torch.tensor([0, 1]))
    assert bool((result.queries <= 4).all())


def test_default_pass_size_on_the_cpu_is_bounded_and_changes_nothing() -> None:
    x = torch.rand(9, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    inner = LinearNet(seed=6)
    y = inner(x).argmax(1)
    model = ForwardSizes(inner)
    default = FourierBasisAttack(norm_l2=0.05, batch_cells=16).run(model, x, y)  # 32 candidates per image
    # The clean pass sees all 9 images; then CPU_PASS_SIZE // 32 = 4 images x 32 candidates per pass.
    assert model.sizes[0] == 9 and max(model.sizes[1:]) == CPU_PASS_SIZE
    whole = FourierBasisAttack(norm_l2=0.05, batch_cells=16, batch_size=10_000).run(inner, x, y)
    assert torch.equal(default.queries, whole.queries) and torch.equal(default.x_adv, whole.x_adv)


def test_pass_size_rule() -> None:
    cpu, meta = torch.device("cpu"), torch.device("meta")
    assert pass_size(None, cpu, 2048) == CPU_PASS_SIZE and pass_size(None, cpu, None) == CPU_PASS_SIZE
    assert pass_size(None, meta, 2048) == 2048 and pass_size(None, meta, None) is None
    assert pass_size(7, cpu, 2048) == 7 and pass_size(7, meta, None) == 7


def test_order_changes_queries_not_which_images_fall() -> None:
    model = LinearNet(seed=2).double()
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    y = model(x).argmax(1)
    radius = FourierBasisAttack(norm_l2=0.3, batch_cells=1).run(model, x, y)
    given = FourierBasisAttack(norm_l2=0.3, batch_cells=1, order="given").run(model, x, y)
    assert torch.equal(radius.info["success"], given.info["success"])
    assert 0 < int(radius.info["success"].sum()) < 8
    hit = radius.info["success"]
    assert not torch.equal(radius.queries[hit], given.queries[hit])  # the first success comes elsewhere


# ------------------------------------------------------------- max_cells and the ball variant
def test_max_cells_searches_the_first_cells_of_the_order() -> None:
    model = PlantedModel(32, 32, (3, 4), [1.0, 1.0, 1.0], threshold=100.0)  # never fooled
    x = torch.full((1, 3, 32, 32), 0.5)
    result = FourierBasisAttack(norm_l2=1.0, max_cells=5, batch_cells=2).run(model, x, torch.tensor([0]))
    assert result.queries.tolist() == [5 * 2]  # 5 cells x 2 signs, although chunks are of 2 cells
    third = cell_order(8, 8, "radius")[2]  # a ring-1 cell
    planted = PlantedModel(8, 8, third, [1.0, 1.0, 1.0], threshold=0.1)
    hit = FourierBasisAttack(norm_l2=1.0, max_cells=3, batch_cells=1).run(planted, grey(1), torch.tensor([0]))
    assert hit.info["success"].tolist() == [True] and tuple(hit.info["cell"][0].tolist()) == third
    assert FourierBasisAttack(norm_l2=1.0, max_cells=2).run(planted, grey(1), torch.tensor([0])).info[
        "success"
    ].tolist() == [False]


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_ball_variant_reaches_the_edge_of_its_ball(norm: str) -> None:
    """Unclipped (grey image), each candidate lies exactly on the sphere of the ball; clipped, inside."""
    from attacks.fourier import FourierBallAttack

    eps = 0.02 if norm == "linf" else 0.3
    attack = FourierBallAttack(eps=eps, norm=norm, batch_cells=7)
    assert attack.threat == ThreatModel(norm, eps)
    model = PlantedModel(8, 8, (4, 5), [1.0, 1.0, 1.0], threshold=100.0)  # never fooled: returns best loss
    x = grey(1)
    basis = fourier_basis(8, 8, 4, 5, dtype=torch.float64)
    # Independent scale: the ball's edge for this basis image.
    v = eps / float(basis.abs().max()) if norm == "linf" else eps / math.sqrt(3)
    scale = attack._scales(basis[None])
    assert float(scale[0]) == pytest.approx(v, rel=1e-12)
    result = attack.run(model, x, torch.tensor([0]))
    d = attack.threat.distance(result.x_adv - x)
    assert float(d[0]) == pytest.approx(eps, rel=1e-9)
    assert result.queries.tolist() == [2 * len(cell_order(8, 8, "radius"))]
    # Real images saturate: clipping keeps every candidate inside the ball and in [0, 1].
    xr = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    xr[:, :, :2] = 1.0
    net = LinearNet(seed=1)
    out = attack.run(net, xr, net(xr).argmax(1))
    assert bool((attack.threat.distance(out.x_adv - xr) <= eps + 1e-6).all())
    assert 0.0 <= float(out.x_adv.min()) and float(out.x_adv.max()) <= 1.0


def test_ball_variant_finds_a_planted_low_frequency_direction() -> None:
    from attacks.fourier import FourierBallAttack

    cell = cell_order(8, 8, "radius")[2]
    # Score of sign pattern s: v * <s, w>; only the matching pattern reaches 3v > 0.5 > v at eps 0.05.
    model = PlantedModel(8, 8, cell, [1.0, -1.0, 1.0], threshold=0.5)
    result = FourierBallAttack(eps=0.05, per_channel_sign=True, max_cells=4).run(model, grey(1), torch.tensor([0]))
    assert result.info["success"].tolist() == [True]
    assert tuple(result.info["cell"][0].tolist()) == cell and result.info["sign"][0].tolist() == [1, -1, 1]
    # Too small a ball: no pattern reaches the threshold (3v < 0.01).
    small = FourierBallAttack(eps=1e-4, per_channel_sign=True, max_cells=4).run(model, grey(1), torch.tensor([0]))
    assert small.info["success"].tolist() == [False]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "eps"),
        ({"eps": 0.0}, "eps"),
        ({"eps": 0.1, "norm": "l1"}, "norm"),
        ({"eps": 0.1, "max_cells": 0}, "max_cells"),
    ],
)
def test_ball_variant_bad_settings(kwargs: dict, match: str) -> None:
    from attacks.fourier import FourierBallAttack

    with pytest.raises((TypeError, ValueError), match=match):
        FourierBallAttack(**kwargs)
