"""Name registries: attacks, defences and evaluation suites for the command line.

Dispatch is a table of small factories (no if/elif chains). Each factory imports its
package lazily, so the command line starts fast and a missing optional dependency only
matters when its entry is used.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from bandlimit.app.specs import parse_spec

__all__ = [
    "ATTACKS",
    "DEFENSES",
    "SUITES",
    "AttackEntry",
    "DefenseEntry",
    "apply_defenses",
    "build_attack",
    "build_suite",
]


@dataclass(frozen=True)
class AttackEntry:
    """A named attack: a factory taking keyword arguments, and a one-line description."""

    factory: Callable[..., Any]
    help: str
    eps_param: str | None = "eps"
    #: Keyword naming the attack's norm (None: the attack has a fixed threat model).
    norm_param: str | None = None
    #: Norms whose budget ``eps_param`` sets (SimBA's ``linf_bound`` is an L∞ bound only).
    eps_norms: tuple[str, ...] = ("linf", "l2")


@dataclass(frozen=True)
class DefenseEntry:
    """A named defence: ``factory(model, **kw) -> nn.Module`` and a description."""

    factory: Callable[..., nn.Module]
    help: str


def _pgd(**kw: Any) -> Any:
    from attacks.pgd import PGD

    return PGD(**kw)


def _pgd_eot(**kw: Any) -> Any:
    from attacks.pgd import PGD

    kw.setdefault("eot_samples", 10)
    return PGD(**kw)


def _fgsm(**kw: Any) -> Any:
    from attacks.pgd import FGSM

    return FGSM(**kw)


def _fourier(**kw: Any) -> Any:
    from attacks.fourier import FourierBasisAttack

    return FourierBasisAttack(**kw)


def _simba(**kw: Any) -> Any:
    from attacks.simba import SimBA

    kw.setdefault("basis", "dct")
    return SimBA(**kw)


def _simba_pixel(**kw: Any) -> Any:
    from attacks.simba import SimBA

    kw.setdefault("basis", "pixel")
    return SimBA(**kw)


def _torchattack(**kw: Any) -> Any:
    from attacks.adapter import TorchAttack

    name = kw.pop("attack", None)
    if not name:
        raise ValueError("ta: expected the torchattacks class, e.g. ta:attack=Square,eps=8/255")
    return TorchAttack(name, **kw)


ATTACKS: dict[str, AttackEntry] = {
    "pgd": AttackEntry(_pgd, "projected gradient descent (L∞ or L2; bands via band=low|mid|high)", norm_param="norm"),
    "pgd-eot": AttackEntry(_pgd_eot, "PGD with the input gradient averaged over eot_samples calls", norm_param="norm"),
    "fgsm": AttackEntry(_fgsm, "fast gradient sign method (one step)", norm_param="norm"),
    "fourier": AttackEntry(_fourier, "worst single Fourier basis perturbation of L2 norm v", None),
    "simba": AttackEntry(_simba, "SimBA-DCT black-box attack (exact query counts)", "linf_bound", eps_norms=("linf",)),
    "simba-pixel": AttackEntry(_simba_pixel, "SimBA in the pixel basis", "linf_bound", eps_norms=("linf",)),
    "ta": AttackEntry(_torchattack, "any torchattacks attack: ta:attack=Square,eps=8/255"),
}


def _postavg(model: nn.Module, **kw: Any) -> nn.Module:
    from defenses.post_averaging import PostAveraging

    return PostAveraging(model, **kw)


def _with_input_filter(kind: str) -> Callable[..., nn.Module]:
    def factory(model: nn.Module, **kw: Any) -> nn.Module:
        from defenses import filters

        # with_input_filter keeps the model's bandlimit_meta (and records the layer in it).
        return filters.with_input_filter(model, getattr(filters, kind)(**kw))

    return factory


def _smooth(model: nn.Module, **kw: Any) -> nn.Module:
    from defenses.smoothing import smooth_first_conv

    return smooth_first_conv(model, **kw)


DEFENSES: dict[str, DefenseEntry] = {
    "postavg": DefenseEntry(_postavg, "post-averaging over K points on a sphere (radius, samples)"),
    "lowpass": DefenseEntry(_with_input_filter("LowPassFilter"), "low-pass input layer (bandwidth, shape)"),
    "highpass": DefenseEntry(_with_input_filter("HighPassFilter"), "high-pass input layer (bandwidth, shape)"),
    "smooth": DefenseEntry(_smooth, "first-layer kernel smoothing (rho, preserve_norm)"),
}


def _unknown(kind: str, name: str, known: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"unknown {kind} {name!r}: expected one of {sorted(known)}{hint}")


def build_attack(spec: str, *, eps: float | None = None, norm: str | None = None) -> Any:
    """Build an attack from ``NAME[:key=value,...]``.

    ``eps`` fills the budget and ``norm`` the threat norm where the spec does not set them
    and the attack has such a setting (``fourier`` has a fixed L2 budget, ``norm_l2``).

    Raises:
        ValueError: unknown name, malformed / rejected parameters (the attack's own
            validation message is kept, prefixed with the spec), or an eps for a norm the
            attack cannot bound (SimBA bounds L∞ only).
    """
    name, kwargs = parse_spec(spec)
    entry = ATTACKS.get(name)
    if entry is None:
        raise _unknown("attack", name, list(ATTACKS))
    if norm is not None and entry.norm_param and entry.norm_param not in kwargs:
        kwargs[entry.norm_param] = norm
    if eps is not None and entry.eps_param and entry.eps_param not in kwargs:
        effective = kwargs.get(entry.norm_param, norm) if entry.norm_param else norm
        if effective is not None and effective not in entry.eps_norms:
            raise ValueError(
                f"attack {spec!r}: expected a {'/'.join(entry.eps_norms)} budget, got --norm {effective}; "
                f"use --norm {entry.eps_norms[0]} or set the budget in the spec ({name}:{entry.eps_param}=...)"
            )
        kwargs[entry.eps_param] = eps
    try:
        return entry.factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"attack {spec!r}: {exc}") from exc


def apply_defenses(model: nn.Module, specs: Sequence[str]) -> nn.Module:
    """Wrap ``model`` with a chain of defences, innermost first.

    ``["smooth:rho=0.25", "lowpass:bandwidth=16"]`` smooths the first layer, then puts a
    low-pass input layer in front.

    Raises:
        ValueError: unknown defence or bad parameters.
    """
    for spec in specs:
        name, kwargs = parse_spec(spec)
        entry = DEFENSES.get(name)
        if entry is None:
            raise _unknown("defence", name, list(DEFENSES))
        try:
            model = entry.factory(model, **kwargs)
        except TypeError as exc:
            raise ValueError(f"defence {spec!r}: {exc}") from exc
    return model


def _suite_quick(eps_list: Sequence[float], *, norm: str, image_size: int, randomized: bool) -> list[Any]:
    from attacks.fourier import FourierBasisAttack
    from attacks.pgd import PGD
    from attacks.simba import SimBA

    attacks: list[Any] = []
    for eps in eps_list:
        attacks.append(PGD(eps=eps, norm=norm, steps=10))
        if randomized:
            attacks.append(PGD(eps=eps, norm=norm, steps=10, eot_samples=8))
        if norm == "linf":
            attacks.append(SimBA(basis="dct", eps=min(0.2, 4 * eps), linf_bound=eps, max_queries=500))
    attacks.append(FourierBasisAttack(norm_l2=_fourier_norm(image_size)))
    return attacks


def _suite_standard(eps_list: Sequence[float], *, norm: str, image_size: int, randomized: bool) -> list[Any]:
    from attacks.fourier import FourierBasisAttack
    from attacks.pgd import PGD
    from attacks.simba import SimBA

    attacks: list[Any] = []
    for eps in eps_list:
        attacks.append(PGD(eps=eps, norm=norm, steps=50, restarts=2))
        attacks.append(PGD(eps=eps, norm=norm, steps=50, loss="cw"))
        if randomized:
            attacks.append(PGD(eps=eps, norm=norm, steps=50, eot_samples=20))
        if norm == "linf":
            attacks.append(SimBA(basis="dct", eps=min(0.2, 4 * eps), linf_bound=eps, max_queries=3000))
    attacks.append(FourierBasisAttack(norm_l2=_fourier_norm(image_size)))
    return attacks


def _fourier_norm(image_size: int) -> float:
    """Yin et al.'s basis norm: v = 4 on 32×32 CIFAR, 15.7 on 224×224 ImageNet (scaled between)."""
    if image_size <= 32:
        return 4.0
    return 15.7 * math.sqrt(image_size / 224) if image_size < 224 else 15.7


SUITES: dict[str, Callable[..., list[Any]]] = {
    "quick": _suite_quick,
    "standard": _suite_standard,
}


def build_suite(
    name: str, eps_list: Sequence[float], *, norm: str = "linf", image_size: int = 32, randomized: bool = False
) -> list[Any]:
    """The attacks of a named adaptive suite at each eps.

    ``quick``: PGD-10, PGD-EOT when the model is randomised, SimBA-DCT (L∞-bounded) and the
    Fourier-basis attack. ``standard``: PGD-50 with restarts, a CW-loss PGD, PGD-EOT-20 when
    randomised, SimBA-DCT with 3,000 queries, Fourier-basis.

    Raises:
        ValueError: unknown suite name.
    """
    factory = SUITES.get(name)
    if factory is None:
        raise _unknown("suite", name, list(SUITES))
    return factory(eps_list, norm=norm, image_size=image_size, randomized=randomized)
