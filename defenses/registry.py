"""Every defence under its own name, behind one factory signature ``(model, **settings) -> nn.Module``.

>>> defended = apply_defense(model, "lowpass", bandwidth=16)  # doctest: +SKIP

* ``postavg``: :class:`~defenses.PostAveraging` around the model.
* ``lowpass`` / ``highpass``: :class:`~defenses.LowPassFilter` / :class:`~defenses.HighPassFilter`
  as the model's input layer (:func:`~defenses.with_input_filter`, which keeps the model's
  ``bandlimit_meta`` and records the layer in it).
* ``smooth``: :func:`~defenses.smooth_first_conv` (a smoothed copy of the model).

Each entry's ``meta`` lists the defence's ``settings`` (read from its signature) and the
``required`` ones, so a misspelt or missing setting is refused with the valid names before
anything is built.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from typing import Any

from torch import nn

from bandlimit.registry import Registry
from defenses.filters import HighPassFilter, LowPassFilter, with_input_filter
from defenses.lin_post_averaging import LinPostAveraging
from defenses.post_averaging import PostAveraging
from defenses.smoothing import SMOOTHING, smooth_first_conv

__all__ = ["DEFENSES", "DefenseFactory", "apply_defense", "register_defense"]

#: ``factory(model, **settings)`` returns the defended model.
DefenseFactory = Callable[..., nn.Module]

#: Every defence: ``DEFENSES.get(name).obj`` is its factory.
DEFENSES: Registry[DefenseFactory] = Registry("defence")


def _settings(target: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``(settings, required settings)`` of ``target``: its named parameters other than the model."""
    params = [
        p
        for p in inspect.signature(target).parameters.values()
        if p.name != "model" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    return tuple(p.name for p in params), tuple(p.name for p in params if p.default is p.empty)


def register_defense(name: str, factory: DefenseFactory, *, settings_of: Callable[..., Any], help: str) -> None:
    """Register ``factory`` under ``name``; its valid settings are the parameters of ``settings_of``.

    Args:
        name: The defence's own name (e.g. ``PostAveraging.name``).
        factory: ``factory(model, **settings) -> nn.Module``.
        settings_of: The class or function whose keyword parameters the settings are.
        help: One line for listings.
    """
    settings, required = _settings(settings_of)
    DEFENSES.register(name, factory, help=help, settings=settings, required=required)


def apply_defense(model: nn.Module, name: str, **settings: Any) -> nn.Module:
    """Wrap ``model`` with the defence ``name`` configured by ``settings``.

    Raises:
        ValueError: unknown name (with close matches), or a setting the defence does not have,
            or a required one missing; the message lists the valid settings.
        TypeError: ``model`` is not an ``nn.Module`` (raised by the defence).
    """
    entry = DEFENSES.get(name)
    valid = entry.meta["settings"]
    unknown = sorted(set(settings) - set(valid))
    missing = [k for k in entry.meta["required"] if k not in settings]
    if unknown or missing:
        close = sorted({c for k in unknown for c in difflib.get_close_matches(k, valid, n=1)})
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        problem = f"unknown setting(s) {unknown}{hint}" if unknown else f"missing required setting(s) {missing}"
        raise ValueError(f"defence {name!r}: {problem}; valid settings: {', '.join(valid)}")
    return entry.obj(model, **settings)


def _post_averaging(model: nn.Module, **settings: Any) -> nn.Module:
    return PostAveraging(model, **settings)


def _input_filter(layer: type[LowPassFilter] | type[HighPassFilter]) -> DefenseFactory:
    def factory(model: nn.Module, **settings: Any) -> nn.Module:
        return with_input_filter(model, layer(**settings))

    return factory


register_defense(
    PostAveraging.name,
    _post_averaging,
    settings_of=PostAveraging,
    help="post-averaging over K points on a sphere (radius, samples)",
)
register_defense(
    LinPostAveraging.name,
    lambda model, **settings: LinPostAveraging(model, **settings),
    settings_of=LinPostAveraging,
    help="Lin et al.'s released post-averaging: softmax average over the clean image and +-K directions at "
    "R/3, 2R/3, R (R in normalised units, 6 on CIFAR-10)",
)
register_defense(
    LowPassFilter.name,
    _input_filter(LowPassFilter),
    settings_of=LowPassFilter,
    help="low-pass input layer (bandwidth, shape)",
)
register_defense(
    HighPassFilter.name,
    _input_filter(HighPassFilter),
    settings_of=HighPassFilter,
    help="high-pass input layer (bandwidth, shape)",
)
register_defense(
    SMOOTHING,
    smooth_first_conv,
    settings_of=smooth_first_conv,
    help="first-layer kernel smoothing (rho, preserve_norm)",
)
