"""Datasets as tensors: ``to_tensors`` (one pair) and ``iterate_batches`` (batches).

(The training loop keeps a whole training set on the device itself, as uint8: see
:func:`bandlimit.training.data.as_tensors`.)

``data`` arguments everywhere accept a ``Dataset`` of ``(image, label)``, a ``DataLoader``
yielding ``(x, y)`` batches, or an ``(x, y)`` pair of tensors (``x`` float in [0, 1] or uint8).
In-memory datasets are sliced directly (uint8 moved to the device, then converted), never
image by image.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from bandlimit._checks import check_images, check_labels, check_positive_int
from bandlimit.data.base import TensorImageDataset, as_float_images

__all__ = ["iterate_batches", "to_tensors"]


def _pair(data: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(x, y)`` if ``data`` is a pair of tensors (validated), else None."""
    if not (isinstance(data, (tuple, list)) and len(data) == 2):
        return None
    x, y = data
    if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
        raise TypeError(f"data: expected an (x, y) pair of tensors, got ({type(x).__name__}, {type(y).__name__})")
    if x.dtype != torch.uint8:
        check_images(x, "x")
    elif x.dim() != 4:
        raise ValueError(f"x: expected shape (N, C, H, W), got {tuple(x.shape)}")
    check_labels(y, x.shape[0], "y")
    return x, y


def _tensor_storage(data: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Raw ``(images, labels)`` of datasets that can be sliced in bulk (no per-item transform)."""
    if isinstance(data, TensorImageDataset) and data.transform is None:
        return data.tensors()
    return _pair(data)


def _batch_from_loader(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise TypeError(f"expected DataLoader batches (x, y, ...), got {type(batch).__name__}")
    x, y = batch[0], torch.as_tensor(batch[1])
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"expected image batches as tensors, got {type(x).__name__}")
    return x, y


def iterate_batches(
    data: Any,
    batch_size: int,
    device: torch.device | str | None = None,
    *,
    num_workers: int = 0,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(x float32 (B, C, H, W) in [0, 1], y int64 (B,))`` batches in dataset order.

    Args:
        data: A Dataset, a DataLoader (its batches are split to at most ``batch_size``) or an
            ``(x, y)`` tensor pair.
        batch_size: Maximum images per batch.
        device: Where the batches go; default: where the data already is.
        num_workers: Decoding processes for a Dataset that decodes per item (image folders).

    Raises:
        TypeError: ``data`` is none of the accepted kinds.
    """
    check_positive_int(batch_size, "batch_size")
    check_positive_int(num_workers, "num_workers", minimum=0)
    target = torch.device(device) if device is not None else None
    storage = _tensor_storage(data)
    if storage is not None:
        images, labels = storage
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size]
            y = labels[start : start + batch_size]
            if target is not None:  # move uint8 before converting: 4x less to copy
                x, y = x.to(target, non_blocking=True), y.to(target, non_blocking=True)
            yield as_float_images(x), y.to(torch.int64)
        return
    if isinstance(data, DataLoader):
        loader = data
    elif isinstance(data, Dataset):
        loader = DataLoader(data, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    else:
        raise TypeError(
            f"data: expected a Dataset, a DataLoader or an (x, y) pair of tensors, got {type(data).__name__}"
        )
    for batch in loader:
        xb, yb = _batch_from_loader(batch)
        for start in range(0, xb.shape[0], batch_size):
            x, y = xb[start : start + batch_size], yb[start : start + batch_size]
            if target is not None:
                x, y = x.to(target), y.to(target)
            yield as_float_images(x), y.to(torch.int64)


def to_tensors(
    data: Any,
    n: int | None = None,
    *,
    device: torch.device | str | None = None,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack (the first ``n`` samples of) ``data`` into ``(x float32 (N, C, H, W), y int64)``.

    Args:
        data: A Dataset, a DataLoader or an ``(x, y)`` tensor pair.
        n: Keep only the first ``n`` samples (default all).
        device: Where the tensors go; default: where the data already is (CPU for files).
        num_workers: Decoding processes for a Dataset that decodes per item.

    Raises:
        ValueError: ``n`` exceeds the data, or the data is empty.
    """
    if n is not None:
        check_positive_int(n, "n")
    check_positive_int(num_workers, "num_workers", minimum=0)
    storage = _tensor_storage(data)
    if storage is not None:
        size = storage[0].shape[0]
    elif isinstance(data, Dataset) and not isinstance(data, DataLoader):
        size = len(data)  # type: ignore[arg-type]
        sub = Subset(data, range(min(n, size))) if n is not None else data
        data = DataLoader(sub, batch_size=256, num_workers=num_workers)
    else:
        size = None
    if n is not None and size is not None and n > size:
        raise ValueError(f"n: expected at most {size} (the number of samples), got {n}")
    xs, ys, have = [], [], 0
    for x, y in iterate_batches(data, 1024, device=device):
        if n is not None and have + x.shape[0] > n:
            x, y = x[: n - have], y[: n - have]
        xs.append(x)
        ys.append(y)
        have += x.shape[0]
        if n is not None and have >= n:
            break
    if not xs:
        raise ValueError("data: expected at least one sample, got none")
    if n is not None and have < n:
        raise ValueError(f"n: expected at most {have} (the number of samples), got {n}")
    return torch.cat(xs), torch.cat(ys)
