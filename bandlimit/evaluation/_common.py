"""Helpers shared by the evaluation functions: data batches, predictions, seeds.

Progress reporting, devices and the model guard are the core's (:mod:`bandlimit._progress`,
:mod:`bandlimit._torch`).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._checks import check_images, check_labels, check_positive_int

__all__ = ["batches", "check_model", "derive_generator", "known_total", "predict"]


def check_model(model: Any) -> None:
    """Raise TypeError unless ``model`` is an ``nn.Module``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, votes: int = 1) -> Tensor:
    """Predicted classes ``(N,)``; majority vote over ``votes`` forward passes.

    A deterministic model needs one pass. For a randomised model the vote estimates the
    prediction of the defence as a whole instead of one noisy draw of it (ties go to the
    smallest class index, as in :func:`torch.mode`).
    """
    if votes == 1:
        return model(x).argmax(dim=1)
    preds = torch.stack([model(x).argmax(dim=1) for _ in range(votes)], dim=0)
    return preds.mode(dim=0).values


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


def known_total(data: Any, n: int | None) -> int:
    """Number of samples ``data`` will yield (at most ``n``), or 0 when unknown."""
    if isinstance(data, (tuple, list)) and len(data) == 2 and isinstance(data[0], Tensor):
        size = data[0].shape[0]
    else:
        source = getattr(data, "dataset", data)
        try:
            size = len(source)
        except TypeError:
            return 0
    return size if n is None else min(size, n)


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
    data: Any, *, batch_size: int, device: torch.device, n: int | None = None
) -> Iterator[tuple[int, Tensor, Tensor]]:
    """Validated ``(start, x, y)`` batches of at most ``batch_size`` images on ``device``.

    ``start`` is the index of the batch's first sample in the data; at most ``n`` samples
    are read. Batches do not depend on how the source batches its data, so a resumed
    evaluation sees the same batches.

    Raises:
        TypeError, ValueError: the data yield something other than [0, 1] images and labels.
    """
    check_positive_int(batch_size, "batch_size")
    if n is not None:
        check_positive_int(n, "n")
    limit = math.inf if n is None else n
    start = 0
    buf_x: list[Tensor] = []
    buf_y: list[Tensor] = []
    held = 0
    for x, y in _take(data, batch_size, device):
        if x.dim() == 3:
            x, y = x.unsqueeze(0), torch.as_tensor(y).reshape(1)
        y = torch.as_tensor(y)
        size = int(min(x.shape[0], limit - start - held))
        pos = 0
        while pos < size:
            if not buf_x and size - pos >= batch_size:  # whole batch: a view, no copy
                yield start, *_checked(x[pos : pos + batch_size], y[pos : pos + batch_size], device)
                start += batch_size
                pos += batch_size
                continue
            take = min(batch_size - held, size - pos)
            buf_x.append(x[pos : pos + take])
            buf_y.append(y[pos : pos + take])
            held += take
            pos += take
            if held == batch_size:
                yield start, *_checked(torch.cat(buf_x), torch.cat(buf_y), device)
                start += batch_size
                buf_x, buf_y, held = [], [], 0
        if start + held >= limit:
            break
    if held:
        yield start, *_checked(torch.cat(buf_x), torch.cat(buf_y), device)


def _checked(x: Tensor, y: Tensor, device: torch.device) -> tuple[Tensor, Tensor]:
    check_images(x, "data images")
    y = y.long() if not (y.dtype.is_floating_point or y.dtype == torch.bool) else y
    check_labels(y, x.shape[0], "data labels")
    return x.to(device, non_blocking=True), y.to(device, non_blocking=True)
