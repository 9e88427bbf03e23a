"""Shared helpers for the tests of bandlimit.spectral (test_spectral_*.py): grid sizes and test signals."""

from __future__ import annotations

import math

import torch

SIZES = [(8, 8), (5, 5), (6, 7), (7, 4)]
LEADING = [(), (3,), (2, 3)]


def _rand(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


def _cosine(h: int, w: int, kh: int, kw: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    u = torch.arange(h, dtype=dtype).view(-1, 1)
    v = torch.arange(w, dtype=dtype).view(1, -1)
    return torch.cos(2 * math.pi * (kh * u / h + kw * v / w))
