"""The attacks of an evaluation as the harness runs them: checked, keyed, and with EOT when needed.

The harness accepts any object implementing the core protocol :class:`bandlimit.attack.Attack`
(``name``, ``threat``, ``randomized``, ``uses_gradients``, ``run``). EOT additionally needs the
optional ``config`` (a dict holding the number of EOT samples, ``eot_samples``, or ``eot_iter``
as torchattacks' EOTPGD calls it) and ``replace(<that setting>=n)``, which every attack of the
``attacks`` package (and the torchattacks adapter) has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import NonFiniteLogits
from bandlimit.attack import Attack, ThreatModel

__all__ = ["EOT_SETTINGS", "PlannedAttack", "attack_list", "check_attack", "plan_attacks", "with_eot"]

_MEMBERS = ("name", "threat", "randomized", "uses_gradients", "run")

#: Settings that hold an attack's own number of EOT samples (ours, and torchattacks' EOTPGD).
EOT_SETTINGS = ("eot_samples", "eot_iter")


def check_attack(attack: object, where: str) -> Attack:
    """Return ``attack`` if it implements :class:`~bandlimit.attack.Attack` with a real threat model.

    Args:
        attack: The object to check.
        where: How the caller calls it in messages, e.g. ``"attacks[2]"``.

    Raises:
        TypeError: a protocol member is missing, ``run`` is not callable, ``threat`` is not a
            :class:`~bandlimit.attack.ThreatModel` or ``uses_gradients`` is not a bool.
    """
    if isinstance(attack, type):
        raise TypeError(
            f"{where}: expected an attack object, got the class {attack.__name__}; build one with its "
            f"settings, e.g. {attack.__name__}(eps=8 / 255)"
        )
    what = f"{where} ({type(attack).__name__})"
    if not isinstance(attack, Attack) or not callable(attack.run):
        missing = [m for m in _MEMBERS if not hasattr(attack, m)] or ["a callable run"]
        raise TypeError(
            f"{what}: expected an attack implementing bandlimit.attack.Attack "
            f"({', '.join(_MEMBERS)}), missing {', '.join(missing)}"
        )
    threat = attack.threat
    if not isinstance(threat, ThreatModel):
        raise TypeError(
            f"{what}: expected .threat to be a bandlimit.attack.ThreatModel (norm and eps), "
            f"got {type(threat).__module__}.{type(threat).__qualname__}"
        )
    if not isinstance(attack.uses_gradients, bool):
        raise TypeError(f"{what}: expected a bool .uses_gradients, got {attack.uses_gradients!r}")
    return attack


@dataclasses.dataclass(frozen=True)
class PlannedAttack:
    """One attack as the harness runs it.

    Attributes:
        key: Unique label in the evaluation, ``name/norm/eps`` (``#2``, ``#3``... for repeats);
            it also seeds the attack's generators, so it must never change for a given list.
        threat: The attack's threat model (its ``group`` is ``threat.key``).
        attack: The attack object, after any EOT change.
        eot_samples: EOT samples the attack runs with when EOT counts as applied, else None.
        eot_status: ``"applied"``, ``"missing"`` (a randomised model and no EOT) or ``"n/a"``.
    """

    key: str
    threat: ThreatModel
    attack: Attack
    eot_samples: int | None = None
    eot_status: str = "n/a"

    @property
    def name(self) -> str:
        """The attack's own name."""
        return str(self.attack.name)

    @property
    def uses_gradients(self) -> bool:
        """Whether it is a white-box attack."""
        return self.attack.uses_gradients

    @property
    def config(self) -> dict[str, Any]:
        """The attack's settings (empty for an attack without ``config``)."""
        config = getattr(self.attack, "config", None)
        return dict(config) if isinstance(config, dict) else {}

    @property
    def norm(self) -> str:
        """Norm of the threat model."""
        return self.threat.norm

    @property
    def eps(self) -> float:
        """Budget of the threat model."""
        return self.threat.eps

    @property
    def group(self) -> str:
        """Key of the threat group: the attacks sharing norm and eps."""
        return self.threat.key

    def run(self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator, start: int) -> Any:
        """Run the attack on a batch whose first sample has global index ``start``.

        Raises:
            NonFiniteLogits: the model gave NaN or inf logits during the attack (the message
                names this attack's key and the batch).
        """
        try:
            return self.attack.run(model, x, y, generator=generator)
        except NonFiniteLogits as err:
            raise NonFiniteLogits(f"attack {self.key} on the batch of samples {start}+: {err}") from err

    def describe(self) -> dict[str, Any]:
        """What a result records about the attack (its configuration entry)."""
        return {
            "name": self.name,
            "norm": self.norm,
            "eps": self.eps,
            "uses_gradients": self.uses_gradients,
            "randomized": bool(self.attack.randomized),
            "config": self.config,
        }


def attack_list(attacks: Any) -> list[object]:
    """``attacks`` as a list: one attack object, or an iterable of them.

    Raises:
        TypeError: None, a string (an attack's name rather than the attack) or not iterable.
    """
    if hasattr(attacks, "run"):  # one attack (or an attack class, which check_attack explains)
        return [attacks]
    if isinstance(attacks, str):
        raise TypeError(
            f"attacks: expected attack objects, got the string {attacks!r}; build them first, e.g. "
            f"attacks.create_attack({attacks!r}, eps=8 / 255)"
        )
    if not isinstance(attacks, Iterable):
        got = "None" if attacks is None else type(attacks).__name__
        raise TypeError(
            f"attacks: expected an attack or a list of attacks (e.g. [attacks.PGD(eps=8 / 255)]), got {got}"
        )
    return list(attacks)


def plan_attacks(attacks: Any) -> list[PlannedAttack]:
    """Check every attack and give it its key (``#n`` appended to the n-th repeat).

    Args:
        attacks: One attack or an iterable of attacks (see :func:`attack_list`).

    Raises:
        ValueError: no attack.
        TypeError: see :func:`attack_list` and :func:`check_attack` (the message names the position).
    """
    checked = [check_attack(a, f"attacks[{i}]") for i, a in enumerate(attack_list(attacks))]
    if not checked:
        raise ValueError("attacks: expected at least one attack, got an empty list")
    plan, seen = [], {}
    for attack in checked:
        base = f"{attack.name}/{attack.threat.key}"
        seen[base] = seen.get(base, 0) + 1
        key = base if seen[base] == 1 else f"{base}#{seen[base]}"
        plan.append(PlannedAttack(key, attack.threat, attack))
    return plan


def with_eot(p: PlannedAttack, randomized: bool, eot: Any, eot_samples: int) -> PlannedAttack:
    """``p`` with EOT as asked: a new plan item, with the EOT version of the attack if needed.

    An attack configured with its own EOT (more than one sample) keeps it under ``"auto"``: the
    harness never silently turns a deliberate PGD-EOT-8 into a copy of another attack with 20.
    Only an explicit int ``eot`` forces a number, and only upwards.

    Args:
        p: The attack as planned.
        randomized: Whether the model's outputs vary between identical calls.
        eot: ``evaluate``'s setting: ``"auto"``/True (EOT on a randomised model), an int
            (at least that many samples for every gradient attack) or False.
        eot_samples: Samples used by ``"auto"`` for gradient attacks without EOT of their own.
    """
    if not p.uses_gradients:
        return dataclasses.replace(p, eot_status="n/a")
    forced = eot if isinstance(eot, int) and not isinstance(eot, bool) else None
    config = p.config
    setting = next((k for k in EOT_SETTINGS if k in config), None)
    current = config.get(setting) if setting is not None else None
    current = current if isinstance(current, int) and not isinstance(current, bool) else None
    if current is not None and current > 1 and (forced is None or current >= forced):
        # Configured by the caller; it counts as applied whatever the model.
        return dataclasses.replace(p, eot_samples=current, eot_status="applied")
    want = forced if forced is not None else (eot_samples if eot in ("auto", True) and randomized else None)
    if want is None:
        return dataclasses.replace(p, eot_status="missing" if randomized else "n/a")
    if setting is None or not callable(getattr(p.attack, "replace", None)):
        return dataclasses.replace(p, eot_status="missing")
    if current is not None and current >= want:
        return dataclasses.replace(p, eot_samples=current, eot_status="applied")
    attack = p.attack.replace(**{setting: want})  # type: ignore[attr-defined]
    return dataclasses.replace(p, attack=attack, eot_samples=want, eot_status="applied")
