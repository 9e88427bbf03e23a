"""Shared helpers for the tests of bandlimit.data (test_data_*.py): random images, image folders, checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image


def _rand_images(n: int, h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, channels), dtype=np.uint8)


def _write_folder(root: Path, per_class: dict[str, np.ndarray], suffix: str = ".png") -> None:
    for cls, images in per_class.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k, img in enumerate(images):
            Image.fromarray(img).save(root / cls / f"{k:04d}{suffix}")


def _check_item(image: torch.Tensor, label: int, shape: tuple[int, ...]) -> None:
    assert image.dtype == torch.float32
    assert tuple(image.shape) == shape
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert isinstance(label, int)


def _as_uint8_chw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2)
