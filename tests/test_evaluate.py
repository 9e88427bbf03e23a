"""Tests for bandlimit.evaluation.evaluate: verification, worst case, resume, JSON."""

from __future__ import annotations

import contextlib
import math
from typing import Any

import pytest
import torch
from _doubles import GradSign, Net, RandomNoise, Scripted, model_labelled
from torch import Tensor, nn

from attacks.pgd import FGSM, PGD
from bandlimit.evaluation import BudgetViolation, EvaluationResult, evaluate, verify_adversarial


class TupleThreat(GradSign):
    """Describes its budget as a tuple instead of a ThreatModel."""

    @property
    def threat(self) -> Any:
        return ("linf", self.config["eps"])


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture
def data(model: nn.Module) -> tuple[Tensor, Tensor]:
    """24 images 3x8x8; labels = model predictions except a few, so clean accuracy < 1."""
    x, y = model_labelled(model, 24, seed=1)
    y[:3] = (y[:3] + 1) % 4
    return x, y


# ---------------------------------------------------------------------------------- tests
class TestVerification:
    def test_cheating_attack_raises(self, model, data):
        cheat = Scripted(eps=0.03, make=lambda x: (x + 0.06).clamp(0, 1))
        with pytest.raises(BudgetViolation, match=r"scripted/linf/0.03.*exceeds eps=0.03.*sample \d+"):
            evaluate(model, data, [cheat], checks=False)

    def test_nan_raises(self, model, data):
        nan = Scripted(eps=0.03, make=lambda x: torch.where(x > 0.5, torch.nan, x))
        with pytest.raises(BudgetViolation, match="NaN"):
            evaluate(model, data, [nan], checks=False)

    def test_out_of_range_raises(self, model, data):
        out = Scripted(eps=1.0, make=lambda x: x + 0.5)
        with pytest.raises(BudgetViolation, match=r"leaves \[0, 1\]"):
            evaluate(model, data, [out], checks=False)

    def test_l2_budget(self, model, data):
        def over(x):
            d = torch.randn_like(x)
            return (x + 0.5 * d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * 1.01).clamp(0, 1)

        with pytest.raises(BudgetViolation, match="l2 size"):
            evaluate(model, data, [Scripted(eps=0.5, norm="l2", make=over)], checks=False)

    def test_float_overshoot_is_projected_not_raised(self):
        x = torch.full((2, 1, 4, 4), 0.5)
        x_adv = x + 0.1 + 5e-6
        proj, dist = verify_adversarial(x, x_adv, norm="linf", eps=0.1, attack="a")
        assert float(dist.max()) <= 0.1 + 1e-7
        assert float((proj - x).abs().max()) <= 0.1 + 1e-7
        with pytest.raises(BudgetViolation, match="exceeds"):
            verify_adversarial(x, x + 0.1 + 5e-5, norm="linf", eps=0.1, attack="a")

    def test_shape_mismatch_raises(self):
        x = torch.rand(2, 1, 4, 4)
        with pytest.raises(BudgetViolation, match="shape"):
            verify_adversarial(x, x[:1], norm="linf", eps=0.1, attack="a")

    def test_attack_success_flag_is_not_trusted(self, model, data):
        # Claims success in its info but returns the clean images: robust = clean accuracy.
        liar = Scripted(eps=0.03, make=lambda x: x.clone())
        res = evaluate(model, data, [liar], checks=False)
        assert res.attacks[0].robust_accuracy == pytest.approx(res.clean_accuracy)
        assert res.attacks[0].n_success == 0


class TestRobustAccuracy:
    def test_clean_accuracy_and_records(self, model, data):
        x, y = data
        res = evaluate(model, data, [GradSign(eps=0.05)], batch_size=10)
        assert res.complete and res.n == 24
        assert res.clean_accuracy == pytest.approx(21 / 24)
        assert torch.equal(res.samples.index, torch.arange(24))
        assert torch.equal(res.samples.label, y)
        key = res.attacks[0].key
        pred = res.samples.pred[key]
        assert bool((pred[:3] == -1).all())  # misclassified clean: not attacked
        # Re-run the attack by hand: the harness's recomputed predictions match.
        with torch.no_grad():
            manual = model(GradSign(eps=0.05)(model, x[3:], y[3:])).argmax(1)
        assert torch.equal(pred[3:], manual)
        assert float(res.samples.distance[key][3:].max()) <= 0.05 + 1e-6
        assert res.attacks[0].robust_accuracy == pytest.approx(float((manual == y[3:]).sum()) / 24)

    @pytest.mark.parametrize("mode", ["individual", "cascade"])
    def test_worst_case_below_every_attack_per_sample(self, model, data, mode):
        attacks = [GradSign(eps=0.05), GradSign(eps=0.05, steps=5), RandomNoise(eps=0.05), GradSign(eps=0.1)]
        res = evaluate(model, data, attacks, mode=mode, batch_size=8)
        y = res.samples.label
        correct = res.samples.clean_pred == y
        assert set(res.robust_accuracy) == {"linf/0.05", "linf/0.1"}
        for group in res.groups:
            robust = res.samples.robust[group.key]
            alive = correct.clone()
            for key in group.attacks:  # in the order the group ran them
                pred = res.samples.pred[key]
                # Robust in the group: every attack of the group ran on the sample and failed.
                assert bool((~robust | (pred == y)).all())
                # Skipped (-1): misclassified, or (cascade) already broken by an earlier attack.
                assert torch.equal(pred == -1, ~(alive if mode == "cascade" else correct))
                alive &= ~((pred >= 0) & (pred != y))
                summary = next(s for s in res.attacks if s.key == key)
                assert group.robust_accuracy <= summary.robust_accuracy + 1e-12
            assert torch.equal(robust, alive)
        assert res.robust_accuracy_at(0.05) == res.groups[0].robust_accuracy

    def test_cascade_equals_individual_for_deterministic_attacks(self, model, data):
        attacks = [GradSign(eps=0.03), GradSign(eps=0.03, steps=3)]
        a = evaluate(model, data, attacks, mode="individual", checks=False)
        b = evaluate(model, data, attacks, mode="cascade", checks=False)
        assert torch.equal(a.samples.robust["linf/0.03"], b.samples.robust["linf/0.03"])
        assert b.attacks[0].cumulative and not a.attacks[0].cumulative
        # The cascade runs the second attack only on survivors of the first.
        second = b.samples.pred[b.attacks[1].key]
        assert int((second >= 0).sum()) == b.attacks[0].n_attacked - b.attacks[0].n_success

    def test_queries_and_timings(self, model, data):
        res = evaluate(model, data, [RandomNoise(eps=0.2, tries=4)], checks=False)
        s = res.attacks[0]
        q = res.samples.queries[s.key]
        attacked = res.samples.pred[s.key] >= 0
        assert s.queries_mean == pytest.approx(float(q[attacked].double().mean()))
        assert 1 <= s.queries_median <= 4 and s.time_s >= 0
        broken = attacked & (res.samples.pred[s.key] != res.samples.label)
        assert s.n_success == int(broken.sum()) > 0
        assert s.queries_mean_success == pytest.approx(float(q[broken].double().mean()))
        # A sample stops costing queries once broken; the others use every try.
        assert s.queries_mean_success <= s.queries_mean + 1e-12

    def test_same_attack_twice_gets_unique_keys(self, model, data):
        res = evaluate(model, data, [GradSign(eps=0.05), GradSign(eps=0.05)], checks=False)
        assert [s.key for s in res.attacks] == ["gradsign/linf/0.05", "gradsign/linf/0.05#2"]

    def test_model_state_restored(self, model, data):
        model.train()
        evaluate(model, data, [GradSign(eps=0.05)])
        assert model.training and all(p.requires_grad and p.grad is None for p in model.parameters())

    def test_dataset_input(self, model, data):
        ds = torch.utils.data.TensorDataset(*data)
        a = evaluate(model, ds, [GradSign(eps=0.05)], n=20, batch_size=6, checks=False)
        b = evaluate(model, (data[0][:20], data[1][:20]), [GradSign(eps=0.05)], batch_size=6, checks=False)
        assert a.n == 20 and torch.equal(a.samples.pred[a.attacks[0].key], b.samples.pred[b.attacks[0].key])

    def test_progress_called(self, model, data):
        calls = []
        evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, progress=lambda *a: calls.append(a))
        # Each batch's attack is announced before it runs (the display names what is running),
        # then counted when it finishes.
        assert [c[1:] for c in calls] == [(0, 3), (1, 3), (1, 3), (2, 3), (2, 3), (3, 3)]
        assert [c[0] for c in calls[::2]] == [c[0] for c in calls[1::2]]
        assert [c[0].split("(samples ")[1] for c in calls[::2]] == ["0+)", "8+)", "16+)"]

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"attacks": []}, ValueError, "at least one attack"),
            (
                {"attacks": [object()]},
                TypeError,
                r"attacks\[0\].*missing name, threat, randomized, uses_gradients, run",
            ),
            ({"attacks": [GradSign(eps=0.05), TupleThreat(eps=0.05)]}, TypeError, r"attacks\[1\].*ThreatModel.*tuple"),
            ({"checks": "yes"}, TypeError, "checks: expected True or False"),
            ({"mode": "avg"}, ValueError, "mode: expected one of"),
            ({"eot": "yes"}, ValueError, "eot: expected"),
            ({"votes": 0}, ValueError, "votes"),
            ({"batch_size": 0}, ValueError, "batch_size"),
            ({"seed": 1.5}, TypeError, "seed"),
        ],
    )
    def test_bad_arguments(self, model, data, kwargs, error, match):
        args = {"attacks": [GradSign(eps=0.05)], **kwargs}
        with pytest.raises(error, match=match):
            evaluate(model, data, args.pop("attacks"), **args)

    @pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
    def test_cuda_without_cuda_is_refused(self, model, data):
        with pytest.raises(ValueError, match="CUDA is not available"):
            evaluate(model, data, [GradSign(eps=0.05)], device="cuda")

    def test_bad_data(self, model):
        with pytest.raises(ValueError, match=r"\[0, 1\]"):
            evaluate(model, (torch.rand(4, 3, 8, 8) * 255, torch.zeros(4, dtype=torch.long)), [GradSign(eps=0.1)])
        with pytest.raises(ValueError, match="labels"):
            evaluate(model, (torch.rand(4, 3, 8, 8), torch.full((4,), 7)), [GradSign(eps=0.1)])


class TestResume:
    def test_resume_equals_uninterrupted(self, model, data, tmp_path):
        attacks = [GradSign(eps=0.05, steps=3, random_start=True), RandomNoise(eps=0.05)]
        full = evaluate(model, data, attacks, batch_size=8, seed=3)
        state = tmp_path / "state.pt"
        runs = 0
        while True:
            part = evaluate(model, data, attacks, batch_size=8, seed=3, state_path=state, budget_s=0.0)
            runs += 1
            if part.complete:
                break
            assert runs < 10
        assert runs == 6  # one attack x batch per call: 3 batches x 2 attacks
        assert part.to_dict()["samples"] == full.to_dict()["samples"]
        assert part.robust_accuracy == full.robust_accuracy

    def test_partial_result_is_marked(self, model, data, tmp_path):
        part = evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, state_path=tmp_path / "s.pt", budget_s=0)
        assert not part.complete and part.n == 8
        again = evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, state_path=tmp_path / "s.pt")
        assert again.complete and again.n == 24

    def test_other_config_refused(self, model, data, tmp_path):
        evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, state_path=tmp_path / "s.pt")
        with pytest.raises(ValueError, match=r"different evaluation \(differs in \['attacks'\]\)"):
            evaluate(model, data, [GradSign(eps=0.1)], batch_size=8, state_path=tmp_path / "s.pt")
        with pytest.raises(ValueError, match="seed"):
            evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, seed=1, state_path=tmp_path / "s.pt")

    def test_state_of_another_version_refused(self, model, data, tmp_path):
        path = tmp_path / "s.pt"
        torch.save({"version": 1, "batches": {}}, path)
        with pytest.raises(ValueError, match=r"state file of version 2.*state version 1.*delete it"):
            evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, state_path=path)

    def test_other_data_refused(self, model, data, tmp_path):
        x, y = data
        evaluate(model, data, [GradSign(eps=0.05)], batch_size=8, state_path=tmp_path / "s.pt")
        with pytest.raises(ValueError, match="data of the batch starting at sample 0 differ"):
            evaluate(model, (x.flip(0), y.flip(0)), [GradSign(eps=0.05)], batch_size=8, state_path=tmp_path / "s.pt")


class TestJson:
    def test_round_trip(self, model, data, tmp_path):
        unbounded = Scripted(eps=math.inf, make=lambda x: 1 - x)
        res = evaluate(model, data, [GradSign(eps=0.05), RandomNoise(eps=0.05), unbounded])
        path = res.save(tmp_path / "r.json")
        back = EvaluationResult.load(path)
        assert back.to_dict() == res.to_dict()
        assert torch.equal(back.samples.pred[res.attacks[0].key], res.samples.pred[res.attacks[0].key])
        assert math.isinf(back.attacks[2].eps) and back.seed == 0 and back.complete
        assert back.environment["versions"]["torch"] == torch.__version__
        assert "NaN" in path.read_text()  # non-finite floats are strict-JSON strings

    def test_wrong_kind_refused(self, model, data):
        d = evaluate(model, data, [GradSign(eps=0.05)], checks=False).to_dict()
        d["kind"] = "heatmap"
        with pytest.raises(ValueError, match="expected a 'evaluation' result"):
            EvaluationResult.from_dict(d)


def test_with_library_attacks(model, data):
    attacks = [FGSM(eps=0.05), PGD(eps=0.05, steps=5), PGD(eps=0.05, norm="l2", steps=5)]
    res = evaluate(model, data, attacks, batch_size=8)
    g = res.groups[0]
    for key in g.attacks:
        assert bool((res.samples.robust[g.key] <= (res.samples.pred[key] == res.samples.label)).all())
    assert res.robust_accuracy["linf/0.05"] <= min(s.robust_accuracy for s in res.attacks[:2])


@pytest.mark.parametrize("n", [None, 10, 23, 30])
def test_batches_independent_of_source_batching(n):
    from bandlimit.evaluation._common import batches

    x, y = torch.rand(23, 1, 2, 2), torch.arange(23)
    ds = torch.utils.data.TensorDataset(x, y)
    for source in [(x, y), ds, torch.utils.data.DataLoader(ds, batch_size=7)]:
        with pytest.warns(UserWarning, match="n=30 is larger") if n == 30 else contextlib.nullcontext():
            out = list(batches(source, batch_size=5, device=torch.device("cpu"), n=n))
        size = min(23, n or 23)
        assert torch.equal(torch.cat([b[2] for b in out]), torch.arange(size))
        assert [b[0] for b in out] == list(range(0, size, 5))
        assert all(b[1].shape[0] == 5 for b in out[:-1])


@pytest.mark.parametrize("name", ["evaluate", "perturbation_spectrum", "filtered_accuracy", "fourier_heatmap"])
def test_every_evaluation_function_takes_progress_true_and_rejects_junk(name: str, tiny_model: nn.Module) -> None:
    from bandlimit import evaluation

    fn = getattr(evaluation, name)
    x = torch.rand(4, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = tiny_model(x).argmax(1)  # every image clean-correct, so there is work to show
    extra: dict[str, Any] = {
        "evaluate": {"attacks": [PGD(eps=2 / 255, steps=1)], "checks": False},
        "perturbation_spectrum": {"attacks": PGD(eps=2 / 255, steps=1)},
        "filtered_accuracy": {"bandwidths": [4.0], "radii": [2.0]},
        "fourier_heatmap": {"norm": 1.0, "cells": "central:3"},
    }[name]
    with pytest.raises(TypeError, match="progress: expected True"):
        fn(tiny_model, (x, y), progress=1.5, **extra)
    barred = fn(tiny_model, (x, y), progress=True, **extra)
    plain = fn(tiny_model, (x, y), progress=False, **extra)
    assert type(barred) is type(plain) and _numbers(barred) == _numbers(plain)


def _numbers(result: Any) -> dict[str, Any]:
    """A result's JSON without what may differ between identical runs (timings, environment)."""
    out = result.to_dict()
    for key in ("environment", "time_s"):
        out.pop(key, None)
    for attack in out.get("attacks", []):
        attack.pop("time_s")
    return out


def test_attack_labels_tell_same_named_attacks_apart() -> None:
    """Issue 15: two torchattacks attacks, or band-limited PGD beside PGD, no longer share a label."""
    from bandlimit.evaluation.results import AttackSummary, attack_labels

    def summary(name: str, key: str, **config: object) -> AttackSummary:
        return AttackSummary(
            key=key, name=name, norm="linf", eps=8 / 255, group="linf/0.0313725", uses_gradients=True,
            config={"eps": 8 / 255, **config}, eot_samples=None, n=1, n_attacked=1, n_success=0,
            robust_accuracy=1.0, cumulative=False, time_s=0.0, mean_distance=0.0, max_distance=0.0,
        )  # fmt: skip

    attacks = [
        summary("torchattacks", "torchattacks/linf/0.0313725", attack="Square", n_queries=100),
        summary("torchattacks", "torchattacks/linf/0.0313725#2", attack="APGD", n_queries=100),
        summary("pgd", "pgd/linf/0.0313725", steps=20, band=None),
        summary("pgd", "pgd/linf/0.0313725#2", steps=20, band="high"),
        summary("fgsm", "fgsm/linf/0.0313725"),
    ]
    assert attack_labels(attacks) == [
        "torchattacks (attack=Square)",
        "torchattacks (attack=APGD)",
        "pgd",
        "pgd (band=high)",
        "fgsm",
    ]
    # Settings that need another one: APGD-CE's target order and a band's space without a band.
    apgd = [
        summary("apgd", "apgd/linf/0.0313725", loss="ce", targets=None, target_order="logit"),
        summary("apgd", "apgd/linf/0.0313725#2", loss="dlr", targets=3, target_order="margin"),
        summary("apgd", "apgd/linf/0.0313725#3", loss="ce", band="low", band_space="fft", targets=None),
        summary("apgd", "apgd/linf/0.0313725#4", loss="ce", band=None, band_space="dct", targets=None),
    ]
    assert attack_labels(apgd) == [
        "apgd (loss=ce)",
        "apgd (loss=dlr, target_order=margin, targets=3)",
        "apgd (band=low, band_space=fft, loss=ce)",
        "apgd (loss=ce)",
    ]
