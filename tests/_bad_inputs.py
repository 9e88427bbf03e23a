"""Shared pieces of the bad-input catalogue (``test_bad_inputs_*.py``): tiny models, lazy imports, the case type.

Every API case names the call, the exception (or warning) it must raise and words its message
must contain. The helpers build small models and files lazily, so collecting the catalogue
costs nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn


# ------------------------------------------------------------------------------ helpers
def net(classes: int = 10, channels: int = 3) -> nn.Module:
    """A small linear classifier on 8x8 images, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * 8 * 8, classes)).eval()


def images(n: int = 4, channels: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` random 8x8 images in [0, 1]."""
    return torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(1)).to(dtype)


def labels(n: int = 4, value: int | None = None) -> torch.Tensor:
    """``n`` labels (0..n-1, or all ``value``)."""
    return torch.full((n,), value, dtype=torch.long) if value is not None else torch.arange(n) % 10


# ------------------------------------------------------------------------------ API cases
@dataclass(frozen=True)
class ApiCase:
    """``call()`` must raise ``error`` (or, with ``warns``, emit it) with every word in its message."""

    id: str
    call: Callable[[], Any]
    error: type[BaseException] | type[Warning]
    words: tuple[str, ...]
    warns: bool = False


def conv_net(classes: int = 10) -> nn.Module:
    """A small convolutional classifier on 3-channel 8x8 images, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, classes)).eval()


class _Scaled(nn.Module):
    """``net()`` with its logits multiplied by ``factor`` (NaN: a model that breaks on every input)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.net, self.factor = net(), factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.factor


def nan_net() -> nn.Module:
    """A model whose every logit is NaN."""
    return _Scaled(float("nan"))


def flat_net() -> nn.Module:
    """A model with one score per image, shape ``(N,)`` instead of ``(N, classes)``."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1), nn.Flatten(0)).eval()


class _Labels(nn.Module):
    """``net()``'s predicted labels, one-hot but as int64: a model that returns no scores."""

    def __init__(self) -> None:
        super().__init__()
        self.net = net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.net(x).argmax(1), 10)


def labels_net() -> nn.Module:
    """A model whose output is int64 one-hot labels instead of float logits."""
    return _Labels()


def data(n: int = 4, **kw: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images(n, **kw), labels(n))``."""
    return images(n, **kw), labels(n)


def _attacks() -> Any:
    import attacks

    return attacks


def _ev() -> Any:
    import bandlimit.evaluation

    return bandlimit.evaluation


def _defenses() -> Any:
    import defenses

    return defenses


def _spectral() -> Any:
    import bandlimit.spectral

    return bandlimit.spectral


def pgd(**kw: Any) -> Any:
    """A one-step PGD (eps 0.1 unless given)."""
    return _attacks().PGD(**{"eps": 0.1, "steps": 1, **kw})


def attack(make: Callable[[], Any], model: Any = None, x: Any = None, y: Any = None, **kw: Any) -> Any:
    """``make()(model, x, y, **kw)`` with ``net()``, ``images()``, ``labels()`` for what is not given."""
    return make()(net() if model is None else model, images() if x is None else x, labels() if y is None else y, **kw)


def evaluate(**kw: Any) -> Any:
    """``evaluate`` of ``net()`` on ``data()`` under ``[pgd()]``, without checks, unless given."""
    model, batch, attacks = kw.pop("model", None), kw.pop("data", None), kw.pop("attacks", None)
    kw = {"checks": False, **kw}
    return _ev().evaluate(
        net() if model is None else model, data() if batch is None else batch, attacks or [pgd()], **kw
    )


def heatmap(model: Any = None, batch: Any = None, **kw: Any) -> Any:
    """``fourier_heatmap`` of ``net()`` on ``data()`` (norm 1, one central cell unless given)."""
    kw = {"norm": 1.0, "cells": "central:1", **kw}
    return _ev().fourier_heatmap(net() if model is None else model, data() if batch is None else batch, **kw)


def filtered(model: Any = None, batch: Any = None, **kw: Any) -> Any:
    """``filtered_accuracy`` of ``net()`` on ``data()`` (one bandwidth, one radius unless given)."""
    kw = {"bandwidths": [4], "radii": [2], **kw}
    return _ev().filtered_accuracy(net() if model is None else model, data() if batch is None else batch, **kw)


def spectrum(model: Any = None, batch: Any = None, attacks: Any = None, **kw: Any) -> Any:
    """``perturbation_spectrum`` of ``net()`` on ``data()`` under ``pgd()`` unless given."""
    model, batch = net() if model is None else model, data() if batch is None else batch
    return _ev().perturbation_spectrum(model, batch, pgd() if attacks is None else attacks, **kw)


def post_averaging(model: Any = None, **kw: Any) -> Any:
    """``PostAveraging`` of ``net()`` (radius 1 unless given)."""
    return _defenses().PostAveraging(net() if model is None else model, **{"radius": 1.0, **kw})


#: A state file in a folder that does not exist (this test file is no folder, and none is created).
_NO_FOLDER = Path(__file__) / "state.pt"


def check_api_case(case: ApiCase) -> None:
    """Run one API case: the call raises (or warns) ``case.error`` with every word in its message."""
    if case.warns:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            case.call()
        hits = [w for w in seen if issubclass(w.category, case.error)]
        assert hits, f"no {case.error.__name__} was emitted"
        message = str(hits[0].message)
    else:
        with pytest.raises(case.error) as info:  # type: ignore[arg-type]
            case.call()
        message = str(info.value)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"
