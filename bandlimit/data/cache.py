"""Decode an image folder once into one uint8 tensor and cache it as a ``.pt`` file.

Decoding the 50,000 CIFAR-10 training JPEGs takes seconds; training wants the whole set as
one tensor on the device. ``load_tensor_dataset`` decodes in parallel (DataLoader workers),
stores ``uint8 (N, C, H, W)`` + labels atomically under a key made of the source folder,
the split and the files' count, sizes and mtimes, and reloads that file on later calls.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from bandlimit._checks import check_positive_int
from bandlimit._io import atomic_write
from bandlimit.data.base import FolderImageDataset, TensorImageDataset
from bandlimit.data.datasets import load_dataset

__all__ = ["decode_all", "default_cache_dir", "load_tensor_dataset"]

logger = logging.getLogger(__name__)

_FORMAT = 1  # bump when the cached layout changes


def default_cache_dir() -> Path:
    """``$BANDLIMIT_CACHE`` or ``~/.cache/bandlimit/tensors``."""
    env = os.environ.get("BANDLIMIT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bandlimit" / "tensors"


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS / Windows
        return os.cpu_count() or 1


class _Decoder(Dataset):
    """Decodes images for DataLoader workers and stacks each batch in the worker.

    One stacked tensor per batch matters: sending 50,000 separate small tensors back from
    the workers (one shared-memory segment each) made two workers 5x slower than one process.
    """

    def __init__(self, dataset: FolderImageDataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int) -> tuple[int, torch.Tensor]:
        return i, self.dataset.read_uint8(i)

    def collate(self, items: list[tuple[int, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Stack a batch, refusing images whose size differs from the batch's first."""
        shape = items[0][1].shape
        for pos, img in items:
            if img.shape != shape:
                raise ValueError(
                    f"expected every image to be {tuple(shape)} (C, H, W), got {tuple(img.shape)} "
                    f"for {self.dataset.samples[pos][0]}; resize the folder first or use "
                    "load_dataset(...) with a transform instead of a tensor cache"
                )
        return torch.tensor([i for i, _ in items]), torch.stack([img for _, img in items])


def decode_all(
    dataset: FolderImageDataset, *, num_workers: int | None = None, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode every image of a folder dataset into uint8 ``(N, C, H, W)`` and int64 labels.

    Args:
        dataset: A ``FolderImageDataset`` whose images all have the same size.
        num_workers: Decoding processes; default one per available CPU (0 for small sets).
        batch_size: Images per worker task.

    Raises:
        ValueError: the images differ in size (name the first offender).
    """
    n = len(dataset)
    if n == 0:
        raise ValueError("dataset: expected at least one image, got an empty dataset")
    check_positive_int(batch_size, "batch_size")
    if num_workers is None:
        # Worker start-up (~0.2 s each) is not worth it for a few hundred images.
        num_workers = 0 if n < 2000 else min(_cpu_count(), 8)
    check_positive_int(num_workers, "num_workers", minimum=0)
    first = dataset.read_uint8(0)
    out = torch.empty((n, *first.shape), dtype=torch.uint8)
    decoder = _Decoder(dataset)
    loader = DataLoader(decoder, batch_size=batch_size, num_workers=num_workers, collate_fn=decoder.collate)
    for positions, images in loader:
        if images.shape[1:] != first.shape:
            raise ValueError(
                f"expected every image to be {tuple(first.shape)} (C, H, W) like the first, got "
                f"{tuple(images.shape[1:])} for {dataset.samples[int(positions[0])][0]}; resize the "
                "folder first or use load_dataset(...) with a transform instead of a tensor cache"
            )
        out[positions] = images
    return out, torch.tensor(dataset.targets, dtype=torch.int64)


def _cache_key(dataset: FolderImageDataset, split: str) -> dict[str, Any]:
    """What must match for a cache file to be reused: folder, split, decoder and file stats."""
    digest = hashlib.sha256()
    for path, label in dataset.samples:
        st = os.stat(path)
        digest.update(f"{path}\0{label}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return {
        "format": _FORMAT,
        "source": str(dataset.root.resolve()) if dataset.root is not None else "",
        "split": split,
        "decode": f"{dataset.decode.__module__}.{dataset.decode.__qualname__}",
        "count": len(dataset),
        "files": digest.hexdigest(),
    }


def _read_cache(path: Path, key: dict[str, Any]) -> TensorImageDataset | None:
    """The cached dataset if ``path`` exists and matches ``key``; None otherwise."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as err:
        logger.warning("ignoring unreadable tensor cache %s (%s); decoding again", path, err)
        return None
    if not isinstance(blob, dict) or blob.get("key") != key:
        logger.info("tensor cache %s is stale; decoding again", path)
        return None
    return TensorImageDataset(
        blob["images"],
        blob["targets"],
        blob["classes"],
        indices=blob["indices"],
        class_ids=blob["class_ids"],
    )


def load_tensor_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "train",
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    num_workers: int | None = None,
    refresh: bool = False,
) -> TensorImageDataset:
    """Load a dataset as one in-memory uint8 tensor, decoding image folders once and caching.

    Datasets that are already arrays (``cifar10``, ``npz:``, the samples) are returned as
    loaded. Image folders (``folder:PATH``, ``imagenet``) are decoded with ``num_workers``
    processes into uint8 ``(N, C, H, W)``, saved atomically to ``cache_dir`` and reloaded from
    there while the folder's files (names, sizes, mtimes), the split and the decoder are
    unchanged. Note that a cached ImageNet validation set is about 7.5 GB.

    Args:
        name: Dataset name, as for :func:`bandlimit.data.load_dataset`.
        root: Data folder, as for ``load_dataset``.
        split: Split (default "train"), as for ``load_dataset``.
        cache_dir: Folder for cache files; default ``$BANDLIMIT_CACHE`` or
            ``~/.cache/bandlimit/tensors``.
        num_workers: Decoding processes (default: one per available CPU).
        refresh: Decode again even if a matching cache file exists.

    Returns:
        A ``TensorImageDataset`` (``.tensors()`` gives the uint8 images and labels).

    Raises:
        ValueError: as ``load_dataset``, or images of different sizes in the folder.
        FileNotFoundError: the data is missing.
    """
    dataset = load_dataset(name, root, split)
    if isinstance(dataset, TensorImageDataset):
        return dataset
    key = _cache_key(dataset, split)
    tag = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    source = dataset.root if dataset.root is not None else Path("data")
    # A split folder (".../cifar10-jpeg/train") is named after its parent.
    stem = source.parent.name if source.name in ("train", "test", "val") else source.name
    path = folder / f"{stem}-{split}-{tag}.pt"
    if not refresh:
        cached = _read_cache(path, key)
        if cached is not None:
            logger.debug("loaded %d images from tensor cache %s", len(cached), path)
            return cached
    images, targets = decode_all(dataset, num_workers=num_workers)
    blob = {
        "key": key,
        "images": images,
        "targets": targets,
        "classes": dataset.classes,
        "class_ids": dataset.class_ids,
        "indices": dataset.indices,
    }
    # Atomic (a crash leaves no half-written cache) but not fsynced: a cache damaged by a power
    # cut is detected on reading and decoded again, and a 7.5 GB blob is not copied in memory.
    atomic_write(path, lambda tmp: torch.save(blob, tmp))
    logger.info("decoded %d images from %s; cached at %s", len(images), dataset.root, path)
    return TensorImageDataset(images, targets, dataset.classes, indices=dataset.indices, class_ids=dataset.class_ids)
