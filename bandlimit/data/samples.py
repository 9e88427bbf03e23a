"""The small real-image samples shipped inside the package (``bandlimit/data/assets``).

``load_cifar10_sample()``: the first 600 official CIFAR-10 test images, lossless, with their
official test indices. ``load_imagenet_sample()``: 32 ImageNet images (one from every 31st
class) already resized to 256 and centre-cropped to 224, with standard labels 0..999.
``imagenet_classes()``: the 1000 wnids and category names in standard label order.
See ``assets/README.md`` for provenance and licence terms.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from bandlimit.data.base import TensorImageDataset

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

__all__ = [
    "assets_dir",
    "imagenet_classes",
    "load_cifar10_sample",
    "load_imagenet_sample",
    "sample_files",
]


def assets_dir() -> Traversable:
    """The package's asset folder (works from a wheel, a zip or a source checkout)."""
    return resources.files("bandlimit.data") / "assets"


def _read_json(name: str) -> Any:
    return json.loads((assets_dir() / name).read_text(encoding="utf-8"))


def sample_files() -> dict[str, int]:
    """Every shipped asset file (path relative to the asset folder) and its size in bytes."""
    sizes: dict[str, int] = {}
    stack: list[tuple[str, Traversable]] = [("", assets_dir())]
    while stack:
        prefix, folder = stack.pop()
        for item in folder.iterdir():
            if item.name == "__pycache__":
                continue
            if item.is_dir():
                stack.append((f"{prefix}{item.name}/", item))
            else:
                sizes[f"{prefix}{item.name}"] = len(item.read_bytes())
    return sizes


@lru_cache(maxsize=1)
def imagenet_classes() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The ImageNet-1k wnids (sorted, index = standard label) and their category names."""
    info = _read_json("imagenet_classes.json")
    return tuple(info["wnids"]), tuple(info["names"])


def load_cifar10_sample() -> TensorImageDataset:
    """The shipped CIFAR-10 sample: official test images 0..K-1 (K = 600), lossless.

    Returns:
        A ``TensorImageDataset`` of ``(3, 32, 32)`` images with ``indices`` = official test
        indices and the ten CIFAR-10 class names.
    """
    meta = _read_json("cifar10_sample.json")
    with (assets_dir() / meta["file"]).open("rb") as fh, Image.open(fh) as img:
        mosaic = np.asarray(img.convert("RGB"))
    count, cols = int(meta["count"]), int(meta["columns"])
    h, w = meta["image_size"]
    rows = -(-count // cols)
    if mosaic.shape != (rows * h, cols * w, 3):
        raise RuntimeError(
            f"corrupt package asset {meta['file']}: expected a {rows * h}x{cols * w} mosaic, "
            f"got {mosaic.shape[:2]}; reinstall bandlimit"
        )
    # Undo the row-major mosaic: (rows*h, cols*w, 3) -> (rows*cols, 3, h, w).
    tiles = mosaic.reshape(rows, h, cols, w, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, h, w)
    images = torch.from_numpy(np.ascontiguousarray(tiles[:count]))
    return TensorImageDataset(
        images,
        torch.tensor(meta["labels"], dtype=torch.int64),
        meta["classes"],
        indices=torch.tensor(meta["test_indices"], dtype=torch.int64),
    )


def load_imagenet_sample() -> TensorImageDataset:
    """The shipped ImageNet sample: 32 images, already resized 256 / centre-cropped 224.

    Returns:
        A ``TensorImageDataset`` of ``(3, 224, 224)`` images with standard labels 0..999,
        ``classes`` = the 1000 category names, ``class_ids`` = the wnids, ``indices`` = None
        (the source images carry no official validation index).
    """
    meta = _read_json("imagenet_sample.json")
    folder = assets_dir() / meta["directory"]
    images = []
    for entry in meta["images"]:
        with (folder / entry["file"]).open("rb") as fh, Image.open(fh) as img:
            images.append(torch.from_numpy(np.array(img.convert("RGB"))).permute(2, 0, 1))
    wnids, names = imagenet_classes()
    labels = [int(e["label"]) for e in meta["images"]]
    for entry in meta["images"]:
        if wnids[entry["label"]] != entry["wnid"]:
            raise RuntimeError(f"corrupt package asset imagenet_sample.json at {entry['file']}")
    return TensorImageDataset(torch.stack(images), torch.tensor(labels, dtype=torch.int64), names, class_ids=wnids)
