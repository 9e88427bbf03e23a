"""Attacks by name: :data:`ATTACKS` and :func:`create_attack`.

Every attack class that sets ``name`` is registered under it when it is defined
(:meth:`attacks.base.Attack.__init_subclass__`), with the first line of its docstring as help,
and so are its presets (``"pgd-eot"`` = PGD with ``eot_samples=10``). Each entry's
``meta["defaults"]`` holds the settings its name fills in. The class itself tells a command
line which setting is the budget (``budget``, for the norms ``budget_norms``) and which one
the norm (``norm_setting``).

Example:
    >>> attack = create_attack("pgd-eot", eps=8 / 255)
    >>> attack.config["eot_samples"], ATTACKS.get("pgd").obj.budget
    (10, 'eps')
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bandlimit.registry import Registry

if TYPE_CHECKING:
    from attacks.base import Attack

__all__ = ["ATTACKS", "create_attack", "register_attack"]

logger = logging.getLogger(__name__)

#: Attack classes and presets by name (help: one line; ``meta["defaults"]``: preset settings).
ATTACKS: Registry[type[Attack]] = Registry("attack")


def register_attack(cls: type[Attack]) -> None:
    """Register ``cls`` under ``cls.name`` and each of its ``presets`` under theirs.

    Called for every subclass of :class:`attacks.base.Attack` that sets ``name``. A name
    already held by another class keeps its owner (a warning is logged), so a class defined
    elsewhere cannot silently replace a library attack; redefining the same class (a reloaded
    module) replaces it.
    """
    doc = (cls.__doc__ or "").strip()
    _claim(cls.name, cls, doc.splitlines()[0] if doc else "", {})
    for preset in vars(cls).get("presets", ()):  # a subclass does not inherit its parent's presets
        _claim(preset.name, cls, preset.help, dict(preset.settings))


def _claim(name: str, cls: type[Attack], help: str, defaults: dict[str, Any]) -> None:
    if name in ATTACKS:
        owner = ATTACKS.get(name).obj
        if (owner.__module__, owner.__qualname__) != (cls.__module__, cls.__qualname__):
            logger.warning(
                "attack name %r belongs to %s.%s; %s.%s is not registered under it",
                name,
                owner.__module__,
                owner.__qualname__,
                cls.__module__,
                cls.__qualname__,
            )
            return
    ATTACKS.register(name, cls, help=help, defaults=defaults)


def create_attack(name: str, **settings: Any) -> Attack:
    """Build a registered attack by name: ``create_attack("pgd", eps=8/255, steps=20)``.

    A preset's settings are filled in first; the caller's settings override them.

    Args:
        name: A registered name (see ``ATTACKS.names()``).
        **settings: The attack's settings.

    Raises:
        ValueError: unknown name (with close matches and the known names), or a setting's
            value rejected by the attack.
        TypeError: an unknown or missing setting (the message lists the valid ones), or a
            value of the wrong type.
    """
    entry = ATTACKS.get(name)
    return entry.obj.from_settings(**{**entry.meta["defaults"], **settings})
