"""Tests of attacks.simba: orders, an independent per-image reference, exact query counts, budgets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _doubles import LinearNet
from _recorders import ForwardSizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.fft import idctn
from torch import nn

from attacks.base import ThreatModel
from attacks.simba import SimBA, coordinate_order, log_odds
from bandlimit._torch import CPU_PASS_SIZE


class CountingModel(nn.Module):
    """Counts forward evaluations per clean image and records the grad mode inside forward.

    Each evaluated row is attributed to the clean image within ``radius`` (L∞) of it; the test
    images are built so that this is unique, and a row matching none raises.
    """

    def __init__(self, model: nn.Module, clean: torch.Tensor, radius: float) -> None:
        super().__init__()
        self.model = model
        self.clean = clean.clone()
        self.radius = radius
        self.counts = torch.zeros(clean.shape[0], dtype=torch.int64)
        self.grad_modes: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_modes.add(torch.is_grad_enabled())
        dist = (x.detach()[:, None] - self.clean[None]).flatten(2).abs().amax(dim=2)  # (B, N)
        near = dist <= self.radius + 1e-6
        if not bool((near.sum(dim=1) == 1).all()):
            raise AssertionError("an evaluated image is not attributable to exactly one clean image")
        self.counts += near.sum(dim=0)
        return self.model(x)


def separated_images(n: int, shape: tuple[int, int, int], gap: float, seed: int = 0) -> torch.Tensor:
    """Random images whose pairwise L∞ distances all exceed ``gap``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, *shape, generator=g, dtype=torch.float64)
    dist = (x[:, None] - x[None]).flatten(2).abs().amax(dim=2) + torch.eye(n, dtype=torch.float64) * 10
    assert float(dist.min()) > gap
    return x


def reference_simba(
    model: nn.Module,
    x: torch.Tensor,
    label: int,
    coords: list[list[int]],
    *,
    eps: float,
    basis: str,
    max_queries: int,
    targeted: bool,
    linf_bound: float | None,
) -> tuple[torch.Tensor, int, bool]:
    """Minimal single-image SimBA written from the paper's description (numpy/scipy coefficients)."""
    coeff = np.zeros(tuple(x.shape))

    def probe(cf: np.ndarray) -> tuple[float, int]:
        pixel = idctn(cf, axes=(1, 2), norm="ortho") if basis == "dct" else cf
        delta = torch.from_numpy(pixel).to(x.dtype)
        if linf_bound is not None:
            delta = delta.clamp(-linf_bound, linf_bound)
        with torch.no_grad():
            logits = model((x + delta).clamp(0, 1)[None])[0]
        return float(torch.softmax(logits, 0)[label]), int(logits.argmax())

    def done(pred: int) -> bool:
        return pred == label if targeted else pred != label

    prev, pred = probe(coeff)
    queries = 0
    for c, u, v in coords:
        if done(pred) or queries >= max_queries:
            break
        for sign in (-1.0, 1.0):
            if queries >= max_queries:
                break
            cand = coeff.copy()
            cand[c, u, v] += sign * eps
            p, p_pred = probe(cand)
            queries += 1
            if (p > prev) if targeted else (p < prev):
                coeff, prev, pred = cand, p, p_pred
                break
    pixel = idctn(coeff, axes=(1, 2), norm="ortho") if basis == "dct" else coeff
    delta = torch.from_numpy(pixel).to(x.dtype)
    if linf_bound is not None:
        delta = delta.clamp(-linf_bound, linf_bound)
    return (x + delta).clamp(0, 1), queries, done(pred)


# --------------------------------------------------------------------------- orders
class TestCoordinateOrder:
    def test_rand_is_a_permutation_of_the_low_block(self) -> None:
        order = coordinate_order(3, 8, 8, freq_dims=4, order="rand", generator=torch.Generator().manual_seed(0))
        assert order.shape == (3 * 16, 3)
        assert int(order[:, 1:].max()) == 3
        assert len({tuple(r) for r in order.tolist()}) == 48

    def test_strided_visits_everything_once_ring_by_ring(self) -> None:
        order = coordinate_order(3, 10, 10, freq_dims=4, order="strided", stride=3, generator=torch.Generator())
        assert len({tuple(r) for r in order.tolist()}) == 300
        radius = order[:, 1:].amax(dim=1)
        ring = torch.where(radius < 4, 0, 1 + (radius - 4) // 3)
        assert bool((ring[1:] >= ring[:-1]).all())
        assert ring.tolist()[:48] == [0] * 48  # the low-frequency block comes first, all channels

    def test_orders_are_random_within_blocks_and_seeded(self) -> None:
        a = coordinate_order(3, 8, 8, freq_dims=8, order="rand", generator=torch.Generator().manual_seed(1))
        b = coordinate_order(3, 8, 8, freq_dims=8, order="rand", generator=torch.Generator().manual_seed(1))
        c = coordinate_order(3, 8, 8, freq_dims=8, order="rand", generator=torch.Generator().manual_seed(2))
        assert torch.equal(a, b)
        assert not torch.equal(a, c)
        assert set(a[:20, 0].tolist()) == {0, 1, 2}  # channels interleaved, not channel by channel

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError, match="freq_dims: expected at most"):
            coordinate_order(3, 8, 8, freq_dims=9)
        with pytest.raises(ValueError, match="order: expected one of"):
            coordinate_order(3, 8, 8, freq_dims=4, order="diag")


# ---------------------------------------------------------------------- validation
class TestValidation:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"step": -0.1}, ValueError, "step: expected a value > 0"),
            ({"step": float("nan")}, ValueError, "step: expected a finite number"),
            ({"step": 0.0}, ValueError, "step: expected a value > 0"),
            ({"eps": 0.0}, ValueError, "eps: expected a value > 0"),
            ({"max_queries": 0}, ValueError, "max_queries: expected an integer >= 1"),
            ({"max_queries": 10.0}, TypeError, "max_queries: expected an integer"),
            ({"basis": "fft"}, ValueError, "basis: expected one of"),
            ({"order": "diag"}, ValueError, "order: expected one of"),
            ({"freq_dims": 0}, ValueError, "freq_dims: expected an integer >= 1"),
            ({"stride": 0}, ValueError, "stride: expected an integer >= 1"),
            ({"eps": -1.0}, ValueError, "eps: expected a value > 0"),
            ({"linf_bound": 0.1}, TypeError, "linf_bound"),  # renamed: eps is the budget
            ({"batch_size": 0}, ValueError, "batch_size: expected an integer >= 1"),
            ({"batch_size": 2.5}, TypeError, "batch_size: expected an integer"),
        ],
    )
    def test_bad_settings(self, kwargs: dict, error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            SimBA(**kwargs)

    def test_freq_dims_larger_than_the_image(self) -> None:
        model = CountingModel(LinearNet(), torch.full((1, 3, 8, 8), 0.5), radius=1.0)
        with pytest.raises(ValueError, match="freq_dims: expected at most min"):
            SimBA(freq_dims=16).run(model, torch.full((1, 3, 8, 8), 0.5), torch.tensor([0]))
        assert int(model.counts.sum()) == 0  # rejected before any forward pass

    def test_bad_inputs(self) -> None:
        with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
            SimBA()(LinearNet(), torch.full((1, 3, 8, 8), 2.0), torch.tensor([0]))
        with pytest.raises(ValueError, match="targets: expected labels in"):
            SimBA()(LinearNet(), torch.rand(2, 3, 8, 8), torch.tensor([0, 1]), targets=torch.tensor([0, 10]))

    def test_threat_config_replace(self) -> None:
        attack = SimBA(step=0.2, max_queries=400)
        assert attack.threat == ThreatModel("l2", 0.2 * 20)
        # eps is the budget, as everywhere in bandlimit, torchattacks and foolbox (issue 15).
        assert SimBA(eps=0.03).threat == ThreatModel("linf", 0.03)
        assert SimBA(eps=0.03).step == 0.2
        assert attack.uses_gradients is False and attack.randomized is True
        changed = attack.replace(basis="pixel")
        assert changed.config == {**attack.config, "basis": "pixel"}
        with pytest.raises(TypeError, match="unknown settings"):
            attack.replace(steps=3)


# ------------------------------------------------------------------ reference check
@pytest.mark.parametrize(
    ("basis", "order", "targeted", "linf_bound", "max_queries", "saturated"),
    [
        ("dct", "rand", False, None, 400, False),
        ("dct", "strided", True, None, 300, False),
        ("pixel", "rand", False, 0.15, 61, False),
        ("dct", "rand", True, 0.1, 57, False),
        # Binary images: a pixel step that clipping cancels leaves the probability unchanged,
        # which must count as a rejection (strict improvement only).
        ("pixel", "rand", False, None, 150, True),
    ],
)
def test_batched_equals_single_image_reference(
    basis: str, order: str, targeted: bool, linf_bound: float | None, max_queries: int, saturated: bool
) -> None:
    model = LinearNet(seed=3).double()
    x = separated_images(6, (3, 8, 8), gap=0.5, seed=4)
    if saturated:
        x = (x > 0.5).double()
    y = model(x).argmax(1)
    targets = (y + 1 + torch.arange(6) % 9) % 10 if targeted else None
    attack = SimBA(step=0.2, basis=basis, order=order, freq_dims=4, stride=2, max_queries=max_queries, eps=linf_bound)
    result = attack.run(model, x, y, targets=targets, generator=torch.Generator().manual_seed(7))
    coords = coordinate_order(3, 8, 8, freq_dims=4, order=order, stride=2, generator=torch.Generator().manual_seed(7))
    label = targets if targeted else y
    for i in range(6):
        x_ref, q_ref, ok_ref = reference_simba(
            model,
            x[i],
            int(label[i]),
            coords.tolist(),
            eps=0.2,
            basis=basis,
            max_queries=max_queries,
            targeted=targeted,
            linf_bound=linf_bound,
        )
        assert int(result.queries[i]) == q_ref
        assert bool(result.info["success"][i]) == ok_ref
        torch.testing.assert_close(result.x_adv[i], x_ref, rtol=0, atol=1e-10)
    assert bool(result.info["success"].any())  # the comparison covers successful images


class DriftingModel(nn.Module):
    """Ignores the image; the log-odds of class 0 fall by 1e-9 with every forward pass.

    It stands in for the float rounding that makes two passes over differently composed batches
    disagree in the last bit about the same image: to a log-odds comparison, every probe
    "improves", including one identical to the current image.
    """

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = torch.zeros(x.shape[0], 3, dtype=x.dtype)
        logits[:, 0] = 10.0 - 1e-9 * self.calls
        return logits


def test_a_step_that_clipping_cancels_is_rejected_whatever_the_log_odds() -> None:
    # All-black image: every -eps pixel probe is clipped back to the current image, so it must
    # be rejected (its query still counted) and the +eps probe tried; only that one moves pixels.
    x = torch.zeros(1, 1, 2, 2, dtype=torch.float64)
    result = SimBA(step=0.2, basis="pixel", max_queries=100).run(
        DriftingModel(), x, torch.tensor([0]), generator=torch.Generator().manual_seed(0)
    )
    assert result.queries.tolist() == [8]  # two probes for each of the 4 pixels
    assert result.info["accepted"].tolist() == [4]
    torch.testing.assert_close(result.x_adv, torch.full_like(x, 0.2), rtol=0, atol=0)


# ------------------------------------------------------------------- query counting
@pytest.mark.parametrize(("basis", "max_queries"), [("dct", 7), ("dct", 200), ("pixel", 45)])
def test_query_counts_are_exact_and_within_budget(basis: str, max_queries: int) -> None:
    x = separated_images(8, (3, 8, 8), gap=0.3, seed=1).float()
    inner = LinearNet(seed=1)
    y = inner(x).argmax(1)
    model = CountingModel(inner, x, radius=0.1)
    result = SimBA(step=0.2, basis=basis, max_queries=max_queries, eps=0.1).run(
        model, x, y, generator=torch.Generator().manual_seed(0)
    )
    assert result.queries.dtype == torch.int64 and result.queries.shape == (8,)
    assert torch.equal(model.counts, result.queries + 1)  # +1: the base class's uncounted clean forward
    assert bool((result.queries <= max_queries).all())
    assert model.grad_modes == {False}  # black box: never under autograd


@pytest.mark.parametrize("targeted", [False, True])
def test_batch_size_bounds_the_passes_and_changes_nothing(targeted: bool) -> None:
    inner = LinearNet(seed=2).double()
    x = separated_images(7, (3, 8, 8), gap=0.3, seed=5)
    y = inner(x).argmax(1)
    targets = (y + 1) % 10 if targeted else None
    whole = SimBA(step=0.2, max_queries=120, freq_dims=4).run(
        inner, x, y, targets=targets, generator=torch.Generator().manual_seed(3)
    )
    limited = ForwardSizes(inner)
    chunked = SimBA(step=0.2, max_queries=120, freq_dims=4, batch_size=2).run(
        limited, x, y, targets=targets, generator=torch.Generator().manual_seed(3)
    )
    # The base class's clean pass sees the whole batch; every attack pass at most 2 images.
    assert limited.sizes[0] == 7 and len(limited.sizes) > 1 and max(limited.sizes[1:]) <= 2
    torch.testing.assert_close(chunked.x_adv, whole.x_adv, rtol=0, atol=0)
    assert torch.equal(chunked.queries, whole.queries)
    assert torch.equal(chunked.info["success"], whole.info["success"])
    assert bool(whole.info["success"].any()) and int(whole.queries.sum()) > 7


def test_already_misclassified_images_cost_nothing() -> None:
    model = LinearNet()
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    wrong = (model(x).argmax(1) + 1) % 10
    result = SimBA(max_queries=50).run(model, x, wrong)
    assert torch.equal(result.queries, torch.zeros(4, dtype=torch.int64))
    assert torch.equal(result.x_adv, x)
    assert bool(result.info["success"].all())


# ---------------------------------------------------------------------- properties
@pytest.mark.parametrize("basis", ["dct", "pixel"])
def test_l2_is_eps_sqrt_accepted_without_clipping(basis: str) -> None:
    g = torch.Generator().manual_seed(0)
    x = 0.4 + 0.2 * torch.rand(6, 3, 8, 8, generator=g, dtype=torch.float64)  # far from 0 and 1
    model = LinearNet(seed=2).double()
    result = SimBA(step=0.02, basis=basis, max_queries=300).run(model, x, model(x).argmax(1), generator=g)
    accepted = result.info["accepted"]
    assert bool((accepted > 0).all())
    torch.testing.assert_close(result.info["l2"], 0.02 * accepted.double().sqrt(), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(result.info["l2"], (result.x_adv - x).flatten(1).norm(dim=1))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    eps=st.floats(0.01, 1.0),
    max_queries=st.integers(1, 120),
    basis=st.sampled_from(["dct", "pixel"]),
    linf_bound=st.one_of(st.none(), st.floats(0.005, 0.5)),
    seed=st.integers(0, 2**16),
)
def test_perturbation_within_declared_threat(
    eps: float, max_queries: int, basis: str, linf_bound: float | None, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(4, 3, 8, 8, generator=g)
    model = LinearNet(seed=seed % 5)
    attack = SimBA(step=eps, basis=basis, max_queries=max_queries, eps=linf_bound)
    result = attack.run(model, x, model(x).argmax(1), generator=g)
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0
    assert bool((attack.threat.distance(result.x_adv - x) <= attack.threat.eps + 1e-6).all())
    assert bool((result.queries <= max_queries).all())
    # success is what the model says about the returned images
    assert torch.equal(result.info["success"], model(result.x_adv).argmax(1) != model(x).argmax(1))


def test_same_generator_same_result() -> None:
    model = LinearNet()
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    y = model(x).argmax(1)
    attack = SimBA(step=0.2, max_queries=100)
    a = attack.run(model, x, y, generator=torch.Generator().manual_seed(3))
    b = attack.run(model, x, y, generator=torch.Generator().manual_seed(3))
    c = attack.run(model, x, y, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries)
    assert not torch.equal(a.x_adv, c.x_adv)


def test_untargeted_succeeds_on_an_easy_model() -> None:
    model = LinearNet(seed=5)
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    y = model(x).argmax(1)
    result = SimBA(step=0.2, max_queries=1000).run(model, x, y, generator=torch.Generator().manual_seed(0))
    assert bool(result.info["success"].all())
    assert bool((model(result.x_adv).argmax(1) != y).all())


def test_targeted_reaches_the_targets() -> None:
    model = LinearNet(seed=6)
    x = torch.rand(16, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    y = model(x).argmax(1)
    targets = (y + 1 + torch.arange(16) % 9) % 10
    result = SimBA(step=0.2, max_queries=2000).run(model, x, y, targets=targets, generator=torch.Generator())
    assert bool(result.info["success"].all())
    assert torch.equal(model(result.x_adv).argmax(1), targets)


# ------------------------------------------------------------------------ log-odds
def test_log_odds_matches_probabilities_and_does_not_saturate() -> None:
    logits = torch.randn(6, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 3
    label = torch.tensor([0, 1, 2, 3, 4, 0])
    p = torch.softmax(logits, 1).gather(1, label[:, None]).squeeze(1)
    torch.testing.assert_close(log_odds(logits, label), torch.log(p / (1 - p)))
    confident = torch.tensor([[30.0, 0.0, -1.0], [31.0, 0.0, -1.0]])  # float32 softmax says p = 1.0 for both
    assert torch.equal(torch.softmax(confident, 1)[:, 0], torch.ones(2))
    lo = log_odds(confident, torch.tensor([0, 0]))
    assert bool(torch.isfinite(lo).all()) and float(lo[1]) > float(lo[0])


def test_makes_progress_on_a_saturated_model() -> None:
    model = LinearNet(seed=5)
    with torch.no_grad():
        model.fc.weight.mul_(100.0)  # logit margins of hundreds: float32 probabilities are exactly 1
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    y = model(x).argmax(1)
    saturated = torch.softmax(model(x), 1).gather(1, y[:, None]).squeeze(1) == 1.0
    assert int(saturated.sum()) >= 6  # a probability comparison could never accept a step on these
    result = SimBA(step=0.2, max_queries=1000).run(model, x, y, generator=torch.Generator().manual_seed(0))
    assert bool(result.info["success"].all())


def test_default_pass_size_on_the_cpu() -> None:
    x = torch.rand(CPU_PASS_SIZE + 5, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    inner = LinearNet(shape=(3, 4, 4), seed=1)
    model = ForwardSizes(inner)
    SimBA(step=0.01, max_queries=2, freq_dims=2).run(model, x, inner(x).argmax(1))
    # The clean pass sees every image; the attack's passes at most CPU_PASS_SIZE.
    assert model.sizes[0] == CPU_PASS_SIZE + 5 and max(model.sizes[1:]) == CPU_PASS_SIZE


def test_the_old_budget_name_is_refused_naming_the_valid_settings() -> None:
    from attacks import create_attack

    with pytest.raises(TypeError, match=r"unknown settings \['linf_bound'\]; valid settings: step, .*, eps"):
        create_attack("simba", linf_bound=8 / 255)
