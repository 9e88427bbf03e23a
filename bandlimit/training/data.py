"""Turn training data into one pair of device tensors (compact ``uint8`` when possible).

8-bit images (every CIFAR/JPEG/PNG source) are stored as ``uint8``: four times less memory
than float32, and converting a batch to float on the device costs nothing next to the
forward pass. Anything that is not exactly representable in 8 bits stays float32.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from bandlimit._checks import check_labels
from bandlimit.data.base import FolderImageDataset, TensorImageDataset
from bandlimit.data.cache import decode_all

__all__ = ["as_tensors", "compact_images"]


def compact_images(x: Tensor) -> Tensor:
    """``uint8`` copy of float images in [0, 1] whose values are all multiples of 1/255.

    Float images that are not exactly 8-bit (and ``uint8`` images) are returned as they are.
    """
    if x.dtype == torch.uint8 or not x.is_floating_point():
        return x
    q = (x.float() * 255.0).round()
    if q.min() >= 0 and q.max() <= 255 and torch.equal((q / 255.0).to(x.dtype), x):
        return q.to(torch.uint8)
    return x


def _from_dataset(data: Dataset[Any], name: str) -> tuple[Tensor, Tensor]:
    # bandlimit.data datasets without a per-item transform: their uint8 storage, or decoded
    # straight to uint8 (in parallel for large folders).
    if isinstance(data, TensorImageDataset) and data.transform is None:
        return data.tensors()
    if isinstance(data, FolderImageDataset) and data.transform is None:
        if len(data) == 0:
            raise ValueError(f"{name}: expected at least one sample, got an empty dataset")
        return decode_all(data)
    xs: list[Tensor] = []
    ys: list[Tensor] = []
    for xb, yb in DataLoader(data, batch_size=1000, shuffle=False, num_workers=0):
        if not isinstance(xb, Tensor):
            raise TypeError(
                f"{name}: expected a Dataset of (image tensor, label), got images of type "
                f"{type(xb).__name__}; give the dataset a ToTensor transform"
            )
        xs.append(compact_images(xb))
        ys.append(torch.as_tensor(yb))
    if not xs:
        raise ValueError(f"{name}: expected at least one sample, got an empty dataset")
    return torch.cat(xs), torch.cat(ys)


def as_tensors(data: Any, name: str, device: torch.device) -> tuple[Tensor, Tensor]:
    """``(images, labels)`` on ``device`` from an ``(x, y)`` pair or a Dataset.

    Args:
        data: ``(x, y)`` with ``x`` of shape ``(N, C, H, W)`` (``uint8`` 0..255 or float in
            [0, 1]) and integer labels ``(N,)``, or a ``Dataset`` of ``(image, label)``.
        name: Argument name for error messages.
        device: Where the tensors are kept.

    Returns:
        ``(x, y)``: images as ``uint8`` when they are 8-bit (else float32), labels int64.

    Raises:
        TypeError: unsupported data type or dtype.
        ValueError: wrong shapes, empty data or float values outside [0, 1].
    """
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data):
        x, y = data
    elif isinstance(data, Dataset):
        x, y = _from_dataset(data, name)
    else:
        raise TypeError(f"{name}: expected an (x, y) pair of tensors or a torch Dataset, got {type(data).__name__}")
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"{name}: expected images of shape (N, C, H, W) with N > 0, got {tuple(x.shape)}")
    if x.dtype != torch.uint8:
        if not x.is_floating_point():
            raise TypeError(f"{name}: expected uint8 (0..255) or float images in [0, 1], got {x.dtype}")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0 or hi > 1 or x.isnan().any():
            raise ValueError(
                f"{name}: expected float images in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
                "give un-normalised images (the model normalises)"
            )
        x = compact_images(x)
        x = x if x.dtype == torch.uint8 else x.float()
    check_labels(y, x.shape[0], f"{name} labels")
    return x.to(device), y.to(device=device, dtype=torch.long)
