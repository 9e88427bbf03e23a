"""One model registry, timm style: ``@register_model``, ``create_model``, ``list_models``.

Every registered function has the signature ``fn(*, num_classes=None, pretrained=False,
**kwargs) -> nn.Module`` and returns a model on [0, 1] images whose first layer is
:class:`~bandlimit.models.Normalize` and which carries ``model.bandlimit_meta`` (see
:func:`attach_meta`). The names live in :data:`MODELS`, a :class:`bandlimit.registry.Registry`
whose entries hold a :class:`ModelEntry`; names that are not registered one by one
(``tv_<any torchvision classifier>``) are served by the registry's *resolvers*.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from bandlimit._checks import check_bool
from bandlimit.registry import Entry, Registry

__all__ = [
    "MODELS",
    "ModelEntry",
    "attach_meta",
    "create_model",
    "get_model_entry",
    "list_models",
    "model_info",
    "register_model",
    "register_resolver",
]

logger = logging.getLogger(__name__)

#: Status strings of :attr:`ModelEntry.weights_status`.
WEIGHTS_AVAILABLE = "available"  # pretrained=True works offline right now
WEIGHTS_DOWNLOAD = "download"  # known weights, not cached yet (needs allow_download=True once)
WEIGHTS_MISSING = "missing"  # shipped-weights entry whose checkpoint file is not installed
WEIGHTS_NEEDS_PACKAGE = "needs-package"  # an optional package provides the architecture/weights
WEIGHTS_NONE = "none"  # architecture only

ModelFn = Callable[..., nn.Module]


@dataclass(frozen=True)
class ModelEntry:
    """A registered model name.

    Attributes:
        name: Registry name passed to :func:`create_model`.
        fn: Builder ``fn(*, num_classes=None, pretrained=False, **kwargs) -> nn.Module``.
        family: Short family label for listings (``"cifar-resnet"``, ``"torchvision"``, ...).
        weights: ``None`` for an architecture without pretrained weights, else a callable
            returning one of the ``WEIGHTS_*`` status strings (checked lazily, never downloads).
    """

    name: str
    fn: ModelFn
    family: str
    weights: Callable[[], str] | None = None

    @property
    def has_pretrained(self) -> bool:
        """Whether ``pretrained=True`` is meaningful for this name."""
        return self.weights is not None

    def weights_status(self) -> str:
        """One of ``available``, ``download``, ``missing``, ``needs-package``, ``none``."""
        return WEIGHTS_NONE if self.weights is None else self.weights()


def _help(fn: ModelFn) -> str:
    doc = (fn.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


class _ModelRegistry(Registry[ModelEntry]):
    """The generic registry with the model listing's own message for unknown names."""

    def unknown(self, name: str) -> ValueError:
        """The error for an unknown model name: close matches, every known name, the prefixes."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        did_you_mean = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else "."
        prefixes = ", ".join(f"'{p}<name>'" for p in sorted(self._resolvers))
        extra = f" Also accepted: {prefixes}." if prefixes else ""
        return ValueError(
            f"unknown model {name!r}{did_you_mean} Known models: {', '.join(known)}.{extra} "
            "List them with bandlimit.models.list_models() or `bandlimit models`."
        )


#: Every model name: ``MODELS.get(name).obj`` is its :class:`ModelEntry`; ``meta`` holds what
#: the registering module keeps with it (the shipped checkpoint of a pretrained name).
MODELS: Registry[ModelEntry] = _ModelRegistry("model")


def register_model(
    fn: ModelFn | None = None,
    *,
    name: str | None = None,
    family: str | None = None,
    weights: Callable[[], str] | None = None,
    **meta: Any,
) -> Any:
    """Register a model builder under ``name`` (default: the function's name) in :data:`MODELS`.

    Usable bare (``@register_model``) or with options
    (``@register_model(family="cifar-resnet")``). Re-registering a name replaces it with a
    warning, as in timm.

    Args:
        fn: The builder, when used as a bare decorator or called directly.
        name: Registry name; defaults to ``fn.__name__``.
        family: Listing label; defaults to the defining module's last name component.
        weights: Pretrained-weights status callable (see :class:`ModelEntry`).
        **meta: Kept in the registry entry's ``meta`` (e.g. ``shipped=`` for pretrained names).

    Returns:
        The builder unchanged (decorator use), or a decorator.
    """

    def decorate(f: ModelFn) -> ModelFn:
        if not callable(f):
            raise TypeError(f"register_model: expected a callable builder, got {type(f).__name__}")
        key = name or f.__name__
        if key in MODELS.names() and MODELS.get(key).obj.fn is not f:
            logger.warning("overwriting model %r in the registry", key)
        entry = ModelEntry(key, f, family or f.__module__.rsplit(".", 1)[-1], weights)
        MODELS.register(key, entry, help=_help(f), **meta)
        return f

    return decorate(fn) if fn is not None else decorate


def register_resolver(prefix: str, resolver: Callable[[str], ModelEntry | None]) -> None:
    """Serve every name starting with ``prefix`` that is not registered explicitly.

    ``resolver(name)`` returns a :class:`ModelEntry` or ``None`` (unknown under that prefix).
    """

    def resolve(name: str) -> Entry[ModelEntry] | None:
        found = resolver(name)
        return None if found is None else Entry(found.name, found, _help(found.fn))

    MODELS.add_resolver(prefix, resolve)


def get_model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` for ``name`` (registered or resolved by prefix).

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: unknown name; the message lists the known names and close matches.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a model name (str), got {type(name).__name__}")
    return MODELS.get(name).obj


def attach_meta(
    model: nn.Module,
    *,
    architecture: str,
    num_classes: int,
    mean: Sequence[float],
    std: Sequence[float],
    dataset: str,
    input_size: Sequence[int],
    **extra: Any,
) -> nn.Module:
    """Store ``model.bandlimit_meta`` (what checkpoints and reports need to rebuild and describe it).

    Args:
        model: The model to annotate (returned, for chaining).
        architecture: Registry name that rebuilds the bare architecture.
        num_classes: Number of output logits.
        mean: Normalisation means applied by the model's first layer.
        std: Normalisation standard deviations.
        dataset: Dataset the defaults refer to (``"cifar10"``, ``"imagenet"``).
        input_size: ``(C, H, W)`` the model expects.
        **extra: More JSON-friendly entries, e.g. ``kwargs`` (architecture keyword arguments
            needed to rebuild it) or ``pretrained`` (name of the loaded weights).
    """
    model.bandlimit_meta = {
        "architecture": architecture,
        "num_classes": int(num_classes),
        "mean": tuple(float(v) for v in mean),
        "std": tuple(float(v) for v in std),
        "dataset": dataset,
        "input_size": tuple(int(v) for v in input_size),
        **extra,
    }
    return model


def create_model(name: str, *, num_classes: int | None = None, pretrained: bool = False, **kwargs: Any) -> nn.Module:
    """Build a registered model: an ``nn.Module`` from [0, 1] images to logits.

    Keyword arguments that are ``None`` are dropped (so callers can pass optional settings
    through without breaking builders that do not know them). Common keywords: ``mean`` /
    ``std`` (override the normalisation), architecture options such as ``depth`` /
    ``widen_factor`` for Wide ResNets, ``allow_download`` / ``weights`` for torchvision
    weights.

    Args:
        name: A name from :func:`list_models`, or ``tv_<torchvision classifier name>``.
        num_classes: Output classes; ``None`` keeps the model's default (10 for CIFAR, 1000 for
            ImageNet).
        pretrained: Load the model's pretrained weights (never downloads unless the builder is
            given ``allow_download=True``).
        **kwargs: Passed to the builder.

    Returns:
        The model (training mode, like any freshly built ``nn.Module``; pretrained ones in eval
        mode) with ``model.bandlimit_meta`` set.

    Raises:
        ValueError: unknown name (with close matches) or an invalid option.
        FileNotFoundError: ``pretrained=True`` but the weights file is not available offline.
    """
    entry = get_model_entry(name)
    check_bool(pretrained, "pretrained")
    if pretrained and not entry.has_pretrained:
        with_weights = list_models(pretrained=True)
        raise ValueError(
            f"model {name!r} has no pretrained weights; expected pretrained=False, or one of the "
            f"names with weights: {', '.join(with_weights)}. To use your own weights, run "
            f"load_checkpoint(path, create_model({name!r}))."
        )
    if num_classes is not None:
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: expected an integer >= 1 or None, got {num_classes!r}")
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = entry.fn(num_classes=num_classes, pretrained=pretrained, **kwargs)
    if not isinstance(getattr(model, "bandlimit_meta", None), dict):
        raise TypeError(f"model builder for {name!r} returned a model without bandlimit_meta; use attach_meta()")
    return model


def list_models(pattern: str | Sequence[str] = "*", *, pretrained: bool = False) -> list[str]:
    """Sorted registry names matching a shell-style pattern (``fnmatch``).

    Args:
        pattern: One pattern or several (a name matching any of them is listed).
        pretrained: List only names that have pretrained weights (whether or not they are
            available offline right now; see :func:`model_info`).

    Returns:
        Registered names; ``tv_<name>`` for torchvision classifiers that are not registered one
        by one is not enumerated here.
    """
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError(f"pattern: expected a string or a sequence of strings, got {pattern!r}")
    names = {n for p in patterns for n in MODELS.names(p)}
    return sorted(n for n in names if not pretrained or MODELS.get(n).obj.has_pretrained)


def model_info(name: str) -> dict[str, Any]:
    """Describe a model without allocating its weights (built on the ``meta`` device).

    Returns:
        A dict with ``name``, ``family``, ``dataset``, ``input_size``, ``num_classes``,
        ``params`` (``None`` when the model cannot be built, e.g. a missing optional package),
        ``weights`` (a ``WEIGHTS_*`` status) and ``error`` (why it could not be built, or ``None``).
    """
    entry = get_model_entry(name)
    info: dict[str, Any] = {
        "name": name,
        "family": entry.family,
        "dataset": None,
        "input_size": None,
        "num_classes": None,
        "params": None,
        "weights": entry.weights_status(),
        "error": None,
    }
    try:
        # The meta device gives shapes without memory or init cost, even for 100M-param nets.
        with torch.device("meta"):
            model = create_model(name)
    except (ImportError, ValueError, TypeError, RuntimeError, NotImplementedError) as exc:
        info["error"] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return info
    meta = model.bandlimit_meta
    info.update(
        dataset=meta["dataset"],
        input_size=meta["input_size"],
        num_classes=meta["num_classes"],
        params=sum(p.numel() for p in model.parameters()),
    )
    return info
