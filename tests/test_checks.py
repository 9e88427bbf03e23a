"""Tests for the gradient-masking checks: they fire on masked/randomised models, stay quiet otherwise."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from _doubles import GradSign, Net, ProtocolAttack, Quantized, RandomNoise
from torch import Tensor, nn

from bandlimit.attack import AttackResult
from bandlimit.evaluation import FINDING_SOURCES, evaluate
from bandlimit.evaluation import checks as chk


class NoEOT(ProtocolAttack):
    """A gradient attack without an eot_samples setting."""

    name: ClassVar[str] = "noeot"

    def __init__(self, *, eps: float) -> None:
        super().__init__(eps=eps)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        return GradSign(eps=self.config["eps"]).run(model, x, y, generator=generator)


class WeakerWithEps(ProtocolAttack):
    """Perturbs only at small eps: robust accuracy rises with eps (a broken attack)."""

    name: ClassVar[str] = "weird"

    def __init__(self, *, eps: float) -> None:
        super().__init__(eps=eps)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        if self.config["eps"] > 0.2:
            return AttackResult(x.clone())
        return GradSign(eps=self.config["eps"], steps=5).run(model, x, y)


class Noisy(nn.Module):
    """A randomised defence: Gaussian noise in forward, also in eval mode."""

    def __init__(self, net: nn.Module, sigma: float = 0.05) -> None:
        super().__init__()
        self.net, self.sigma = net, sigma

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x + self.sigma * torch.randn_like(x))


class Wrapped(nn.Module):
    def __init__(self, net: nn.Module, fn: Any) -> None:
        super().__init__()
        self.net, self.fn = net, fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(self.net(x))


@pytest.fixture
def net() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval()


def labelled(model: nn.Module, n: int = 24, seed: int = 1) -> tuple[Tensor, Tensor]:
    """Random 3x8x8 images labelled by the model itself (clean accuracy 1)."""
    x = torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return x, model(x).argmax(1)


def codes(result) -> set[str]:
    return {f.code for f in result.findings}


class TestOnModels:
    def test_quiet_on_plain_model(self, net):
        data = labelled(net)
        attacks = [
            GradSign(eps=0.02, steps=10),
            GradSign(eps=0.08, steps=10),
            RandomNoise(eps=0.08, tries=5),
            GradSign(eps=0.5, steps=10),
        ]
        res = evaluate(net, data, attacks)
        assert res.findings == [], [str(f) for f in res.findings]
        assert set(res.checks.values()) == {"passed"}
        expected = {"randomized", "gradients", "probability-outputs", "black-box", "eps-curve", "huge-eps"}
        assert set(res.checks) >= expected
        assert not res.randomized and res.votes == 1 and res.eot["applied"] == {}

    def test_gradient_masking_flags(self, net):
        model = Quantized(net).eval()
        data = labelled(model)
        attacks = [GradSign(eps=0.05), GradSign(eps=0.1), RandomNoise(eps=0.1, tries=20), GradSign(eps=0.5, steps=5)]
        res = evaluate(model, data, attacks)
        found = codes(res)
        assert {"zero-gradients", "black-box-beats-white-box", "eps-flat", "huge-eps-robust"} <= found
        zero = next(f for f in res.findings if f.code == "zero-gradients")
        assert zero.details["count"] == zero.details["n"] == 24
        assert zero.doc.endswith("#zero-gradients") and "BPDA" in zero.advice
        assert all(f.severity == "warning" and f.message and f.advice for f in res.findings)
        # Model checks come first; the attack-outcome ones are what a merge of shards recomputes.
        sources = {f.code: f.source for f in res.findings}
        assert sources.pop("zero-gradients") == "model" and set(sources.values()) == {"outcome"}
        assert [f.source for f in res.findings] == sorted((f.source for f in res.findings), key=FINDING_SOURCES.index)

    def test_randomized_model_gets_eot(self, net):
        model = Noisy(net).eval()
        data = labelled(net, n=12)
        res = evaluate(model, data, [GradSign(eps=0.05)], eot_samples=3)
        assert res.randomized and res.votes == 5
        assert res.eot["applied"] == {"gradsign/linf/0.05": 3}
        assert res.attacks[0].config["eot_samples"] == 3 and res.attacks[0].eot_samples == 3
        finding = next(f for f in res.findings if f.code == "randomized-model")
        assert "EOT versions" in finding.message

    def test_randomized_model_without_eot_says_so(self, net):
        model = Noisy(net).eval()
        data = labelled(net, n=12)
        off = evaluate(model, data, [GradSign(eps=0.05)], eot=False)
        finding = next(f for f in off.findings if f.code == "randomized-model")
        assert "NOT applied" in finding.message and "eot=False" in finding.message
        assert off.attacks[0].config["eot_samples"] == 1
        missing = evaluate(model, data, [NoEOT(eps=0.05)])
        finding = next(f for f in missing.findings if f.code == "randomized-model")
        assert "no eot_samples setting" in finding.message and missing.eot["missing"] == ["noeot/linf/0.05"]

    def test_explicit_eot_on_deterministic_model(self, net):
        res = evaluate(net, labelled(net, n=8), [GradSign(eps=0.05), RandomNoise(eps=0.05, tries=20)], eot=2)
        assert res.eot["applied"] == {"gradsign/linf/0.05": 2} and "randomized-model" not in codes(res)

    @pytest.mark.parametrize("fn", [lambda z: z.softmax(dim=1), lambda z: torch.sigmoid(z)], ids=["softmax", "sigmoid"])
    def test_probability_outputs(self, net, fn):
        model = Wrapped(net, fn).eval()
        res = evaluate(model, labelled(net, n=8), [GradSign(eps=0.05)])
        assert "probability-outputs" in codes(res)

    def test_eps_not_monotone(self, net):
        data = labelled(net)
        res = evaluate(net, data, [WeakerWithEps(eps=0.1), WeakerWithEps(eps=0.3)])
        assert "eps-not-monotone" in codes(res)

    def test_sanity_attack(self, net):
        data = labelled(net)
        res = evaluate(net, data, [GradSign(eps=0.05)], sanity_attack=GradSign(eps=0.5, steps=5))
        assert res.checks["huge-eps"] == "passed" and res.sanity["robust_accuracy"] == 0.0
        masked = Quantized(net).eval()
        res = evaluate(masked, labelled(masked), [GradSign(eps=0.05)], sanity_attack=GradSign(eps=0.5, steps=5))
        assert res.checks["huge-eps"] == "flagged" and "huge-eps-robust" in codes(res)
        probe = next(f for f in res.findings if f.code == "huge-eps-robust")
        assert probe.source == "probe" and probe.details["label"].startswith("sanity:gradsign/linf/0.5")
        assert res.findings[-1] is probe  # listed after the model and outcome findings
        with pytest.raises(ValueError, match="sanity_attack: expected a budget"):
            evaluate(net, data, [GradSign(eps=0.05)], sanity_attack=GradSign(eps=0.1))
        skipped = evaluate(net, data, [GradSign(eps=0.05)])
        assert skipped.checks["huge-eps"].startswith("skipped")

    def test_checks_off(self, net):
        res = evaluate(Quantized(net).eval(), labelled(net, n=8), [GradSign(eps=0.05)], checks=False)
        assert res.findings == [] and res.checks == {"all": "skipped: checks=False"}


class TestCheckFunctions:
    def test_is_randomized(self, net):
        x = torch.rand(4, 3, 8, 8)
        assert not chk.is_randomized(net, x)
        assert chk.is_randomized(Noisy(net), x)

    def test_nan_and_missing_gradients(self, net):
        x, y = labelled(net, n=4)
        nan_model = Wrapped(net, lambda z: z + 0 * torch.sqrt(z - z))
        assert [f.code for f in chk.check_gradients(nan_model, x, y)] == ["nan-gradients"]
        detached = Wrapped(net, lambda z: z.detach())
        assert [f.code for f in chk.check_gradients(detached, x, y)] == ["no-gradients"]
        assert chk.check_gradients(net, x, y) == []

    def test_black_box(self):
        broken = {"w": torch.tensor([True, False, False]), "b": torch.tensor([True, True, False])}
        (f,) = chk.check_black_box("linf/0.03", broken, ["w"], ["b"])
        assert f.details["count"] == 1 and "broke 1 samples" in f.message
        broken["w"] = torch.tensor([True, True, False])
        assert chk.check_black_box("linf/0.03", broken, ["w"], ["b"]) == []
        assert chk.check_black_box("g", broken, [], ["b"]) == []

    def test_eps_curve(self):
        assert chk.check_eps_curve("pgd", [(0.01, 0.5), (0.03, 0.2), (0.06, 0.0)], 100) == []
        assert [f.code for f in chk.check_eps_curve("pgd", [(0.01, 0.2), (0.03, 0.3)], 100)] == ["eps-not-monotone"]
        assert [f.code for f in chk.check_eps_curve("pgd", [(0.01, 0.4), (0.03, 0.4)], 100)] == ["eps-flat"]
        assert chk.check_eps_curve("pgd", [(0.01, 0.0), (0.03, 0.0)], 100) == []  # flat at zero is fine
        assert chk.check_eps_curve("pgd", [(0.01, 0.4)], 100) == []

    def test_huge_eps(self):
        assert chk.huge_eps("linf", 0.5, 3072) and not chk.huge_eps("linf", 0.49, 3072)
        assert chk.huge_eps("l2", 0.5 * 3072**0.5, 3072) and not chk.huge_eps("l2", 20.0, 3072)
        assert chk.check_huge_eps("g", 0.0, 0) == []
        assert chk.check_huge_eps("g", 0.1, 3)[0].code == "huge-eps-robust"

    def test_probability_function(self):
        assert chk.check_probability_outputs(torch.randn(8, 10)) == []
        (f,) = chk.check_probability_outputs(torch.randn(8, 10).softmax(1))
        assert f.details["rows_sum_to_one"]


class EOTIter(ProtocolAttack):
    """A gradient attack that names its EOT setting ``eot_iter`` (as torchattacks' EOTPGD does)."""

    name: ClassVar[str] = "eotiter"

    def __init__(self, *, eps: float, eot_iter: int = 2) -> None:
        super().__init__(eps=eps, eot_iter=eot_iter)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        return GradSign(eps=self.config["eps"], eot_samples=self.config["eot_iter"]).run(model, x, y)


class TestIssue11Fixes:
    """Each case failed before: the checks said more than the run showed."""

    def test_two_attacks_of_one_name_at_one_eps_are_no_eps_curve(self, net):
        # Before: the two GradSigns made one "curve" of two points at the same eps, and the check
        # reported "passed" although no attack ran at a second budget.
        res = evaluate(net, labelled(net), [GradSign(eps=0.05, steps=1), GradSign(eps=0.05, steps=5)])
        assert res.checks["eps-curve"].startswith("skipped")

    def test_same_attack_at_two_eps_is_one_curve_and_different_settings_two(self, net):
        attacks = [WeakerWithEps(eps=0.1), WeakerWithEps(eps=0.3)]
        attacks += [GradSign(eps=0.1, steps=1), GradSign(eps=0.1, steps=5)]
        res = evaluate(net, labelled(net), attacks)
        labels = [f.details.get("label") for f in res.findings if f.code == "eps-not-monotone"]
        # The worst case rises too (GradSign-5 breaks everything at 0.1 only); the two GradSigns
        # each ran at one budget, so neither has a curve.
        assert sorted(labels) == ["weird (linf)", "worst case (linf)"]
        assert res.checks["eps-curve"] == "flagged"

    def test_randomized_model_with_black_box_attacks_only(self, net):
        # Before: "EOT was NOT applied to all gradient attacks" although the run had none.
        res = evaluate(Noisy(net).eval(), labelled(net, n=12), [RandomNoise(eps=0.05, tries=3)])
        finding = next(f for f in res.findings if f.code == "randomized-model")
        assert "no gradient attack" in finding.message and "NOT applied" not in finding.message

    def test_configured_eot_is_kept_under_auto(self, net):
        # Before: a PGD-EOT with 8 samples was silently raised to eot_samples (20 by default).
        res = evaluate(Noisy(net).eval(), labelled(net, n=8), [GradSign(eps=0.05, eot_samples=8), GradSign(eps=0.05)])
        assert res.eot["applied"] == {"gradsign/linf/0.05": 8, "gradsign/linf/0.05#2": 20}
        assert [a.config["eot_samples"] for a in res.attacks] == [8, 20]
        forced = evaluate(Noisy(net).eval(), labelled(net, n=8), [GradSign(eps=0.05, eot_samples=8)], eot=12)
        assert forced.attacks[0].config["eot_samples"] == 12

    def test_eot_iter_counts_as_eot(self, net):
        # Before: an attack averaging over draws itself (eot_iter) was reported as "EOT not applied".
        res = evaluate(Noisy(net).eval(), labelled(net, n=8), [EOTIter(eps=0.05, eot_iter=4)])
        assert res.eot["applied"] == {"eotiter/linf/0.05": 4} and res.eot["missing"] == []
        raised = evaluate(Noisy(net).eval(), labelled(net, n=8), [EOTIter(eps=0.05, eot_iter=1)], eot_samples=3)
        assert raised.attacks[0].config["eot_iter"] == 3
