"""Batches and whole datasets as tensors: ``to_tensors``, ``iterate_batches``, ``GPUTensorDataset``.

``GPUTensorDataset`` keeps uint8 storage on the device and converts to float [0, 1] per batch.

``data`` arguments everywhere accept a ``Dataset`` of ``(image, label)``, a ``DataLoader``
yielding ``(x, y)`` batches, or an ``(x, y)`` pair of tensors (``x`` float in [0, 1] or uint8).
In-memory datasets are sliced directly (uint8 moved to the device, then converted), never
image by image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from bandlimit._checks import check_images, check_labels, check_positive_int
from bandlimit.data.base import FolderImageDataset, TensorImageDataset

__all__ = ["GPUTensorDataset", "iterate_batches", "load_to_device", "to_tensors"]


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _as_float(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 -> [0, 1] in ``dtype``; floating tensors are cast only."""
    if x.dtype == torch.uint8:
        return x.to(dtype).div_(255.0)
    return x.to(dtype)


class GPUTensorDataset(Dataset):
    """A whole dataset kept on one device as uint8 (4x smaller than float32).

    Slicing converts to floating point in [0, 1] batch by batch, on the device, so the
    training loop never waits on a CPU loader (the airbench recipe).

    Args:
        images: ``(N, C, H, W)`` uint8 (0..255) or floating (already in [0, 1]).
        targets: ``(N,)`` integer labels.
        device: Where to keep the data; default CUDA when present, else CPU.
        classes: Class names (optional).
        indices: Official sample indices (optional).
        dtype: Floating dtype of the batches (float32, or float16/bfloat16 for fast training).
        channels_last: Store the images in channels-last memory format (faster convolutions).
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        *,
        device: torch.device | str | None = None,
        classes: list[str] | None = None,
        indices: torch.Tensor | None = None,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dim() != 4:
            got = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ValueError(f"images: expected a tensor (N, C, H, W), got {got}")
        if images.dtype != torch.uint8:
            check_images(images, "images")
        check_labels(torch.as_tensor(targets), images.shape[0], "targets")
        if not dtype.is_floating_point:
            raise TypeError(f"dtype: expected a floating dtype (e.g. torch.float16), got {dtype}")
        self.device = torch.device(device) if device is not None else _default_device()
        memory = torch.channels_last if channels_last else torch.contiguous_format
        self.images = images.to(self.device).contiguous(memory_format=memory)
        self.targets = torch.as_tensor(targets).to(self.device, torch.int64)
        self.classes = list(classes) if classes is not None else None
        self.indices = indices
        self.dtype = dtype

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return _as_float(self.images[i], self.dtype), int(self.targets[i])

    def batch(self, index: torch.Tensor | slice) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (float ``dtype`` in [0, 1]) and labels at ``index`` (a slice or index tensor)."""
        if isinstance(index, torch.Tensor):
            index = index.to(self.device)
        return _as_float(self.images[index], self.dtype), self.targets[index]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The stored images (uint8 or float) and int64 labels, on the device (no copy)."""
        return self.images, self.targets

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(x, y)`` batches in order, or shuffled with ``generator``.

        Args:
            batch_size: Images per batch.
            shuffle: Draw a random permutation (from ``generator``) first.
            generator: Source of the permutation (its device is used to draw it).
            drop_last: Skip a final incomplete batch.
        """
        check_positive_int(batch_size, "batch_size")
        n = len(self)
        order: torch.Tensor | None = None
        if shuffle:
            where = generator.device if generator is not None else self.device
            order = torch.randperm(n, generator=generator, device=where).to(self.device)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            end = min(start + batch_size, n)
            yield self.batch(order[start:end] if order is not None else slice(start, end))

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        return f"GPUTensorDataset({len(self)} images {shape} {self.images.dtype} on {self.device})"


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
    if isinstance(data, GPUTensorDataset):
        return data.tensors()
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
        dtype = data.dtype if isinstance(data, GPUTensorDataset) else torch.float32
        for start in range(0, images.shape[0], batch_size):
            x = images[start : start + batch_size]
            y = labels[start : start + batch_size]
            if target is not None:  # move uint8 before converting: 4x less to copy
                x, y = x.to(target, non_blocking=True), y.to(target, non_blocking=True)
            yield _as_float(x, dtype), y.to(torch.int64)
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
            yield _as_float(x), y.to(torch.int64)


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


def load_to_device(
    data: Any,
    device: torch.device | str | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    cache_dir: str | os.PathLike[str] | None = None,
    dtype: torch.dtype = torch.float32,
    channels_last: bool = False,
) -> GPUTensorDataset:
    """Put a whole dataset on ``device`` as one uint8 tensor (a ``GPUTensorDataset``).

    Args:
        data: A dataset name (decoded once and cached by ``load_tensor_dataset``), a
            ``TensorImageDataset``, a ``FolderImageDataset`` (decoded now, not cached) or an
            ``(x, y)`` pair (uint8 kept as uint8, float kept as float).
        device: Target device; default CUDA when present, else CPU.
        root: For a dataset name: its data folder, as in ``load_dataset``.
        split: For a dataset name: the split (default "train").
        cache_dir: For a dataset name: the tensor cache folder (see ``load_tensor_dataset``).
        dtype: Floating dtype of the batches.
        channels_last: Store channels-last.

    Raises:
        ValueError: a dataset with a per-item ``transform`` (augment on the device instead).
    """
    from bandlimit.data.cache import decode_all, load_tensor_dataset  # cache imports datasets

    classes: list[str] | None = None
    indices: torch.Tensor | None = None
    if isinstance(data, str):
        data = load_tensor_dataset(data, root, split, cache_dir=cache_dir)
    if isinstance(data, (TensorImageDataset, FolderImageDataset)):
        if data.transform is not None:
            raise ValueError(
                "data: expected a dataset without a per-item transform (load_to_device keeps raw "
                "pixels; augment batches on the device instead), got transform="
                f"{data.transform!r}"
            )
        classes, indices = data.classes, data.indices
        if isinstance(data, FolderImageDataset):
            images, targets = decode_all(data)
        else:
            images, targets = data.tensors()
    else:
        pair = _pair(data)
        if pair is None:
            raise TypeError(
                "data: expected a dataset name, a TensorImageDataset, a FolderImageDataset or an "
                f"(x, y) pair of tensors, got {type(data).__name__}"
            )
        images, targets = pair
    return GPUTensorDataset(
        images,
        targets,
        device=device,
        classes=classes,
        indices=indices,
        dtype=dtype,
        channels_last=channels_last,
    )
