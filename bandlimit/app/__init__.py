"""Application layer: name registries for attacks, defences and suites, and model resolution.

This is the only place (with :mod:`bandlimit.cli`) that imports ``bandlimit``, ``attacks``
and ``defenses`` together. The imports happen inside the factories, so ``bandlimit --help``
stays fast.
"""

from __future__ import annotations

from bandlimit.app.registry import (
    ATTACKS,
    DEFENSES,
    SUITES,
    apply_defenses,
    build_attack,
    build_suite,
)
from bandlimit.app.resolve import resolve_model
from bandlimit.app.specs import parse_eps_list, parse_spec, parse_value

__all__ = [
    "ATTACKS",
    "DEFENSES",
    "SUITES",
    "apply_defenses",
    "build_attack",
    "build_suite",
    "parse_eps_list",
    "parse_spec",
    "parse_value",
    "resolve_model",
]
