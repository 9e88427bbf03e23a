"""Datasets as un-normalised [0, 1] image tensors, shipped samples, and device-resident data.

Entry points:

- :func:`load_dataset` (``cifar10``, ``imagenet``, ``folder:PATH``, ``npz:PATH``,
  ``cifar10-sample``, ``imagenet-sample``): a Dataset of ``(float (C, H, W) in [0, 1], int)``
  with ``classes`` and official ``indices``.
- :func:`to_tensors` and :func:`iterate_batches`: a Dataset, a DataLoader or an ``(x, y)``
  pair as one tensor pair or as batches.
- :func:`load_tensor_dataset`: decode an image folder once into a uint8 tensor, cached on disk.
"""

from __future__ import annotations

from bandlimit.data.base import FolderImageDataset, TensorImageDataset, decode_rgb
from bandlimit.data.cache import decode_all, default_cache_dir, load_tensor_dataset
from bandlimit.data.datasets import (
    CIFAR10_CLASSES,
    default_data_root,
    list_datasets,
    load_dataset,
)
from bandlimit.data.samples import (
    imagenet_classes,
    load_cifar10_sample,
    load_imagenet_sample,
    sample_files,
)
from bandlimit.data.tensors import iterate_batches, to_tensors

__all__ = [
    "CIFAR10_CLASSES",
    "FolderImageDataset",
    "TensorImageDataset",
    "decode_all",
    "decode_rgb",
    "default_cache_dir",
    "default_data_root",
    "imagenet_classes",
    "iterate_batches",
    "list_datasets",
    "load_cifar10_sample",
    "load_dataset",
    "load_imagenet_sample",
    "load_tensor_dataset",
    "sample_files",
    "to_tensors",
]
