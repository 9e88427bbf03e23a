"""Tests of how the command line turns names into objects: attacks, suites, defences, errors.

The CLI keeps no tables of its own: an attack class defined anywhere (here, in this file) is
usable with ``--attack NAME:key=value`` and in a suite without editing any other module.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from _cli_helpers import importable_model

from attacks import APGD, ATTACKS, FGSM, PGD, AttackResult, FourierBallAttack, FourierBasisAttack, Square, ThreatModel
from attacks.base import Attack, Task, attack_dataclass, setting
from bandlimit._checks import check_nonnegative
from bandlimit.cli import main
from bandlimit.cli.names import attack_names, build_attack, build_attacks
from bandlimit.cli.suites import SUITES, Suite, SuiteAttack, build_suite
from bandlimit.evaluation import EvaluationResult, fourier_noise_norm


@pytest.fixture
def model_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``<module>:build`` of the small linear model of the CLI tests."""
    return importable_model(tmp_path, monkeypatch)


@pytest.fixture
def scratch_registries(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Register test attacks and suites into copies of the registries, restored afterwards."""
    monkeypatch.setattr(ATTACKS, "_entries", dict(ATTACKS._entries))
    monkeypatch.setattr(SUITES, "_entries", dict(SUITES._entries))
    yield


def _configs(attacks: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(type(a).__name__, a.config) for a in attacks]


# --------------------------------------------------------------------- suites as data
def _expected_suite(name: str, eps_list: list[float], *, norm: str, randomized: bool, flagged: bool) -> list[Any]:
    """The ``quick`` and ``standard`` suites written out by hand (issue 11's composition).

    The Fourier-basis check searches the same ball, so it runs once per eps whatever the image size.
    """
    attacks: list[Any] = []
    for eps in eps_list:
        if name == "standard":
            if randomized:
                attacks.append(APGD(eps=eps, norm=norm, steps=100, loss="ce", eot_samples=20))
                attacks.append(APGD(eps=eps, norm=norm, steps=100, loss="dlr", eot_samples=20))
            else:
                attacks.append(APGD(eps=eps, norm=norm, steps=100, loss="ce"))
                attacks.append(APGD(eps=eps, norm=norm, steps=100, loss="dlr", targets=3, target_order="margin"))
            if randomized or flagged:
                attacks.append(Square(eps=eps, norm=norm, max_queries=5000))
            attacks.append(FourierBallAttack(eps=eps, norm=norm, max_cells=64))
        else:
            if randomized:
                attacks.append(APGD(eps=eps, norm=norm, steps=20, loss="ce", eot_samples=8))
            else:
                attacks.append(APGD(eps=eps, norm=norm, steps=20, loss="ce"))
                attacks.append(APGD(eps=eps, norm=norm, steps=20, loss="dlr", targets=1, target_order="margin"))
            attacks.append(Square(eps=eps, norm=norm, max_queries=300))
            attacks.append(FourierBallAttack(eps=eps, norm=norm, max_cells=16))
    return attacks


@pytest.mark.parametrize("name", ["quick", "standard"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize(("randomized", "flagged"), [(False, False), (False, True), (True, True)])
@pytest.mark.parametrize("image_size", [32, 64, 224])
def test_suites_build_exactly_the_attacks_written_out(
    name: str, norm: str, randomized: bool, flagged: bool, image_size: int
) -> None:
    eps_list = [1 / 255, 8 / 255, 0.07] if norm == "linf" else [0.25, 0.5]
    built = build_suite(name, eps_list, norm=norm, image_size=image_size, randomized=randomized, flagged=flagged)
    expected = _expected_suite(name, eps_list, norm=norm, randomized=randomized, flagged=flagged)
    assert _configs(built) == _configs(expected)
    assert SUITES.get(name).obj.mode == "cascade"


def test_band_limited_suite_confines_gradient_attacks_and_drops_the_others() -> None:
    built = build_suite("standard", [8 / 255], flagged=True, band="high", band_space="fourier")
    # Square and the Fourier-basis check in the ball cannot confine themselves to the band.
    assert [type(a).__name__ for a in built] == ["APGD", "APGD"]
    assert all(a.band == "high" and a.band_space == "fourier" for a in built[:2])


def test_model_flags_and_suite_attacks() -> None:
    from bandlimit.cli.suites import model_flags, suite_attacks

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 10)).eval()
    x = torch.rand(6, 3, 8, 8)
    y = net(x).argmax(1)
    assert model_flags(net, x, y) == (False, False)
    softmax = torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    assert model_flags(softmax, x, y) == (False, True)  # probability outputs: Square joins
    attacks, mode = suite_attacks("standard", softmax, x, y, 8 / 255)
    assert mode == "cascade" and [type(a).__name__ for a in attacks] == ["APGD", "APGD", "Square", "FourierBallAttack"]
    assert net.training is False and softmax.training is False


def test_fourier_noise_norm_of_yin_et_al() -> None:
    assert fourier_noise_norm(32) == 4.0 and fourier_noise_norm(28) == 4.0
    assert fourier_noise_norm(224) == 15.7 and fourier_noise_norm(512) == 15.7
    assert fourier_noise_norm(112) == pytest.approx(15.7 / math.sqrt(2))


def test_unknown_suite_and_placeholder(scratch_registries: None) -> None:
    with pytest.raises(ValueError, match=r"unknown suite 'quik'.*did you mean 'quick'"):
        build_suite("quik", [8 / 255])
    SUITES.register("typo", Suite((SuiteAttack("pgd:steps={stepz}"),)))
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \['stepz'\]"):
        build_suite("typo", [8 / 255])


# ------------------------------------------------------------- a new attack, one file
def _define_attack() -> type[Attack]:
    """An attack defined here only: every pixel moved by ``sign * eps`` (L∞)."""

    @attack_dataclass
    class ShiftAttack(Attack):
        """Moves every pixel by sign * eps (a test attack)."""

        name = "test-shift"
        uses_gradients = False
        budget = "eps"
        budget_norms = ("linf",)

        eps: float = setting(check=check_nonnegative)
        sign: int = setting(1)

        @property
        def threat(self) -> ThreatModel:
            return ThreatModel("linf", self.eps)

        def _run(self, task: Task) -> AttackResult:
            return AttackResult(x_adv=(task.x + self.sign * self.eps).clamp(0, 1))

    return ShiftAttack


def test_a_new_attack_needs_only_its_own_file(scratch_registries: None, model_spec: str, tmp_path: Path) -> None:
    _define_attack()
    assert "test-shift" in attack_names()

    def evaluate(out: Path, *argv: str) -> EvaluationResult:
        common = ["--model", model_spec, "--n", "8", "--out", str(out), "--quiet", "--no-sanity"]
        assert main(["evaluate", *common, *argv]) == 0
        return EvaluationResult.load(out / "results.json")

    result = evaluate(tmp_path / "run", "--attack", "test-shift:sign=-1", "--eps", "2/255,8/255")
    assert [(a.name, a.config["sign"], a.eps) for a in result.attacks] == [
        ("test-shift", -1, 2 / 255),
        ("test-shift", -1, 8 / 255),
    ]
    # A suite that includes it is a few lines of data.
    SUITES.register("mine", Suite((SuiteAttack("test-shift:sign=1"), SuiteAttack("fgsm"))), help="shift and FGSM")
    result = evaluate(tmp_path / "suite", "--suite", "mine", "--eps", "1/255,4/255")
    assert [(a.name, a.eps) for a in result.attacks] == [
        ("test-shift", 1 / 255),
        ("fgsm", 1 / 255),
        ("test-shift", 4 / 255),
        ("fgsm", 4 / 255),
    ]


def test_the_test_attack_is_gone_after_the_test() -> None:
    assert "test-shift" not in ATTACKS and "mine" not in SUITES


# ------------------------------------------------------------------ building attacks
def test_budget_and_norm_come_from_the_class() -> None:
    pgd = build_attack("pgd-eot:steps=3", eps=0.5, norm="l2")
    assert isinstance(pgd, PGD) and pgd.config["eot_samples"] == 10 and pgd.threat == ThreatModel("l2", 0.5)
    simba = build_attack("simba:max_queries=10", eps=4 / 255, norm="linf")
    assert simba.config["eps"] == 4 / 255
    with pytest.raises(ValueError, match="use --norm linf"):
        build_attack("simba", eps=0.5, norm="l2")
    # Attacks whose budget the spec sets (or that have none) run once, the others once per eps.
    attacks = build_attacks(["fgsm", "pgd:eps=0.01", "fourier"], [1 / 255, 2 / 255], "linf")
    assert [(type(a), a.threat.eps) for a in attacks] == [
        (FGSM, 1 / 255),
        (FGSM, 2 / 255),
        (PGD, 0.01),
        (FourierBasisAttack, 4.0 * math.sqrt(3)),
    ]


def test_transfer_needs_objects_and_is_not_listed() -> None:
    assert "transfer" in ATTACKS and "transfer" not in attack_names()
    with pytest.raises(ValueError, match=r"required setting.*source.*build such an attack in Python"):
        build_attack("transfer", eps=8 / 255, norm="linf")
    with pytest.raises(ValueError, match=r"unknown attack 'trasnfer'") as info:
        build_attack("trasnfer")
    assert "'transfer'" not in str(info.value)  # not offered as a command-line name


# ----------------------------------------------------------------- errors and exits
def test_bad_settings_are_bad_input(tmp_path: Path, model_spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--model", model_spec, "--n", "4", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*argv, "--attack", "pgd:steps=many"]) == 2
    assert "pgd:steps=many" in capsys.readouterr().err
    assert main([*argv, "--attack", "fgsm", "--defense", "lowpass:bandwdth=16"]) == 2
    assert "bandwidth" in " ".join(capsys.readouterr().err.split())
    for text, message in [('n = "many"', "n expected a value of type int"), ("quiet = 3", "expected true or false")]:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f'{text}\nattack = "fgsm"\n')
        assert main([*argv, "--config", str(cfg)]) == 2
        assert message in " ".join(capsys.readouterr().err.split())


def test_a_library_type_error_keeps_its_traceback(
    tmp_path: Path, model_spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bandlimit.evaluation as evaluation

    def buggy(*args: object, **kwargs: object) -> None:
        raise TypeError("a bug inside the library")

    monkeypatch.setattr(evaluation, "evaluate", buggy)
    argv = ["evaluate", "--model", model_spec, "--attack", "fgsm", "--n", "4", "--out", str(tmp_path / "o"), "--quiet"]
    with pytest.raises(TypeError, match="a bug inside the library"):
        main(argv)


def test_a_missing_command_module_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    import bandlimit.cli as cli

    monkeypatch.setattr(cli, "COMMANDS", (*cli.COMMANDS, "no_such_command"))
    with pytest.raises(ModuleNotFoundError, match="no_such_command"):
        cli.build_parser()


def test_device_errors_name_the_option(monkeypatch: pytest.MonkeyPatch) -> None:
    from bandlimit.cli._dist import device_of

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device: 'cuda' was asked for but CUDA is not available"):
        device_of("cuda")
    with pytest.raises(ValueError, match="--device"):
        device_of("gpu7")
    assert device_of(None) == torch.device("cpu") == device_of("auto")
