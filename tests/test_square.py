"""Tests of attacks.square: schedule, windows, bumps, budgets, exact queries, early stop, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from _recorders import ForwardSizes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from attacks import ATTACKS, Square, ThreatModel, create_attack
from attacks.square import P_HALVINGS, meta_bump, p_schedule, window_side

SHAPE = (3, 8, 8)


def linear_model(seed: int = 0, shape: tuple[int, ...] = SHAPE, classes: int = 10) -> nn.Module:
    """A seeded random linear classifier of centred images: small perturbations flip it."""
    g = torch.Generator().manual_seed(seed)
    fc = nn.Linear(math.prod(shape), classes, bias=False)
    with torch.no_grad():
        fc.weight.copy_(torch.randn(classes, math.prod(shape), generator=g))
    return nn.Sequential(nn.Flatten(), Shift(-0.5), fc).double()


class Shift(nn.Module):
    """Adds a constant (centres [0, 1] images)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.value


class Confident(nn.Module):
    """``model`` with ``bonus`` added to the logit of class 0: images of class 0 resist the attack."""

    def __init__(self, model: nn.Module, bonus: float) -> None:
        super().__init__()
        self.model, self.bonus = model, bonus

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x).clone()
        z[:, 0] += self.bonus
        return z


class Constant(nn.Module):
    """Logits that ignore the image (class 0, margin 1): no proposal is ever accepted."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor([1.0, 0.0], dtype=x.dtype).expand(x.shape[0], 2).clone()


class QueryLog(nn.Module):
    """Logs, per forward pass after the first (the base class's clean pass), which clean image each
    row belongs to (the nearest in L∞, which must lie within ``radius``), its margin and the rows."""

    def __init__(self, model: nn.Module, clean: torch.Tensor, labels: torch.Tensor, radius: float) -> None:
        super().__init__()
        self.model, self.clean, self.labels, self.radius = model, clean.clone(), labels, radius
        self.passes = 0
        self.owner: list[torch.Tensor] = []
        self.margin: list[torch.Tensor] = []
        self.rows: list[torch.Tensor] = []
        self.grad_modes: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.model(x)
        self.passes += 1
        if self.passes == 1:
            return z
        self.grad_modes.add(torch.is_grad_enabled())
        dist = (x[:, None] - self.clean[None]).flatten(2).abs().amax(dim=2)
        near, owner = dist.min(dim=1)
        assert bool((near <= self.radius + 1e-9).all()), "a query is outside every clean image's ball"
        y = self.labels[owner]
        own = z.gather(1, y[:, None]).squeeze(1)
        others = z.scatter(1, y[:, None], -math.inf).amax(dim=1)
        self.owner.append(owner)
        self.margin.append(own - others)
        self.rows.append(x.clone())
        return z

    def counts(self) -> torch.Tensor:
        """Rows forwarded per clean image (the clean pass excluded)."""
        owners = torch.cat(self.owner) if self.owner else torch.zeros(0, dtype=torch.int64)
        return torch.bincount(owners, minlength=self.clean.shape[0])

    def margins_of(self, i: int) -> torch.Tensor:
        """The margins of image ``i``'s queries, in order."""
        return torch.cat([m[o == i] for o, m in zip(self.owner, self.margin, strict=True)])


def images(n: int, seed: int = 0, low: float = 0.0, high: float = 1.0, shape: tuple[int, ...] = SHAPE) -> torch.Tensor:
    """Uniform images in [low, high] (float64); distinct uniform images are far apart in L∞."""
    g = torch.Generator().manual_seed(seed)
    return low + (high - low) * torch.rand(n, *shape, generator=g, dtype=torch.float64)


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------- schedule and windows
class TestSchedule:
    def test_p_halves_after_the_documented_iterations_of_a_10k_run(self) -> None:
        assert P_HALVINGS == (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)
        expected = {0: 0.8, 10: 0.8, 11: 0.4, 50: 0.4, 51: 0.2, 200: 0.2, 201: 0.1, 500: 0.1, 501: 0.05}
        expected |= {1000: 0.05, 1001: 0.025, 2001: 0.0125, 4001: 0.8 / 128, 6001: 0.8 / 256, 8000: 0.8 / 256}
        expected |= {8001: 0.8 / 512, 9999: 0.8 / 512}
        for it, p in expected.items():
            assert p_schedule(it, 10_000, 0.8) == pytest.approx(p, rel=1e-12), it

    def test_other_budgets_are_rescaled_to_10k(self) -> None:
        # int(it / 1000 * 10000): iteration 1 is 10 (p_init), 2 is 20 (halved), 20 is 200, 21 is 210, 801 is 8010.
        assert [p_schedule(it, 1000, 0.5) for it in (0, 1, 2, 5, 6, 20, 21, 801)] == pytest.approx(
            [0.5, 0.5, 0.25, 0.25, 0.125, 0.125, 0.0625, 0.5 / 512]
        )
        assert p_schedule(5, 5000, 0.8) == 0.8 and p_schedule(6, 5000, 0.8) == 0.4  # 10 and 12 of 10k

    @pytest.mark.parametrize(
        ("p", "shape", "norm", "side"),
        [
            (0.8, (3, 32, 32), "linf", 29),  # round(sqrt(0.8 * 1024)) = round(28.6)
            (0.8, (3, 32, 32), "l2", 29),
            (0.8 / 512, (3, 32, 32), "linf", 1),  # round(1.26)
            (0.8 / 512, (3, 32, 32), "l2", 3),  # at least 3
            (100 / 1024, (3, 32, 32), "l2", 11),  # 10 is even: 11
            (100 / 1024, (3, 32, 32), "linf", 10),
            (1.0, (3, 32, 32), "linf", 31),  # at most H - 1
            (1.0, (1, 32, 32), "l2", 31),
            (1.0, (3, 9, 9), "l2", 7),  # H - 1 = 8 is even: 7
            (1.0, (3, 6, 10), "linf", 5),  # the shorter side bounds it
            (0.05, (3, 224, 224), "linf", 50),  # the paper's ImageNet setting: round(50.09)
        ],
    )
    def test_window_side(self, p: float, shape: tuple[int, int, int], norm: str, side: int) -> None:
        assert window_side(p, *shape, norm) == side

    def test_each_linf_proposal_changes_one_window_of_the_scheduled_side(self) -> None:
        x = images(3, seed=1, low=0.2, high=0.8)
        log = QueryLog(Constant(), x, torch.zeros(3, dtype=torch.int64), radius=0.1)
        result = Square(eps=0.1, max_queries=40, p_init=0.9).run(
            log, x, torch.zeros(3, dtype=torch.int64), generator=seeded(0)
        )
        assert result.queries.tolist() == [40, 40, 40]
        start, proposals = log.rows[0], log.rows[1:]
        seen = set()
        for it, cand in enumerate(proposals):
            side = window_side(p_schedule(it, 40, 0.9), *SHAPE, "linf")
            changed = (cand != start).any(dim=1)  # (N, H, W): nothing was accepted, so vs the start
            assert bool(changed.flatten(1).any(dim=1).all()), "a proposal that changes nothing"
            for img in changed:
                rows, cols = img.any(dim=1).nonzero().flatten(), img.any(dim=0).nonzero().flatten()
                extent = (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1)
                assert max(extent) <= side
                seen.add((side, max(extent)))
            moved = cand[cand != start]
            assert bool(((moved - x.expand_as(cand)[cand != start]).abs() - 0.1).abs().max() < 1e-12)
        assert {s for s, e in seen if s == e} >= {7, 1}  # both the largest and the smallest windows occur

    def test_linf_signs_are_redrawn_until_the_window_changes(self) -> None:
        # One channel, 2x2 images: every window is one pixel, half the sign draws are no-ops.
        x = images(4, seed=2, low=0.3, high=0.7, shape=(1, 2, 2))
        log = QueryLog(Constant(), x, torch.zeros(4, dtype=torch.int64), radius=0.1)
        Square(eps=0.1, max_queries=60).run(log, x, torch.zeros(4, dtype=torch.int64), generator=seeded(0))
        start = log.rows[0]
        for cand in log.rows[1:]:
            assert (cand != start).flatten(1).sum(dim=1).tolist() == [1, 1, 1, 1]


class TestMetaBump:
    @staticmethod
    def loop_rectangles(rows: int, cols: int) -> torch.Tensor:
        """The paper's construction, literally: rectangle k grows by one cell on each side."""
        out = torch.zeros(rows, cols, dtype=torch.float64)
        top, left = rows // 2, cols // 2
        for k in range(max(rows // 2, cols // 2) + 1):
            out[max(top - k, 0) : top + k + 1, max(left - k, 0) : left + k + 1] += 1.0 / (k + 1) ** 2
        return out / out.norm()

    @pytest.mark.parametrize("side", [1, 2, 3, 5, 6, 7, 29])
    def test_matches_the_rectangle_construction(self, side: int) -> None:
        half = side // 2
        top = self.loop_rectangles(half, side) if half else torch.zeros(0, side, dtype=torch.float64)
        expected = torch.cat([top, -self.loop_rectangles(side - half, side)])
        expected = expected / expected.norm()
        bump = meta_bump(side)
        torch.testing.assert_close(bump, expected, rtol=0, atol=1e-12)
        assert float(bump.norm()) == pytest.approx(1.0)
        assert bool((bump[:half] > 0).all()) and bool((bump[half:] < 0).all())

    def test_each_half_peaks_at_its_centre(self) -> None:
        bump = meta_bump(7)  # rows 0-2 positive, rows 3-6 negative
        top, bottom = bump[:3], -bump[3:]
        assert divmod(int(top.argmax()), 7) == (1, 3) and divmod(int(bottom.argmax()), 7) == (2, 3)
        assert float(top[1, 3]) > float(top[0, 2]) > float(top[0, 0])  # falls off with the distance


# ------------------------------------------------------------------------- budgets
@pytest.mark.filterwarnings("ignore:eps=.* budget exceeds:UserWarning")  # eps up to 2 on purpose
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    norm=st.sampled_from(["linf", "l2"]),
    eps=st.floats(0.001, 2.0),
    max_queries=st.integers(1, 40),
    seed=st.integers(0, 2**16),
    loss=st.sampled_from(["margin", "ce"]),
)
def test_perturbations_stay_in_the_ball_and_the_box(
    norm: str, eps: float, max_queries: int, seed: int, loss: str
) -> None:
    x = images(4, seed=seed).float()
    x[0] = (x[0] > 0.5).float()  # a saturated image: clipping at 0 and 1 everywhere
    model = linear_model(seed % 5).float()
    y = model(x).argmax(1)
    attack = Square(eps=eps, norm=norm, max_queries=max_queries, loss=loss)
    result = attack.run(model, x, y, generator=seeded(seed))
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0
    assert bool((attack.threat.distance(result.x_adv - x, dtype=torch.float64) <= eps + 1e-6).all())
    assert bool((result.queries <= max_queries).all())
    fooled = model(result.x_adv).argmax(1) != y
    assert bool(fooled[result.info["success"]].all())  # a reported success is a misclassification


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_without_clipping_the_perturbation_uses_the_whole_budget(norm: str) -> None:
    x = images(5, seed=3, low=0.4, high=0.6)
    y = torch.zeros(5, dtype=torch.int64)
    model = Confident(linear_model(3), bonus=1e3)  # nothing succeeds, proposals are still accepted
    eps = 0.05 if norm == "linf" else 0.3
    start = Square(eps=eps, norm=norm, max_queries=1).run(model, x, y, generator=seeded(1))
    result = Square(eps=eps, norm=norm, max_queries=200).run(model, x, y, generator=seeded(1))
    assert result.queries.tolist() == [200] * 5
    assert bool((result.x_adv != start.x_adv).flatten(1).any(dim=1).all())  # the search moved every image
    assert bool((result.info["margin"] < start.info["margin"]).all())
    for delta in (start.x_adv - x, result.x_adv - x):
        if norm == "linf":  # every pixel of every channel at ±eps
            torch.testing.assert_close(delta.abs(), torch.full_like(delta, eps), rtol=0, atol=1e-12)
        else:  # mass moved between windows: the norm stays eps
            torch.testing.assert_close(delta.flatten(1).norm(dim=1), torch.full((5,), eps, dtype=delta.dtype))


# -------------------------------------------------------------------- query counts
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("max_queries", [1, 2, 9, 150])
def test_queries_are_the_forwards_of_each_image_and_within_budget(norm: str, max_queries: int) -> None:
    x = images(8, seed=4)
    model = linear_model(4)
    y = model(x).argmax(1)
    eps = 0.05 if norm == "linf" else 0.3
    log = QueryLog(model, x, y, radius=eps)
    result = Square(eps=eps, norm=norm, max_queries=max_queries).run(log, x, y, generator=seeded(2))
    assert result.queries.dtype == torch.int64 and result.queries.shape == (8,)
    assert torch.equal(log.counts(), result.queries)
    assert bool((result.queries >= 1).all()) and bool((result.queries <= max_queries).all())
    assert bool((result.queries[~result.info["success"]] == max_queries).all())  # failures spend it all
    assert log.grad_modes == {False}  # black box: never under autograd
    if max_queries == 150:
        assert 0 < int(result.info["success"].sum()) < 8  # both kinds of image are covered


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_an_image_is_never_queried_after_it_succeeds(norm: str) -> None:
    x = images(10, seed=5)
    model = linear_model(5)
    y = model(x).argmax(1)
    eps = 0.03 if norm == "linf" else 0.3
    log = QueryLog(model, x, y, radius=eps)
    result = Square(eps=eps, norm=norm, max_queries=300).run(log, x, y, generator=seeded(3))
    success = result.info["success"]
    assert bool(success.any()) and bool(result.queries[success].lt(300).any())
    for i in range(10):
        margins = log.margins_of(i)
        assert len(margins) == int(result.queries[i])
        assert bool((margins[:-1] >= 0).all())  # only the last query may fool the model
        assert bool(margins[-1] < 0) == bool(success[i])
        if success[i]:  # the returned image is the one that fooled the model, with its margin
            assert float(result.info["margin"][i]) == pytest.approx(float(margins[-1]), abs=1e-5)


def test_already_misclassified_images_cost_nothing_and_are_returned_unchanged() -> None:
    x = images(6, seed=6)
    model = linear_model(6)
    y = model(x).argmax(1)
    wrong = y.clone()
    wrong[::2] = (y[::2] + 1) % 10
    log = QueryLog(model, x, wrong, radius=0.05)
    result = Square(eps=0.05, max_queries=30).run(log, x, wrong, generator=seeded(0))
    assert result.queries[::2].tolist() == [0, 0, 0] and log.counts()[::2].tolist() == [0, 0, 0]
    assert torch.equal(result.x_adv[::2], x[::2])
    assert result.info["success"][::2].tolist() == [True] * 3
    assert bool((result.info["margin"][::2] < 0).all())


def test_eps_zero_queries_nothing() -> None:
    x = images(3, seed=7)
    model = linear_model(7)
    y = model(x).argmax(1)
    result = Square(eps=0.0, max_queries=50).run(model, x, y)
    assert torch.equal(result.x_adv, x) and result.queries.tolist() == [0, 0, 0]
    assert not bool(result.info["success"].any())


# ------------------------------------------------------------------------ randomness
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_same_generator_same_result_whatever_the_batch_size(norm: str) -> None:
    x = images(7, seed=8)
    model = linear_model(8)
    y = model(x).argmax(1)
    attack = Square(eps=0.03 if norm == "linf" else 0.3, norm=norm, max_queries=120)
    a = attack.run(model, x, y, generator=seeded(5))
    b = attack.run(model, x, y, generator=seeded(5))
    passes = ForwardSizes(model)
    chunked = attack.replace(batch_size=2).run(passes, x, y, generator=seeded(5))
    other = attack.run(model, x, y, generator=seeded(6))
    assert passes.sizes[0] == 7 and max(passes.sizes[1:]) <= 2  # the clean pass, then chunks
    for r in (b, chunked):
        assert torch.equal(r.x_adv, a.x_adv) and torch.equal(r.queries, a.queries)
        assert torch.equal(r.info["success"], a.info["success"]) and torch.equal(r.info["margin"], a.info["margin"])
    assert not torch.equal(other.x_adv, a.x_adv)
    assert bool(a.info["success"].any()) and int(a.queries.sum()) > 7


def test_randomised_models_are_attacked_as_black_boxes() -> None:
    class Noisy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = linear_model(9)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.model(x) + 0.5 * torch.randn(x.shape[0], 10, dtype=x.dtype)

    x = images(6, seed=9)
    model = Noisy()
    y = model.model(x).argmax(1)
    log = QueryLog(model, x, y, radius=0.05)
    result = Square(eps=0.05, max_queries=100).run(log, x, y, generator=seeded(0))
    assert torch.equal(log.counts(), result.queries)  # one forward per accept decision, no EOT
    assert bool(((result.x_adv - x).abs() <= 0.05 + 1e-12).all())


# ------------------------------------------------------------------ attack outcomes
def test_targeted_reaches_the_targets() -> None:
    x = images(8, seed=10)
    model = linear_model(10)
    y = model(x).argmax(1)
    targets = (y + 1 + torch.arange(8) % 9) % 10
    result = Square(eps=0.1, max_queries=500).run(model, x, y, targets=targets, generator=seeded(0))
    assert bool(result.info["success"].all())
    assert torch.equal(model(result.x_adv).argmax(1), targets)
    assert bool((result.info["margin"] < 0).all())


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_untargeted_succeeds_on_an_easy_model(norm: str) -> None:
    x = images(12, seed=11)
    model = linear_model(11)
    y = model(x).argmax(1)
    result = Square(eps=0.1 if norm == "linf" else 1.0, norm=norm, max_queries=500).run(
        model, x, y, generator=seeded(0)
    )
    assert bool(result.info["success"].all())
    assert bool((model(result.x_adv).argmax(1) != y).all())


class OnePixel(nn.Module):
    """Two classes; class 1 wins exactly when pixel (0, 1, 2) rises by more than ``eps / 2``."""

    def __init__(self, reference: float, eps: float) -> None:
        super().__init__()
        self.reference, self.eps = reference, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z1 = x[:, 0, 1, 2] - self.reference - self.eps / 2
        return torch.stack([torch.zeros_like(z1), z1], dim=1)


def test_analytic_a_single_plus_eps_window_breaks_a_one_pixel_model() -> None:
    # Only proposals that put +eps on the pixel lower the margin (from 1.5 eps to -eps / 2);
    # every other proposal leaves it unchanged and is rejected, so the result is the stripes start
    # plus the one accepted window.
    eps = 0.125
    x = torch.full((8, 3, 4, 4), 0.5, dtype=torch.float64)
    model = OnePixel(0.5, eps)
    y = torch.zeros(8, dtype=torch.int64)
    result = Square(eps=eps, max_queries=100).run(model, x, y, generator=seeded(4))
    assert bool(result.info["success"].all())
    torch.testing.assert_close(result.info["margin"], torch.full((8,), -eps / 2, dtype=torch.float32))
    assert result.x_adv[:, 0, 1, 2].tolist() == [0.5 + eps] * 8
    assert bool(((result.x_adv - x).abs() == eps).all())  # stripes and window: ±eps everywhere
    first_try = result.queries == 1  # the stripes start already had +eps on column 2
    assert 0 < int(first_try.sum()) < 8 and bool((result.queries[~first_try] > 1).all())


# ------------------------------------------------------------------------ settings
class TestSettings:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"eps": -0.1}, ValueError, "eps: expected a value >= 0"),
            ({"eps": float("nan")}, ValueError, "eps: expected a finite number"),
            ({"eps": 0.1, "norm": "l1"}, ValueError, "norm: expected one of"),
            ({"eps": 0.1, "max_queries": 0}, ValueError, "max_queries: expected an integer >= 1"),
            ({"eps": 0.1, "max_queries": 10.0}, TypeError, "max_queries: expected an integer"),
            ({"eps": 0.1, "p_init": 0.0}, ValueError, r"p_init: expected a value in \(0, 1\]"),
            ({"eps": 0.1, "p_init": 1.5}, ValueError, r"p_init: expected a value in \(0, 1\]"),
            ({"eps": 0.1, "p_init": "0.5"}, TypeError, "p_init: expected a number"),
            ({"eps": 0.1, "loss": "cw"}, ValueError, "loss: expected one of"),
            ({"eps": 0.1, "batch_size": 0}, ValueError, "batch_size: expected an integer >= 1"),
        ],
    )
    def test_bad_settings(self, kwargs: dict, error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            Square(**kwargs)

    def test_eps_is_required(self) -> None:
        with pytest.raises(TypeError, match="eps"):
            Square()  # type: ignore[call-arg]
        with pytest.raises(TypeError, match="missing required settings"):
            create_attack("square")

    @pytest.mark.parametrize(("norm", "side"), [("linf", 1), ("l2", 4)])
    def test_images_too_small_are_refused_before_any_query(self, norm: str, side: int) -> None:
        x = torch.full((2, 3, side, side), 0.5)
        log = ForwardSizes(nn.Sequential(nn.Flatten(), nn.Linear(3 * side * side, 4)))
        with pytest.raises(ValueError, match=f"at least {side + 1}x{side + 1} pixels"):
            Square(eps=0.1, norm=norm).run(log, x, torch.zeros(2, dtype=torch.int64))
        assert log.sizes == []

    def test_threat_config_replace(self) -> None:
        attack = Square(eps=8 / 255)
        assert attack.threat == ThreatModel("linf", 8 / 255)
        assert attack.replace(norm="l2", eps=0.5).threat == ThreatModel("l2", 0.5)
        assert attack.uses_gradients is False and attack.randomized is True and attack.name == "square"
        assert attack.config == {
            "eps": 8 / 255,
            "norm": "linf",
            "max_queries": 5000,
            "p_init": 0.8,
            "loss": "margin",
            "batch_size": None,
        }
        changed = attack.replace(max_queries=100)
        assert changed.config == {**attack.config, "max_queries": 100} and attack.max_queries == 5000
        with pytest.raises(TypeError, match="unknown settings"):
            attack.replace(steps=3)

    def test_created_by_name(self) -> None:
        entry = ATTACKS.get("square")
        assert entry.obj is Square and entry.obj.budget == "eps" and entry.obj.norm_setting == "norm"
        attack = create_attack("square", eps=0.5, norm="l2", max_queries=10)
        assert isinstance(attack, Square) and attack.threat == ThreatModel("l2", 0.5)
        assert "Square attack" in entry.help


@pytest.mark.gpu
def test_runs_on_cuda_with_a_cpu_generator() -> None:
    x = images(6, seed=12).float().cuda()
    model = linear_model(12).float().cuda()
    y = model(x).argmax(1)
    for norm, eps in (("linf", 0.05), ("l2", 0.5)):
        a = Square(eps=eps, norm=norm, max_queries=100).run(model, x, y, generator=seeded(0))
        b = Square(eps=eps, norm=norm, max_queries=100).run(model, x, y, generator=seeded(0))
        assert torch.equal(a.x_adv, b.x_adv) and torch.equal(a.queries, b.queries)
        assert bool((a.x_adv - x).flatten(1).norm(p=math.inf if norm == "linf" else 2, dim=1).le(eps + 1e-6).all())
