"""Attack suites: named lists of attack specs, run by ``bandlimit evaluate --suite NAME``.

A suite is data: a tuple of :class:`SuiteAttack`, each an attack spec as written after
``--attack`` plus the conditions under which it runs. Specs may hold placeholders for values
that depend on the run, such as ``simba:eps={simba_step}``:

* ``{eps}``: the current ``--eps`` (the attack's budget setting is filled with it anyway,
  as for ``--attack``);
* ``{norm}``: the ``--norm``;
* ``{simba_step}``: ``min(0.2, 4 * eps)``, the SimBA step the suites use;
* ``{fourier_norm}``: Yin et al.'s Fourier-basis norm for the image size
  (:func:`bandlimit.evaluation.fourier_noise_norm`).

Attacks whose budget the spec leaves open run once per ``--eps`` (all of them for the first
eps, then all for the next); the others (``fourier``, with its fixed L2 budget) run once, after
them. A new suite is a few lines::

    SUITES.register("mine", (SuiteAttack("pgd:steps=20"), SuiteAttack("fourier:norm_l2={fourier_norm}")),
                    help="PGD-20 and the Fourier-basis attack")
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bandlimit.registry import Registry

__all__ = ["SUITES", "SuiteAttack", "build_suite"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class SuiteAttack:
    """One attack of a suite.

    Attributes:
        spec: ``NAME[:key=value,...]`` as after ``--attack``; values may be placeholders.
        randomized_only: Run only against randomised models (EOT attacks).
        norms: Run only for these ``--norm`` values (SimBA bounds L∞ budgets only).
    """

    spec: str
    randomized_only: bool = False
    norms: tuple[str, ...] = ("linf", "l2")

    def applies(self, *, norm: str, randomized: bool) -> bool:
        """Whether this attack belongs to a run with this norm against this kind of model."""
        return norm in self.norms and (randomized or not self.randomized_only)


#: Suites by name: ``SUITES.get(name).obj`` is the tuple of :class:`SuiteAttack`.
SUITES: Registry[tuple[SuiteAttack, ...]] = Registry("suite")

SUITES.register(
    "quick",
    (
        SuiteAttack("pgd:steps=10"),
        SuiteAttack("pgd:steps=10,eot_samples=8", randomized_only=True),
        SuiteAttack("simba:basis=dct,eps={simba_step},max_queries=500", norms=("linf",)),
        SuiteAttack("fourier:norm_l2={fourier_norm}"),
    ),
    help="PGD-10, PGD-EOT-8 when randomised, SimBA-DCT (500 queries, L∞ only), Fourier-basis",
)
SUITES.register(
    "standard",
    (
        SuiteAttack("pgd:steps=50,restarts=2"),
        SuiteAttack("pgd:steps=50,loss=cw"),
        SuiteAttack("pgd:steps=50,eot_samples=20", randomized_only=True),
        SuiteAttack("simba:basis=dct,eps={simba_step},max_queries=3000", norms=("linf",)),
        SuiteAttack("fourier:norm_l2={fourier_norm}"),
    ),
    help="PGD-50 with 2 restarts, CW-loss PGD-50, PGD-EOT-20 when randomised, SimBA-DCT (3,000 queries), Fourier-basis",
)


def _fill(spec: str, values: Mapping[str, Any], *, eps: float | None, norm: str) -> Any:
    """Build the attack of ``spec`` with its placeholders replaced by ``values``."""
    from bandlimit.cli.names import build_attack

    unknown = sorted({m for m in _PLACEHOLDER.findall(spec) if m not in values})
    if unknown:
        raise ValueError(f"suite attack {spec!r}: unknown placeholder(s) {unknown}; expected some of {sorted(values)}")
    # str() of a float reads back as the same float, so the text round trip is exact.
    return build_attack(_PLACEHOLDER.sub(lambda m: str(values[m[1]]), spec), eps=eps, norm=norm)


def build_suite(
    name: str, eps_list: Sequence[float], *, norm: str = "linf", image_size: int = 32, randomized: bool = False
) -> list[Any]:
    """The attacks of the suite ``name`` for these budgets, this norm and this kind of model.

    Raises:
        ValueError: unknown suite, or a suite attack that cannot be built (the spec is named).
    """
    from bandlimit.cli.names import takes_eps
    from bandlimit.evaluation import fourier_noise_norm

    items = [a for a in SUITES.get(name).obj if a.applies(norm=norm, randomized=randomized)]
    fixed = {"fourier_norm": fourier_noise_norm(image_size), "norm": norm}
    per_eps = [a for a in items if takes_eps(a.spec)]
    attacks = [
        _fill(a.spec, {**fixed, "eps": eps, "simba_step": min(0.2, 4 * eps)}, eps=eps, norm=norm)
        for eps in eps_list
        for a in per_eps
    ]
    attacks += [_fill(a.spec, fixed, eps=None, norm=norm) for a in items if a not in per_eps]
    return attacks
