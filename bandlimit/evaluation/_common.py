"""Helpers shared by the evaluation functions: data batches, checked predictions, seeds.

Every forward pass whose output the harness or an analysis scores goes through
:func:`scored` (or :func:`predict`): its logits must be ``(N, classes)`` and finite, and the
clean pass of every batch checks every label against the model's output width, so no wrong
number is reported from a broken model or mismatched labels. Progress reporting, devices and
the model guard are the core's (:mod:`bandlimit._progress`, :mod:`bandlimit._torch`).
"""

from __future__ import annotations

import hashlib
import math
import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_images, check_label_range, check_labels, check_logits, check_positive_int
from bandlimit._torch import first_forward, fit_images

__all__ = ["batches", "check_model", "derive_generator", "known_total", "predict", "scored"]


def check_model(model: Any) -> None:
    """Raise TypeError unless ``model`` is an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")


def scored(model: nn.Module, x: Tensor, name: str, *, samples: int | Tensor = 0) -> Tensor:
    """The logits of one forward pass the caller scores, checked: ``(N, classes)`` and finite.

    Args:
        model: The model.
        x: Its input.
        name: Whose output it is, for messages (e.g. ``"model output on the clean images"``).
        samples: Index of ``x[0]`` in the data, or every row's index (messages name the sample).

    Raises:
        ValueError: the output is not ``(N, classes)`` logits.
        NonFiniteLogits: it holds NaN or inf.
    """
    logits = first_forward(model, x, "data images")
    check_logits(logits, x.shape[0], name, samples=samples)
    return logits


@torch.no_grad()
def predict(
    model: nn.Module,
    x: Tensor,
    votes: int = 1,
    *,
    name: str = "model output",
    samples: int | Tensor = 0,
    y: Tensor | None = None,
) -> Tensor:
    """Predicted classes ``(N,)``; majority vote over ``votes`` checked forward passes (:func:`scored`).

    A deterministic model needs one pass. For a randomised model the vote estimates the
    prediction of the defence as a whole instead of one noisy draw of it (ties go to the
    smallest class index, as in :func:`torch.mode`).

    Args:
        model: The model.
        x: Its input.
        votes: Forward passes to vote over.
        name: Whose output it is, for messages.
        samples: Index of ``x[0]`` in the data, or every row's index.
        y: Labels to check against the model's output width (the clean pass of a batch).

    Raises:
        ValueError: malformed logits, or a label outside ``[0, classes)``.
        NonFiniteLogits: NaN or inf logits.
    """
    logits = scored(model, x, name, samples=samples)
    if y is not None:
        check_label_range(y, logits.shape[1], "data labels", samples=samples)
    if votes == 1:
        return logits.argmax(dim=1)
    preds = [logits.argmax(dim=1)] + [scored(model, x, name, samples=samples).argmax(dim=1) for _ in range(votes - 1)]
    return torch.stack(preds, dim=0).mode(dim=0).values


def derive_generator(seed: int, *parts: object, device: torch.device) -> torch.Generator:
    """A generator whose seed depends only on ``seed`` and ``parts``.

    Each attack × batch gets its own stream, so a resumed evaluation draws exactly the
    numbers an uninterrupted one would have drawn.
    """
    text = "/".join([str(seed), *map(str, parts)]).encode()
    value = int.from_bytes(hashlib.sha256(text).digest()[:8], "little") & ((1 << 63) - 1)
    gen = torch.Generator(device=device)
    gen.manual_seed(value)
    return gen


def _data_size(data: Any) -> int | None:
    """Number of samples in ``data``, or None when it has no length."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        return int(data[0].shape[0])
    source = getattr(data, "dataset", data)
    try:
        return len(source)
    except TypeError:
        return None


def known_total(data: Any, n: int | None) -> int:
    """Number of samples ``data`` will yield (at most ``n``), or 0 when unknown."""
    if n is not None:
        check_positive_int(n, "n")
    size = _data_size(data)
    if size is None:
        return 0
    return size if n is None else min(size, n)


def _warn_short(n: int, size: int) -> None:
    warnings.warn(
        f"n={n} is larger than the data ({size} samples); using all {size} samples",
        UserWarning,
        stacklevel=4,
    )


def _take(data: Any, batch_size: int, device: torch.device) -> Iterator[tuple[Tensor, Tensor]]:
    """Raw ``(x, y)`` batches from a Dataset, a DataLoader or an ``(x, y)`` pair."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        x, y = data
        if not isinstance(y, Tensor):
            raise TypeError(f"data: expected an (x, y) pair of tensors, got y of type {type(y).__name__}")
        if y.shape[:1] != x.shape[:1]:
            raise ValueError(
                f"data: expected as many labels as images, got {tuple(x.shape)} images and {tuple(y.shape)} labels"
            )
        yield x, y
        return
    # Imported here: bandlimit.data pulls in image decoding, which analyses on tensors skip.
    from bandlimit.data import iterate_batches

    yield from iterate_batches(data, batch_size, device)


def batches(
    data: Any, *, batch_size: int, device: torch.device, n: int | None = None, model: nn.Module | None = None
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Validated ``(start, x, y)`` batches of at most ``batch_size`` images on ``device``.

    ``start`` is the index of the batch's first sample in the data; at most ``n`` samples
    are read. Batches do not depend on how the source batches its data, so a resumed
    evaluation sees the same batches. With ``model``, images come in the model's dtype where
    that conversion is safe (:func:`bandlimit._torch.fit_images`).

    Warns:
        UserWarning: ``n`` is larger than the data (up front when the data has a length,
            else once the data run out).

    Raises:
        TypeError, ValueError: the data yield something other than [0, 1] images and labels.
    """
    check_positive_int(batch_size, "batch_size")
    if n is not None:
        check_positive_int(n, "n")
    size = _data_size(data)
    if n is not None and size is not None and n > size:
        _warn_short(n, size)
    limit = math.inf if n is None else n
    start = 0
    buf_x: list[Tensor] = []
    buf_y: list[Tensor] = []
    held = 0

    def checked(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        x, y = _checked(x, y, device)
        return (fit_images(model, x) if model is not None else x), y

    for x, y in _take(data, batch_size, device):
        if x.dim() == 3:
            x, y = x.unsqueeze(0), torch.as_tensor(y).reshape(1)
        y = torch.as_tensor(y)
        size_here = int(min(x.shape[0], limit - start - held))
        pos = 0
        while pos < size_here:
            if not buf_x and size_here - pos >= batch_size:  # whole batch: a view, no copy
                yield start, *checked(x[pos : pos + batch_size], y[pos : pos + batch_size])
                start += batch_size
                pos += batch_size
                continue
            take = min(batch_size - held, size_here - pos)
            buf_x.append(x[pos : pos + take])
            buf_y.append(y[pos : pos + take])
            held += take
            pos += take
            if held == batch_size:
                yield start, *checked(torch.cat(buf_x), torch.cat(buf_y))
                start += batch_size
                buf_x, buf_y, held = [], [], 0
        if start + held >= limit:
            break
    if held:
        yield start, *checked(torch.cat(buf_x), torch.cat(buf_y))
        start += held
    if n is not None and size is None and 0 < start < n:
        _warn_short(n, start)


def _checked(x: Tensor, y: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    # Data are constants to the harness: a graph attached to them would only leak into results.
    x = x.detach()
    check_images(x, "data images")
    y = y.long() if not (y.dtype.is_floating_point or y.dtype == torch.bool) else y
    check_labels(y, x.shape[0], "data labels")
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
