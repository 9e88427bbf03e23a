"""Tests for attacks.apgd: the APGD schedule, DLR losses, APGD-T targets, and the attack's guarantees."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_pgd import _Counting, _data, _model
from test_pgd import _Linear as _SmoothLinear
from torch import nn

import attacks.apgd as apgd_module
from attacks import APGD, ATTACKS, PGD, create_attack
from attacks._losses import attack_loss, dlr_loss
from attacks.apgd import checkpoints, halve_step
from attacks.bands import BandConstraint
from attacks.base import ThreatModel

FAST = settings(max_examples=8, deadline=None)

VARIANTS: dict[str, dict[str, Any]] = {
    "linf": {},
    "l2": {"norm": "l2"},
    "dlr": {"loss": "dlr"},
    "apgd-t": {"loss": "dlr", "targets": 3},
    "apgd-t-margin": {"loss": "dlr", "targets": 2, "target_order": "margin"},
    "linf-dct-low": {"band": "low"},
    "l2-fourier-high": {"norm": "l2", "band": "high", "band_space": "fourier"},
    "eot-restarts": {"eot_samples": 2, "restarts": 2},
    "no-early-stop": {"early_stop": False},
}


class _Linear(nn.Module):
    """Linear logits ``W x + b`` on 3x8x8 images (weights from a fixed seed, scaled by ``scale``)."""

    def __init__(self, classes: int = 10, seed: int = 1234, scale: float = 20.0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.fc = nn.Linear(3 * 8 * 8, classes)
        with torch.no_grad():
            self.fc.weight.mul_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


class _RandomFlip(nn.Module):
    """A randomised model: each call flips each image left-right with probability 1/2."""

    def __init__(self, inner: nn.Module, seed: int) -> None:
        super().__init__()
        self.inner, self.generator = inner, torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flip = torch.rand(x.shape[0], generator=self.generator) < 0.5
        return self.inner(torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x))


class _Cycling(nn.Module):
    """A 'randomised' model that takes its fixed networks in turn, one per call."""

    def __init__(self, *models: nn.Module) -> None:
        super().__init__()
        self.models, self.calls = nn.ModuleList(models), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.models[self.calls % len(self.models)]
        self.calls += 1
        return model(x)


def _exact_robust(model: _Linear, x: torch.Tensor, y: torch.Tensor, eps: float, norm: str) -> torch.Tensor:
    """Which samples a linear model classifies correctly under every perturbation of the threat model.

    L∞: the worst perturbation against class j is separable, each pixel at the end of its
    interval ``[max(-eps, -x), min(eps, 1 - x)]`` that lowers ``(w_y - w_j)·x``. L2: the margin
    minus ``eps·||w_y - w_j||_2``, exact when the box does not bind (images far from 0 and 1).
    """
    w, b = model.fc.weight.detach(), model.fc.bias.detach()
    xf = x.flatten(1)
    diff = w[y].unsqueeze(1) - w.unsqueeze(0)  # (N, classes, d)
    margin = (diff * xf.unsqueeze(1)).sum(-1) + b[y].unsqueeze(1) - b
    if norm == "linf":
        lo, hi = (-xf).clamp(min=-eps).unsqueeze(1), (1 - xf).clamp(max=eps).unsqueeze(1)
        worst = margin + torch.where(diff > 0, diff * lo, diff * hi).sum(-1)
    else:
        worst = margin - eps * diff.norm(dim=-1)
    return worst.scatter(1, y.unsqueeze(1), math.inf).amin(dim=1) > 0


def _seeded(attack: APGD, model: nn.Module, x: torch.Tensor, y: torch.Tensor, seed: int, **kw: Any) -> torch.Tensor:
    return attack(model, x, y, generator=torch.Generator().manual_seed(seed), **kw)


def _accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


class TestSchedule:
    def test_checkpoints_of_the_paper(self) -> None:
        # Croce & Hein 2020, §3.2: p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99.
        assert checkpoints(100) == (0, 22, 41, 57, 70, 80, 87, 93, 99)
        assert checkpoints(1000) == (0, 220, 410, 570, 700, 800, 870, 930, 990)

    @pytest.mark.parametrize("steps", [1, 2, 5, 10, 20, 37, 250])
    def test_checkpoints_increase_within_the_run(self, steps: int) -> None:
        w = checkpoints(steps)
        assert w[0] == 0 and w[1] == math.ceil(0.22 * steps)
        assert all(a < b for a, b in itertools.pairwise(w)) and w[-1] <= steps

    def test_checkpoints_errors(self) -> None:
        with pytest.raises(ValueError, match="steps: expected an integer >= 1"):
            checkpoints(0)

    @staticmethod
    def _rule(history: list[float], best_at_check: float, reduced: bool) -> bool:
        """The rule applied to one sample's losses f(x^(w_{j-1})), ..., f(x^(w_j))."""
        h = torch.tensor(history)
        increases = (h[1:] > h[:-1]).sum().reshape(1)
        best = h.max().reshape(1)
        flag = halve_step(
            increases, len(history) - 1, best, torch.tensor([best_at_check]), torch.tensor([reduced]), 0.75
        )
        return bool(flag)

    def test_condition_1_oscillating_loss_halves(self) -> None:
        rising = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]  # 8 of 8 steps increase
        zigzag = [0.0, 1.0, 0.5, 1.5, 1.0, 2.0, 1.5, 2.5, 2.0]  # 4 of 8 < 0.75 * 8 = 6
        assert not self._rule(rising, best_at_check=0.0, reduced=False)
        assert self._rule(zigzag, best_at_check=0.0, reduced=True)  # improved, but oscillates
        six = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 5.0, 4.0]  # exactly 6 of 8: not fewer than rho * window
        assert not self._rule(six, best_at_check=0.0, reduced=False)
        five = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 4.0, 3.0, 2.0]
        assert self._rule(five, best_at_check=0.0, reduced=True)

    def test_condition_2_no_improvement_without_a_recent_halving(self) -> None:
        rising_below_best = [0.0, 1.0, 2.0, 3.0, 4.0]  # rises every step but never beats 10
        assert self._rule(rising_below_best, best_at_check=10.0, reduced=False)
        assert not self._rule(rising_below_best, best_at_check=10.0, reduced=True)  # halved last time: wait
        assert not self._rule(rising_below_best, best_at_check=3.0, reduced=False)  # it did improve

    def test_rule_is_per_sample(self) -> None:
        flags = halve_step(
            torch.tensor([8, 2, 8]), 8, torch.tensor([5.0, 5.0, 5.0]), torch.tensor([1.0, 1.0, 5.0]),
            torch.tensor([False, False, False]), 0.75,
        )  # fmt: skip
        assert flags.tolist() == [False, True, True]

    def test_loop_checks_at_every_checkpoint(self, monkeypatch: pytest.MonkeyPatch) -> None:
        calls: list[tuple[int, torch.Tensor]] = []

        def spy(increases: torch.Tensor, window: int, *args: Any) -> torch.Tensor:
            flags = halve_step(increases, window, *args)
            calls.append((window, flags))
            return flags

        monkeypatch.setattr(apgd_module, "halve_step", spy)
        x, y = _data(6, 0)
        APGD(eps=0.05, steps=30, early_stop=False)(_model(0), x, y)
        w = checkpoints(30)
        inner = [b - a for a, b in itertools.pairwise(w) if b < 30]  # a checkpoint at the last step is moot
        assert [window for window, _ in calls] == inner
        assert any(bool(flags.any()) for _, flags in calls)  # the steps were halved somewhere


class TestLosses:
    def test_dlr_by_hand(self) -> None:
        z = torch.tensor([[3.0, 1.0, 2.0, 0.5], [0.0, 4.0, 1.0, 2.0]])
        y = torch.tensor([0, 2])
        # row 0: -(3 - 2) / (3 - 1); row 1: -(1 - 4) / (4 - 1)
        torch.testing.assert_close(dlr_loss(z, y), torch.tensor([-0.5, 1.0]))
        t = torch.tensor([3, 3])
        # row 0: -(3 - 0.5) / (3 - (1 + 0.5) / 2); row 1: -(1 - 2) / (4 - (1 + 0) / 2)
        torch.testing.assert_close(dlr_loss(z, y, t), torch.tensor([-2.5 / 2.25, 1.0 / 3.5]))
        torch.testing.assert_close(attack_loss("dlr", z, t, targeted=True, y=y), dlr_loss(z, y, t))
        torch.testing.assert_close(attack_loss("dlr", z, y, targeted=False), dlr_loss(z, y))

    @FAST
    @given(seed=st.integers(0, 1000), shift=st.floats(-50, 50), scale=st.floats(0.1, 10))
    def test_dlr_invariant_to_shift_and_scale(self, seed: int, shift: float, scale: float) -> None:
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(5, 10, generator=g, dtype=torch.float64)
        y, t = torch.randint(0, 10, (5,), generator=g), torch.randint(0, 10, (5,), generator=g)
        for targets in (None, t):
            # In float64 (which the loss keeps) the invariance holds to rounding; in float32 a shift
            # of 50 alone moves each logit by up to 50 * 2**-24, which no fixed tolerance absorbs.
            got, want = dlr_loss(z * scale + shift, y, targets), dlr_loss(z, y, targets)
            assert got.dtype == torch.float64
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-9)

    def test_dlr_positive_exactly_when_misclassified(self) -> None:
        z = torch.randn(200, 10, generator=torch.Generator().manual_seed(0))
        y = torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(1))
        assert torch.equal(dlr_loss(z, y) > 0, z.argmax(1) != y)

    def test_dlr_errors(self) -> None:
        with pytest.raises(ValueError, match="untargeted DLR loss needs at least 3 classes, got 2"):
            dlr_loss(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long))
        with pytest.raises(ValueError, match="targeted DLR loss needs at least 4 classes, got 3"):
            dlr_loss(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), torch.ones(2, dtype=torch.long))
        with pytest.raises(ValueError, match="needs the true labels y"):
            attack_loss("dlr", torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), targeted=True)


class TestProperties:
    @FAST
    @given(variant=st.sampled_from(sorted(VARIANTS)), eps=st.floats(0.0, 0.5), seed=st.integers(0, 1000))
    def test_feasible_and_deterministic(self, variant: str, eps: float, seed: int) -> None:
        model = _model(seed)
        x, y = _data(4, seed)
        attack = APGD(eps=eps, steps=4, **VARIANTS[variant])
        a, b = _seeded(attack, model, x, y, seed), _seeded(attack, model, x, y, seed)
        assert torch.equal(a, b)
        delta = a - x
        assert a.dtype == x.dtype and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
        assert torch.all(attack.threat.distance(delta) <= eps + 1e-6)
        c = attack.constraint
        if isinstance(c, BandConstraint):
            energy = delta.flatten(1).pow(2).sum(dim=1)
            resolvable = delta.flatten(1).abs().amax(dim=1) > 1e3 * torch.finfo(delta.dtype).eps
            rel = c.out_of_band_energy(delta) / energy.clamp_min(1e-30)
            assert float(torch.where(resolvable, rel, 0.0).max()) <= 1e-6  # float32 rounding of x_adv

    @pytest.mark.parametrize(
        "kw", [{"band": "low"}, {"band": "mid", "norm": "l2"}, {"band": "high", "band_space": "fourier"}]
    )
    def test_band_limited_out_of_band_energy(self, kw: dict[str, Any]) -> None:
        model = _model(3, dtype=torch.float64)
        x = 0.25 + 0.5 * _data(6, 3, dtype=torch.float64)[0]  # room for a smooth perturbation
        with torch.no_grad():
            y = model(x).argmax(1)  # all attacked: none is skipped as already wrong
        eps = 0.5 if kw.get("norm") == "l2" else 0.05
        attack = APGD(eps=eps, steps=6, **kw)
        delta = _seeded(attack, model, x, y, 0) - x
        energy = delta.flatten(1).pow(2).sum(dim=1)
        assert bool((energy > 0).all())
        # The band projection's documented bound: the out-of-band part is at most tol (1e-4) of
        # the perturbation's L2 norm, i.e. a relative energy of at most tol**2 = 1e-8.
        bound = attack.constraint.tol**2
        assert float((attack.constraint.out_of_band_energy(delta) / energy).max()) <= bound

    @pytest.mark.parametrize("norm", ["linf", "l2"])
    def test_linear_model_finds_the_optimal_perturbation(self, norm: str) -> None:
        # Two classes, logits W x + b: the CE loss rises with the margin (w_1 - w_0)·x, so the
        # best perturbation of the ball is eps·sign(w_1 - w_0) (L∞) or eps·(w_1 - w_0)/||.||_2.
        model = _Linear(classes=2, scale=1.0)
        with torch.no_grad():
            # Class 0 stays predicted (no early stop), with a probability far enough from 1 that
            # the float32 softmax gradient keeps its direction.
            model.fc.bias.copy_(torch.tensor([2.0, 0.0]))
        x = 0.3 + 0.4 * _data(5, 4)[0]  # away from the box, which would cut the optimum
        y = torch.zeros(5, dtype=torch.long)
        w = (model.fc.weight[1] - model.fc.weight[0]).detach().view(1, 3, 8, 8)
        eps = 0.02 if norm == "linf" else 0.3
        best = eps * (w.sign() if norm == "linf" else w / w.norm())
        assert bool((model(x + best).argmax(1) == 0).all())
        for kw in ({"random_start": False}, {"random_start": False, "restarts": 2}, {}):
            delta = _seeded(APGD(eps=eps, norm=norm, steps=10, **kw), model, x, y, 1) - x
            if norm == "linf" or kw.get("random_start") is False:
                torch.testing.assert_close(delta, best.expand_as(x), rtol=0, atol=1e-6)
            else:
                # From a random start on the sphere the optimum is approached, not hit: near it
                # the float32 loss stops resolving the angle.
                cos = delta.flatten(1) @ best.flatten() / (eps * delta.flatten(1).norm(dim=1))
                assert float(cos.min()) >= 0.999

    @pytest.mark.parametrize(
        ("variant", "eps"),
        [("linf", 0.02), ("linf", 0.05), ("dlr", 0.05), ("apgd-t", 0.05), ("no-early-stop", 0.05), ("l2", 0.2)],
    )
    def test_reaches_the_exact_robust_accuracy_of_a_linear_model(self, variant: str, eps: float) -> None:
        model = _Linear()
        norm = VARIANTS[variant].get("norm", "linf")
        x, _ = _data(32, 0)
        if norm == "l2":
            x = 0.25 + 0.5 * x  # the box must not bind for the L2 formula
        y = model(x).argmax(1)
        robust = _exact_robust(model, x, y, eps, norm)
        assert 0 < int(robust.sum()) < 32  # a case with something to find and something to keep
        x_adv = _seeded(APGD(eps=eps, steps=10, **VARIANTS[variant]), model, x, y, 0)
        with torch.no_grad():
            assert torch.equal(model(x_adv).argmax(1) == y, robust)

    @pytest.mark.parametrize("band", ["mid", "high"])
    def test_band_limited_as_strong_as_pgd(self, band: str) -> None:
        model = _Linear()
        x, _ = _data(32, 0)
        y = model(x).argmax(1)
        accuracy = {
            name: _accuracy(model, _seeded(attack(eps=0.05, steps=10, band=band), model, x, y, 0), y)
            for name, attack in (("apgd", APGD), ("pgd", PGD))
        }
        assert accuracy["apgd"] <= accuracy["pgd"] < 1.0

    @pytest.mark.parametrize("kw", [{}, {"loss": "dlr"}, {"norm": "l2"}, {"band": "low"}])
    def test_targeted_reaches_targets(self, kw: dict[str, Any]) -> None:
        model = _SmoothLinear()  # 16x16: every band holds part of its weights
        x = 0.25 + 0.5 * _data(16, 1, size=16)[0]
        y = model(x).argmax(1)
        targets = (y + 1 + torch.arange(16) % 9) % 10
        eps = 20.0 if kw.get("norm") == "l2" else 1.0
        x_adv = _seeded(APGD(eps=eps, steps=20, **kw), model, x, y, 0, targets=targets)
        assert torch.equal(model(x_adv).argmax(1), targets)

    def test_amp_runs_and_stays_feasible(self) -> None:
        x, y = _data(8, 2)
        x_adv = APGD(eps=0.03, steps=3, amp=True, loss="dlr")(_model(2), x, y)
        assert float((x_adv - x).abs().max()) <= 0.03 + 1e-6


class TestTargets:
    def test_logit_order_takes_the_most_likely_other_classes(self) -> None:
        model = _model(6)
        x, y = _data(8, 6)
        with torch.no_grad():
            logits = model(x)
        result = APGD(eps=0.01, steps=1, loss="dlr", targets=4, early_stop=False).run(model, x, y)
        expected = logits.scatter(1, y.unsqueeze(1), -math.inf).argsort(dim=1, descending=True)[:, :4]
        assert torch.equal(result.info["targets"], expected)
        assert not bool((result.info["targets"] == y.unsqueeze(1)).any())

    def test_margin_order_takes_the_closest_boundary(self) -> None:
        # Class 1 has the higher logit but is far away (tiny weight difference); class 2 is
        # lower but its weights differ a lot from the label's, so a small step reaches it.
        model = _Linear(classes=4, scale=0.0)
        with torch.no_grad():
            model.fc.weight[2, :] = 5.0
            model.fc.weight[3, :] = -0.01
            model.fc.weight[1, :] = 0.001
            model.fc.bias.copy_(torch.tensor([0.0, -0.1, -10.0, -2.0]))
        x = torch.full((2, 3, 8, 8), 0.01)
        y = torch.zeros(2, dtype=torch.long)
        ranks = {
            order: APGD(eps=0.01, steps=1, loss="dlr", targets=2, target_order=order, early_stop=False)
            .run(model, x, y)
            .info["targets"]
            for order in ("logit", "margin")
        }
        assert ranks["logit"].tolist() == [[1, 2]] * 2
        assert ranks["margin"].tolist() == [[2, 1]] * 2

    def test_apgd_t_runs_one_attack_per_target_on_robust_samples(self) -> None:
        model = _Counting(_Linear())
        x, _ = _data(8, 7)
        y = model.inner(x).argmax(1)
        APGD(eps=1e-4, steps=5, loss="dlr", targets=3)(model, x, y)  # too small to break anything
        assert model.calls == 1 + 3 * 6  # clean pass, then x^(0), ..., x^(5) per target
        model.calls = 0
        x_adv = APGD(eps=0.5, steps=5, loss="dlr", targets=3)(model, x, y)  # breaks all with the first target
        assert _accuracy(model.inner, x_adv, y) == 0.0 and model.calls <= 1 + 6

    def test_explicit_targets_make_a_plain_targeted_attack(self) -> None:
        model = _Linear()
        x = 0.25 + 0.5 * _data(8, 8)[0]
        y = model(x).argmax(1)
        targets = (y + 3) % 10
        result = APGD(eps=1.0, steps=10, loss="dlr", targets=5).run(model, x, y, targets=targets)
        assert "targets" not in result.info
        assert torch.equal(model(result.x_adv).argmax(1), targets)


class TestAlgorithm:
    def test_early_stop_only_saves_work(self) -> None:
        model = _Linear()
        x, _ = _data(32, 2)
        y = model(x).argmax(1)
        counted = _Counting(model)
        x_adv = APGD(eps=0.1, steps=20)(counted, x, y)
        assert _accuracy(model, x_adv, y) == 0.0
        assert counted.calls < 21  # stopped once every sample was adversarial
        full = APGD(eps=0.1, steps=20, early_stop=False)(model, x, y)
        assert _accuracy(model, full, y) == 0.0

    def test_early_stop_returns_the_same_success_set(self) -> None:
        model = _model(9)
        x, y = _data(24, 9)
        kw = {"eps": 0.05, "steps": 8}
        a = _seeded(APGD(**kw), model, x, y, 3)
        b = _seeded(APGD(**kw, early_stop=False), model, x, y, 3)
        with torch.no_grad():
            assert torch.equal(model(a).argmax(1) != y, model(b).argmax(1) != y)

    def test_eot_averages_passes(self) -> None:
        x, y = _data(8, 0)
        model = _Counting(_model(0))
        APGD(eps=0.03, steps=4, eot_samples=3, early_stop=False)(model, x, y)
        assert model.calls == 1 + 5 * 3  # clean pass, then eot_samples per evaluation of x^(0..4)

    def test_eot_gradient_is_the_mean(self) -> None:
        a, b = _Linear(seed=1), _Linear(seed=2)
        x, y = _data(4, 0)
        zero = torch.zeros_like(x)
        got = APGD(eps=0.1, eot_samples=2, loss="dlr")._evaluate(_Cycling(a, b), x, zero, y, None, need_grad=True)
        single = APGD(eps=0.1, loss="dlr")
        ga, la, fa = single._evaluate(a, x, zero, y, None, need_grad=True)
        gb, lb, fb = single._evaluate(b, x, zero, y, None, need_grad=True)
        for value, pa, pb in zip(got, (ga, la, fa), (gb, lb, fb), strict=True):
            torch.testing.assert_close(value, (pa + pb) / 2)

    def test_eot_attacks_a_randomised_model(self) -> None:
        # One pass sees a random one of two models (the image flipped or not); the decision
        # that matters is the mean model's. Averaged passes follow its gradient and judge success
        # by its logits; single passes chase the noise and stop on lucky draws.
        inner, mean = _Linear(), _Linear()
        with torch.no_grad():
            w = inner.fc.weight.view(10, 3, 8, 8)
            mean.fc.weight.copy_(((w + w.flip(-1)) / 2).flatten(1))  # the mean model is linear too
        x, _ = _data(32, 0)
        y = mean(x).argmax(1)
        accuracy = {
            eot: _accuracy(mean, _seeded(APGD(eps=0.08, steps=10, eot_samples=eot), _RandomFlip(inner, 0), x, y, 0), y)
            for eot in (1, 8)
        }
        assert not bool(_exact_robust(mean, x, y, 0.08, "linf").any())  # all can be broken
        # (Not all are: a finite average can still look adversarial by chance, and success is sticky.)
        assert accuracy[8] <= 0.2 and accuracy[8] <= accuracy[1] - 0.2

    def test_restarts_keep_the_worst_case(self) -> None:
        model = _model(5)
        x, y = _data(16, 5)
        kw = {"eps": 0.02, "steps": 3, "loss": "dlr", "early_stop": False}
        gen = torch.Generator().manual_seed(7)
        runs = [APGD(**kw)(model, x, y, generator=gen) for _ in range(3)]
        best = APGD(**kw, restarts=3)(model, x, y, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            losses = torch.stack([dlr_loss(model(r), y) for r in runs])
            got = dlr_loss(model(best), y)
        torch.testing.assert_close(got, losses.max(dim=0).values)

    def test_model_untouched(self, tiny_model: nn.Module, tiny_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = tiny_batch
        tiny_model.train()
        before = [p.detach().clone() for p in tiny_model.parameters()]
        APGD(eps=0.03, steps=3, loss="dlr", targets=2, eot_samples=2)(tiny_model, x, y)
        assert tiny_model.training
        assert all(p.grad is None for p in tiny_model.parameters())
        assert all(torch.equal(a, b) for a, b in zip(before, tiny_model.parameters(), strict=True))

    def test_eps_zero_returns_input(self, tiny_model: nn.Module, tiny_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = tiny_batch
        for kw in ({}, {"norm": "l2"}, {"band": "low"}, {"loss": "dlr", "targets": 2}):
            assert torch.equal(APGD(eps=0.0, steps=3, **kw)(tiny_model, x, y), x)


class TestConfig:
    def test_threat_randomized_replace(self) -> None:
        a = APGD(eps=0.03, norm="l2")
        assert a.threat == ThreatModel("l2", 0.03) and a.steps == 100
        assert a.randomized and not a.replace(random_start=False).randomized
        assert a.replace(random_start=False, restarts=2).randomized
        b = a.replace(steps=20, loss="dlr")
        assert isinstance(b, APGD) and b.config["steps"] == 20 and b.config["norm"] == "l2"
        assert "APGD(eps=0.03" in repr(a)

    def test_registered_with_presets(self) -> None:
        assert ATTACKS.get("apgd").obj is APGD and APGD.budget == "eps" and APGD.norm_setting == "norm"
        assert create_attack("apgd-ce", eps=0.1).loss == "ce"
        assert create_attack("apgd-dlr", eps=0.1).loss == "dlr"
        t = create_attack("apgd-t", eps=0.1, steps=5)
        assert (t.loss, t.targets, t.steps) == ("dlr", 9, 5)  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"eps": -0.1}, ValueError, "eps: expected a value >= 0"),
            ({"eps": 0.1, "steps": 0}, ValueError, "steps: expected an integer >= 1"),
            ({"eps": 0.1, "norm": "l1"}, ValueError, "norm: expected one of"),
            ({"eps": 0.1, "loss": "cw"}, ValueError, "loss: expected one of"),
            ({"eps": 0.1, "targets": 0}, ValueError, "targets: expected an integer >= 1"),
            ({"eps": 0.1, "targets": 2.5}, TypeError, "targets: expected an integer"),
            ({"eps": 0.1, "target_order": "random"}, ValueError, "target_order: expected one of"),
            ({"eps": 0.1, "rho": 1.5}, ValueError, r"rho: expected a value in \[0, 1\]"),
            ({"eps": 0.1, "momentum": -0.1}, ValueError, r"momentum: expected a value in \[0, 1\]"),
            ({"eps": 0.1, "restarts": 0}, ValueError, "restarts: expected an integer >= 1"),
            ({"eps": 0.1, "eot_samples": 0}, ValueError, "eot_samples: expected an integer >= 1"),
            ({"eps": 0.1, "band": "ultra"}, ValueError, "band: expected one of"),
            ({"eps": 0.1, "early_stop": 1}, TypeError, "early_stop: expected True or False"),
        ],
    )
    def test_construction_errors(self, kwargs: dict[str, Any], error: type, match: str) -> None:
        with pytest.raises(error, match=match):
            APGD(**kwargs)

    def test_call_errors(self, tiny_batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = tiny_batch
        with pytest.raises(ValueError, match="targets: expected fewer target classes than the model's 10, got 10"):
            APGD(eps=0.03, targets=10)(_model(0), x, y)
        three, four = _Linear(classes=3), _Linear(classes=4)
        x8 = _data(4, 0)[0]
        y8 = torch.zeros(4, dtype=torch.long)
        with pytest.raises(ValueError, match="targeted DLR loss needs at least 4 classes, got 3"):
            APGD(eps=0.03, loss="dlr", targets=2)(three, x8, y8)
        with pytest.raises(ValueError, match="untargeted DLR loss needs at least 3 classes, got 2"):
            APGD(eps=0.03, loss="dlr")(_Linear(classes=2), x8, y8)
        APGD(eps=0.03, steps=2, loss="dlr", targets=3)(four, x8, y8)  # the most a 4-class model allows
        with pytest.raises(ValueError, match=r"band: expected a mask of the images' spatial size"):
            APGD(eps=0.03, band=torch.ones(4, 4))(_model(0), x, y)


class _Direction(nn.Module):
    """``logit_1 - logit_0 = <w, x> - margin``; two more classes far below (the DLR loss reads them)."""

    def __init__(self, w: torch.Tensor, margin: float) -> None:
        super().__init__()
        self.register_buffer("w", w)
        self.margin = margin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (x * self.w).flatten(1).sum(dim=1)
        low = torch.full_like(score, -50.0)
        return torch.stack([torch.zeros_like(score), score - self.margin, low, low - 1.0], dim=1)


@pytest.mark.parametrize(("norm", "eps"), [("linf", 8 / 255), ("l2", 1.0)])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
def test_band_limited_apgd_finds_a_feasible_direction_on_a_saturated_image(norm: str, eps: float, loss: str) -> None:
    """Issue 11: band-limited attacks returned an exactly zero perturbation on saturated images.

    Dark rows on top, a bright block at the bottom left: the [0, 1] box lets a perturbation move
    only inwards there. ``d0``, the lowest vertical DCT basis image (positive on top, negative at
    the bottom), is in the low band and feasible. The model's gradient ``w = d0 - 2 b01`` also
    pushes dark pixels outwards, so a projection that clips after the band step collapses to 0;
    the feasible set holds ``d0`` with ``<w, d0> > 0``, so the best feasible perturbation raises
    the loss and is not 0.
    """
    from scipy.fft import idctn

    x = torch.full((1, 3, 16, 16), 0.5, dtype=torch.float64)
    x[:, :, :5], x[:, :, -4:, :8] = 0.0, 1.0
    grid = torch.zeros(2, 16, 16, dtype=torch.float64)
    grid[0, 1, 0], grid[1, 0, 1] = 1.0, 1.0
    b10, b01 = (torch.from_numpy(idctn(g.numpy(), norm="ortho")) for g in grid)
    d0 = b10 / b10.abs().max()
    w = (d0 - 2 * b01 / b01.abs().max()).expand_as(x).contiguous()
    assert float((w * d0).sum()) > 0  # d0 (feasible, scaled) raises the score
    # Class 0 predicted with a margin of 3 (a saturated softmax would zero the gradient).
    model = _Direction(w, margin=float((w * x).sum()) + 3.0)
    y = torch.zeros(1, dtype=torch.long)
    attack = APGD(eps=eps, norm=norm, steps=20, loss=loss, band="low", random_start=False)
    delta = _seeded(attack, model, x, y, 0) - x
    c = attack.constraint
    assert float(c.distance(delta).max()) <= eps * (1 + 1e-6)
    assert 0.0 <= float((x + delta).min()) and float((x + delta).max()) <= 1.0
    assert float(c.distance(delta)[0]) > 0.25 * eps  # not the zero perturbation
    assert float((w * delta).sum()) > 0.25 * float((w * d0).sum()) * eps / (1 if norm == "linf" else 16)
    energy = float(delta.pow(2).sum())
    assert float(c.out_of_band_energy(delta)[0]) <= c.tol**2 * energy
