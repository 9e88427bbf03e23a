"""Tests of the attack registry, create_attack and the settings mechanics of attacks.base."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import torch
from torch import Tensor, nn

import attacks
import attacks.registry
import bandlimit.attack as core
from attacks import ATTACKS, FGSM, PGD, Attack, AttackResult, FourierBasisAttack, Preset, SimBA, Task, create_attack
from attacks.base import attack_dataclass, choice, optional, setting
from bandlimit._checks import check_bool, check_nonnegative, check_positive_int
from bandlimit.registry import Registry


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """A copy of the attack registry for this test: classes defined here do not leak into others."""
    copy: Registry = Registry("attack")
    for entry in ATTACKS:
        copy.register(entry.name, entry.obj, help=entry.help, **entry.meta)
    monkeypatch.setattr(attacks.registry, "ATTACKS", copy)
    yield copy


def _define_shift() -> type[Attack]:
    @attack_dataclass
    class Shift(Attack):
        """Add eps to every pixel (a toy attack defined by a test).

        More text that is not the help line.
        """

        name = "shift-test"
        uses_gradients = False
        budget = "eps"
        norm_setting = "norm"
        presets = (Preset("shift-test-l2", "the L2 shift", {"norm": "l2"}),)

        eps: float = setting(check=check_nonnegative)
        norm: str = setting("linf", choice(core.NORMS))
        repeats: int = setting(1, check_positive_int)
        sign: bool = setting(True, check_bool)
        limit: float | None = setting(None, optional(check_nonnegative))

        @property
        def threat(self) -> core.ThreatModel:
            return core.ThreatModel(self.norm, self.eps)

        def _run(self, task: Task) -> AttackResult:
            return AttackResult((task.x + (self.eps if self.sign else -self.eps)).clamp(0, 1))

    return Shift


class TestCreateAttack:
    def test_a_class_is_registered_by_definition_and_created_by_name(self, registry: Registry) -> None:
        shift = _define_shift()
        entry = registry.get("shift-test")
        assert entry.obj is shift and entry.help == "Add eps to every pixel (a toy attack defined by a test)."
        attack = create_attack("shift-test", eps=0.1, repeats=2)
        assert isinstance(attack, shift) and attack.config == {
            "eps": 0.1,
            "norm": "linf",
            "repeats": 2,
            "sign": True,
            "limit": None,
        }
        assert isinstance(attack, core.Attack)  # the core protocol the harness relies on
        x = torch.full((2, 1, 2, 2), 0.5)
        assert torch.equal(attack(nn.Flatten(), x, torch.tensor([0, 1])), torch.full_like(x, 0.6))

    def test_presets_fill_settings_the_caller_can_override(self, registry: Registry) -> None:
        _define_shift()
        assert registry.get("shift-test-l2").help == "the L2 shift"
        assert create_attack("shift-test-l2", eps=0.5).threat == core.ThreatModel("l2", 0.5)
        assert create_attack("shift-test-l2", eps=0.5, norm="linf").threat.norm == "linf"

    def test_unknown_name_suggests_close_ones(self, registry: Registry) -> None:
        _define_shift()
        with pytest.raises(ValueError, match=r"unknown attack 'shift-tset'; did you mean 'shift-test'"):
            create_attack("shift-tset", eps=0.1)

    @pytest.mark.parametrize(
        ("settings", "error", "match"),
        [
            ({"eps": 0.1, "steps": 3}, TypeError, r"attack 'shift-test': unknown settings \['steps'\]"),
            ({}, TypeError, r"attack 'shift-test': missing required settings \['eps'\]"),
            ({"eps": -1.0}, ValueError, "eps: expected a value >= 0"),
            ({"eps": 0.1, "norm": "l1"}, ValueError, "norm: expected one of"),
            ({"eps": 0.1, "sign": 1}, TypeError, "sign: expected True or False"),
            ({"eps": 0.1, "limit": -2.0}, ValueError, "limit: expected a value >= 0"),
        ],
    )
    def test_bad_settings_name_the_fix_without_class_names(
        self, registry: Registry, settings: dict, error: type, match: str
    ) -> None:
        _define_shift()
        with pytest.raises(error, match=match) as info:
            create_attack("shift-test", **settings)
        message = str(info.value)
        assert "Shift" not in message and "__init__" not in message
        if "settings" in message:
            assert "valid settings: eps, norm, repeats, sign, limit" in message

    def test_optional_settings_accept_none_and_are_validated_otherwise(self, registry: Registry) -> None:
        shift = _define_shift()
        assert shift(eps=1, limit=None).limit is None
        assert shift(eps=1, limit=2).limit == 2.0 and isinstance(shift(eps=1).eps, float)  # normalised

    def test_replace_validates_and_keeps_settings(self, registry: Registry) -> None:
        attack = _define_shift()(eps=0.1, repeats=3)
        changed = attack.replace(norm="l2")
        assert changed.config == {**attack.config, "norm": "l2"} and attack.norm == "linf"
        with pytest.raises(TypeError, match=r"unknown settings \['steps'\]; valid settings: eps, norm"):
            attack.replace(steps=2)
        with pytest.raises(ValueError, match="repeats: expected an integer >= 1"):
            attack.replace(repeats=0)

    def test_settings_are_frozen(self, registry: Registry) -> None:
        attack = _define_shift()(eps=0.1)
        with pytest.raises(AttributeError):
            attack.eps = 0.2  # type: ignore[misc]

    def test_a_taken_name_keeps_its_owner(self, registry: Registry, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.WARNING, logger="attacks.registry"):

            @attack_dataclass
            class Impostor(PGD):
                name = "pgd"

        assert registry.get("pgd").obj is PGD and "belongs to attacks.pgd.PGD" in caplog.text
        assert Impostor.name == "pgd"


class TestRegisteredAttacks:
    def test_every_library_attack_and_preset(self) -> None:
        assert {"pgd", "pgd-eot", "fgsm", "fourier", "simba", "simba-pixel", "ta", "torchattacks", "transfer"} <= set(
            ATTACKS.names()
        )
        assert ATTACKS.get("pgd").help.startswith("Projected gradient descent")
        assert create_attack("pgd-eot", eps=0.1).config["eot_samples"] == 10
        assert create_attack("simba-pixel").config["basis"] == "pixel"
        assert create_attack("simba").config["basis"] == "dct"
        assert isinstance(create_attack("fgsm", eps=0.1), FGSM)

    @pytest.mark.parametrize(
        ("name", "budget", "norms", "norm_setting"),
        [
            ("pgd", "eps", ("linf", "l2"), "norm"),
            ("fgsm", "eps", ("linf", "l2"), "norm"),
            ("simba", "eps", ("linf",), None),
            ("fourier", None, ("linf", "l2"), None),
            ("ta", "eps", ("linf", "l2"), None),
        ],
    )
    def test_budget_and_norm_metadata(
        self, name: str, budget: str | None, norms: tuple[str, ...], norm_setting: str | None
    ) -> None:
        cls = ATTACKS.get(name).obj
        assert (cls.budget, cls.norm_setting) == (budget, norm_setting)
        if budget is not None:
            assert cls.budget_norms == norms
        if name != "ta":  # torchattacks settings depend on the wrapped class
            assert {budget, norm_setting} - {None} <= set(cls.setting_names())

    def test_torchattacks_by_name(self) -> None:
        pytest.importorskip("torchattacks")
        attack = create_attack("ta", attack="FGSM", eps=4 / 255)
        assert attack.config == {"name_or_class": "FGSM", "eps": 4 / 255}
        assert attack.threat == core.ThreatModel("linf", 4 / 255)
        with pytest.raises(ValueError, match=r"expected the torchattacks class, e\.g\. ta:attack=Square"):
            create_attack("ta", eps=0.1)

    def test_core_protocol_objects_are_shared(self) -> None:
        assert attacks.ThreatModel is core.ThreatModel and attacks.AttackResult is core.AttackResult
        assert attacks.NORMS is core.NORMS
        for attack in (PGD(eps=0.1), SimBA(), FourierBasisAttack()):
            assert isinstance(attack, core.Attack)

    def test_fgsm_is_pgd_with_one_step(self) -> None:
        fgsm = FGSM(eps=0.1, norm="l2", random_start=True)
        assert isinstance(fgsm, PGD) and (fgsm.steps, fgsm.restarts) == (1, 1)
        assert "steps" not in FGSM.setting_names() and "restarts" not in FGSM.setting_names()
        assert fgsm.config["rel_stepsize"] is None and fgsm.step_size == pytest.approx(0.125)

    def test_a_run_receives_one_validated_task(self) -> None:
        seen: list[Task] = []

        @attack_dataclass
        class Spy(Attack):
            eps: float = setting(0.0)

            @property
            def threat(self) -> core.ThreatModel:
                return core.ThreatModel("linf", self.eps)

            def _run(self, task: Task) -> AttackResult:
                seen.append(task)
                return AttackResult(task.x)

        x, y = torch.rand(2, 1, 2, 2), torch.tensor([0, 1])
        model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
        Spy()(model, x, y)
        Spy()(model, x, y, targets=torch.tensor([2, 2]))
        untargeted, targeted = seen
        assert not untargeted.targeted and untargeted.labels is untargeted.y
        assert targeted.targeted and torch.equal(targeted.labels, torch.tensor([2, 2]))
        expected: Tensor = model(x)
        torch.testing.assert_close(untargeted.clean_logits, expected)
        assert Spy.name == "attack" and "attack" not in ATTACKS  # no name of its own: not registered


def test_settings_passed_to_the_base_class_are_refused() -> None:
    class OldForm(Attack):  # settings handed to the base class instead of declared as fields
        def __init__(self, *, eps: float) -> None:
            super().__init__(eps=eps)

        @property
        def threat(self) -> core.ThreatModel:
            return core.ThreatModel("linf", 0.0)

        def _run(self, task: Task) -> AttackResult:
            return AttackResult(task.x)

    with pytest.raises(TypeError, match=r"OldForm: Attack\.__init__ takes no settings; declare them as fields"):
        OldForm(eps=0.1)
