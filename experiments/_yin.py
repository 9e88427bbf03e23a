"""Glue shared by the two Yin et al. 2019 scripts: per-image heat maps and bootstrap measures.

The verdicts of the heat-map rows need an interval over *images*, the independent unit (every
cell of a map reuses the same images). :func:`bandlimit.evaluation.fourier_heatmap` returns
only the pooled map, so :func:`image_heatmaps` calls it once per image and stacks the maps;
their mean is the pooled map, and each image's mean error over a ring of cells is the value
the bootstrap resamples (:func:`boot`, :func:`paired`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import torch
from _verdicts import Measure, mean_of
from torch import Tensor, nn

from bandlimit.evaluation import fourier_heatmap

#: Perturbed images per forward pass on an accelerator (one image x all its cells); the CPU
#: keeps the library's own default, which is fastest there. It never changes the result.
ACCELERATOR_PASS = 1024


def image_heatmaps(
    model: nn.Module, x: Tensor, y: Tensor, *, norm: float, cells: Any, seed: int
) -> tuple[Tensor, Tensor]:
    """Yin et al.'s heat map of every image separately.

    Image ``i`` gets the noise signs of seed ``seed + i``, whatever the model, so that models
    are compared on the same images *and* the same noise.

    Args:
        model: The classifier (eval mode, on the images' device).
        x: Images ``(N, C, H, W)`` in [0, 1].
        y: Labels ``(N,)``.
        norm: L2 norm ``v`` of the Fourier noise per channel.
        cells: ``cells`` of :func:`~bandlimit.evaluation.fourier_heatmap` (None: every cell).
        seed: Seed of the first image's signs.

    Returns:
        ``(maps, clean)``: ``(N, H, W)`` float64 maps holding 1 where the noisy image is
        misclassified, 0 where not, NaN at cells not evaluated; and ``(N,)`` float64 clean
        correctness (1 or 0).
    """
    pass_size = None if x.device.type == "cpu" else ACCELERATOR_PASS
    maps, clean = [], []
    for i in range(len(x)):
        res = fourier_heatmap(
            model,
            (x[i : i + 1], y[i : i + 1]),
            norm=norm,
            cells=cells,
            batch_size=1,
            pass_size=pass_size,
            seed=seed + i,
        )
        maps.append(res.error)
        clean.append(res.clean_accuracy)
    return torch.stack(maps), torch.tensor(clean, dtype=torch.float64)


@torch.no_grad()
def correct_mask(model: nn.Module, x: Tensor, y: Tensor, batch_size: int = 256) -> Tensor:
    """Which images ``model`` classifies correctly."""
    return torch.cat(
        [model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size] for i in range(0, len(x), batch_size)]
    )


def chebyshev_radius(h: int, w: int) -> Tensor:
    """``max(|i - h//2|, |j - w//2|)`` of every centred cell: the square rings of the heat map."""
    i = (torch.arange(h) - h // 2).abs()[:, None]
    j = (torch.arange(w) - w // 2).abs()[None, :]
    return torch.maximum(i, j).expand(h, w)


def ring_means(maps: Tensor, mask: Tensor) -> Tensor:
    """Each image's mean over the evaluated cells of ``mask`` (``maps``: ``(N, H, W)``) -> ``(N,)``."""
    return maps[:, mask].nanmean(dim=1)


def boot(values: Tensor | Sequence[float], kind: str = "rate") -> Measure:
    """Mean of per-image values with its 95 % bootstrap interval (:func:`mean_of`), printed as ``kind``.

    NaN (no interval) when a value is missing, e.g. a ring with no evaluated cell.
    """
    vals = torch.as_tensor(values, dtype=torch.float64).flatten()
    if vals.numel() == 0 or not bool(torch.isfinite(vals).all()):
        return Measure(math.nan, math.nan, math.nan, int(vals.numel()), kind)
    return dataclasses.replace(mean_of(vals.tolist()), kind=kind)


def paired(a: Tensor, b: Tensor) -> Measure:
    """Mean of ``a - b`` over the same images, with its bootstrap interval (kind ``"diff"``)."""
    return boot(a - b, "diff")


def measure(d: dict[str, Any]) -> Measure:
    """A :class:`Measure` back from its ``as_dict()`` (rows are built from results.json's numbers)."""
    return Measure(**d)
