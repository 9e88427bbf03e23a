"""Attack suites: named lists of attack specs, run by ``bandlimit evaluate --suite NAME``.

A suite is data: a :class:`Suite` of :class:`SuiteAttack` entries, each an attack spec as
written after ``--attack`` plus the condition under which it runs, and the harness mode it is
meant for (a cascade: each attack runs only on the samples still robust after the previous
ones, as in AutoAttack). Conditions:

* ``"always"``;
* ``"deterministic"`` / ``"randomized"``: the model's outputs are fixed / vary between
  identical calls (randomised models get the EOT versions of the gradient attacks);
* ``"flagged"``: the model checks call for a black-box attack: a randomised model, zero, NaN
  or missing input gradients, or probability outputs instead of logits.

Specs may hold placeholders for values that depend on the run: ``{eps}`` (the current
``--eps``; an attack's budget setting is filled with it anyway), ``{norm}``, ``{simba_step}``
(``min(0.2, 4 * eps)``, for ``simba:step={simba_step}``) and ``{fourier_norm}`` (Yin et al.'s
Fourier-basis norm for the image size, :func:`bandlimit.evaluation.fourier_noise_norm`).
Attacks whose budget the spec leaves open run once per ``--eps`` (``fourier-ball`` too: it
searches the same ball); the others (``fourier``, with Yin et al.'s fixed L2 budget) run once,
after them. With a frequency band (``band="low"`` ...), attacks that take one get it; attacks
that cannot stay in a band (Square, SimBA, the Fourier-basis check in the ball) are left out, as
they would test another threat model.

A new suite is a few lines::

    SUITES.register("mine", Suite((SuiteAttack("apgd:steps=20"), SuiteAttack("square:max_queries=500"))),
                    help="APGD-20 then Square-500")

From Python, :func:`suite_attacks` runs the model checks on a few images and returns the
attacks and the mode to pass to :func:`bandlimit.evaluation.evaluate`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_choice
from bandlimit.registry import Registry

__all__ = ["SUITES", "WHEN", "Suite", "SuiteAttack", "build_suite", "model_flags", "suite_attacks"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")

#: The conditions a suite attack may run under.
WHEN = ("always", "deterministic", "randomized", "flagged")


@dataclass(frozen=True)
class SuiteAttack:
    """One attack of a suite.

    Attributes:
        spec: ``NAME[:key=value,...]`` as after ``--attack``; values may be placeholders.
        when: One of :data:`WHEN`.
        norms: Run only for these ``--norm`` values (SimBA bounds L∞ budgets only).
    """

    spec: str
    when: str = "always"
    norms: tuple[str, ...] = ("linf", "l2")

    def __post_init__(self) -> None:
        check_choice(self.when, "when", WHEN)

    def applies(self, *, norm: str, randomized: bool, flagged: bool) -> bool:
        """Whether this attack belongs to a run with this norm against this kind of model."""
        if norm not in self.norms:
            return False
        return {
            "always": True,
            "deterministic": not randomized,
            "randomized": randomized,
            "flagged": flagged or randomized,
        }[self.when]


@dataclass(frozen=True)
class Suite:
    """A named list of attacks and the harness mode they are meant for.

    Attributes:
        attacks: The attacks, in the order the cascade runs them.
        mode: ``"cascade"`` (each attack only on the survivors of the previous ones) or
            ``"individual"`` (every attack on every sample).
    """

    attacks: tuple[SuiteAttack, ...]
    mode: str = "cascade"

    def __post_init__(self) -> None:
        check_choice(self.mode, "mode", ("cascade", "individual"))


#: Suites by name: ``SUITES.get(name).obj`` is the :class:`Suite`.
SUITES: Registry[Suite] = Registry("suite")

# Chosen from measurements (benchmarks/RESULTS.md, "standard suite against AutoAttack"):
# APGD-CE then APGD-T with the DLR loss reach AutoAttack's robust accuracy; choosing the targets
# by margin (MALT, Melamed et al. 2023) three suffice where logit order needs nine, at a third of
# the cost. Square is added where gradients cannot be trusted; SimBA adds nothing there. The
# Fourier-basis check searches the 64 lowest-frequency directions at the edge of the same ball,
# on the survivors only: a gradient-free check of the threat model being reported.
SUITES.register(
    "standard",
    Suite(
        (
            SuiteAttack("apgd:loss=ce,steps=100", when="deterministic"),
            SuiteAttack("apgd:loss=dlr,targets=3,target_order=margin,steps=100", when="deterministic"),
            SuiteAttack("apgd:loss=ce,steps=100,eot_samples=20", when="randomized"),
            SuiteAttack("apgd:loss=dlr,steps=100,eot_samples=20", when="randomized"),
            SuiteAttack("square:max_queries=5000", when="flagged"),
            SuiteAttack("fourier-ball:max_cells=64"),
        )
    ),
    help="cascade: APGD-CE-100, APGD-T (DLR, 3 targets by margin); EOT-20 APGD-CE and APGD-DLR on "
    "randomised models; Square-5000 when the checks flag the model; Fourier-basis check in the ball",
)
SUITES.register(
    "quick",
    Suite(
        (
            SuiteAttack("apgd:loss=ce,steps=20", when="deterministic"),
            SuiteAttack("apgd:loss=dlr,targets=1,target_order=margin,steps=20", when="deterministic"),
            SuiteAttack("apgd:loss=ce,steps=20,eot_samples=8", when="randomized"),
            SuiteAttack("square:max_queries=300"),
            SuiteAttack("fourier-ball:max_cells=16"),
        )
    ),
    help="cascade: APGD-CE-20, APGD-T-20 on the closest class (EOT-8 APGD-CE on randomised models), "
    "Square-300 (a black-box check on every model), Fourier-basis check in the ball",
)


def _fill(spec: str, values: Mapping[str, Any], *, eps: float | None, norm: str) -> Any:
    """Build the attack of ``spec`` with its placeholders replaced by ``values``."""
    from bandlimit.cli.names import build_attack

    unknown = sorted({m for m in _PLACEHOLDER.findall(spec) if m not in values})
    if unknown:
        raise ValueError(f"suite attack {spec!r}: unknown placeholder(s) {unknown}; expected some of {sorted(values)}")
    # str() of a float reads back as the same float, so the text round trip is exact.
    return build_attack(_PLACEHOLDER.sub(lambda m: str(values[m[1]]), spec), eps=eps, norm=norm)


def _with_band(spec: str, band: str | None, band_space: str) -> str | None:
    """``spec`` with the band settings added, or None when its attack cannot stay in a band."""
    from attacks import ATTACKS
    from bandlimit.cli.specs import parse_spec

    if band is None:
        return spec
    cls = ATTACKS.get(parse_spec(spec)[0]).obj
    if "band" in cls.setting_names():
        return f"{spec}{',' if ':' in spec else ':'}band={band},band_space={band_space}"
    # Attacks with their own fixed threat (the Fourier-basis check) stay; ball attacks that
    # cannot confine their perturbation to the band would test another threat model.
    return spec if cls.budget is None else None


def build_suite(
    name: str,
    eps_list: Sequence[float],
    *,
    norm: str = "linf",
    image_size: int = 32,
    randomized: bool = False,
    flagged: bool = False,
    band: str | None = None,
    band_space: str = "dct",
) -> list[Any]:
    """The attacks of the suite ``name`` for these budgets, this norm and this kind of model.

    Args:
        name: A registered suite (``bandlimit evaluate --help`` lists them).
        eps_list: The budgets; attacks with an open budget run once per eps.
        norm: ``"linf"`` or ``"l2"``.
        image_size: Side of the images (for the Fourier-basis norm).
        randomized: Whether the model is randomised (see :func:`model_flags`).
        flagged: Whether the model checks call for a black-box attack (see :func:`model_flags`).
        band: A frequency band (``"low"``, ``"mid"``, ``"high"``) for a band-limited threat model.
        band_space: ``"dct"`` or ``"fourier"``, the transform whose coefficients ``band`` selects.

    Raises:
        ValueError: unknown suite, or a suite attack that cannot be built (the spec is named).
    """
    from bandlimit.cli.names import takes_eps
    from bandlimit.evaluation import fourier_noise_norm

    chosen = [a for a in SUITES.get(name).obj.attacks if a.applies(norm=norm, randomized=randomized, flagged=flagged)]
    specs = [s for s in (_with_band(a.spec, band, band_space) for a in chosen) if s is not None]
    fixed = {"fourier_norm": fourier_noise_norm(image_size), "norm": norm}
    per_eps = [s for s in specs if takes_eps(s)]
    attacks = [
        _fill(s, {**fixed, "eps": eps, "simba_step": min(0.2, 4 * eps)}, eps=eps, norm=norm)
        for eps in eps_list
        for s in per_eps
    ]
    attacks += [_fill(s, fixed, eps=None, norm=norm) for s in specs if s not in per_eps]
    return attacks


@torch.no_grad()
def model_flags(model: nn.Module, x: Tensor, y: Tensor) -> tuple[bool, bool]:
    """``(randomized, flagged)`` of ``model`` on a few clean images, as the suites use them.

    ``flagged`` is true when the harness's model checks fire: outputs that vary between
    identical calls, zero/NaN/missing input gradients on correctly classified images, or
    probability outputs. The model is put in eval mode for the checks and restored.
    """
    from bandlimit._torch import model_guard
    from bandlimit.evaluation.checks import check_gradients, check_probability_outputs, is_randomized

    with model_guard(model):
        randomized = is_randomized(model, x)
        logits = model(x)
        correct = logits.argmax(dim=1) == y
        findings = check_probability_outputs(logits) + check_gradients(model, x[correct], y[correct])
    return randomized, randomized or bool(findings)


def suite_attacks(
    name: str,
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float | Sequence[float],
    *,
    norm: str = "linf",
    band: str | None = None,
    band_space: str = "dct",
) -> tuple[list[Any], str]:
    """The attacks of suite ``name`` for ``model`` and the harness mode to run them in.

    Args:
        name: The suite.
        model: The model to evaluate ([0, 1] images to logits).
        x: A few clean images (8 are plenty) for the model checks that choose conditional attacks.
        y: Their labels.
        eps: One budget or several.
        norm: ``"linf"`` or ``"l2"``.
        band: Optional frequency band of the threat model (see :func:`build_suite`).
        band_space: ``"dct"`` or ``"fourier"``.

    Returns:
        ``(attacks, mode)`` for ``evaluate(model, data, attacks, mode=mode)``.

    Example:
        >>> attacks, mode = suite_attacks("standard", model, x[:8], y[:8], 8 / 255)  # doctest: +SKIP
        >>> result = evaluate(model, (x, y), attacks, mode=mode)  # doctest: +SKIP
    """
    eps_list = [float(eps)] if isinstance(eps, (int, float)) else [float(e) for e in eps]
    randomized, flagged = model_flags(model, x, y)
    attacks = build_suite(
        name,
        eps_list,
        norm=norm,
        image_size=int(x.shape[-1]),
        randomized=randomized,
        flagged=flagged,
        band=band,
        band_space=band_space,
    )
    return attacks, SUITES.get(name).obj.mode
