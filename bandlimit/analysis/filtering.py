"""Xu et al.'s (2019) filtering method: the frequency principle on high-dimensional data.

With squared distances ``D_ij`` between the training inputs, ``K^delta = softmax(-D / (2 delta))``
row-wise (Xu et al.'s row-normalised Gaussian ``exp(-|x_i - x_j|^2 / (2 delta))``),
``y_low = K y``, ``y_high = y - y_low``, and ``e_low = |h_low - y_low|_F / |y_low|_F``
(likewise ``e_high``). :class:`FilteringProbe` precomputes the kernels so that tracking the
errors during training costs one matmul per ``delta``; the training loop that records them,
:func:`bandlimit.analysis.train_with_filtering`, lives in :mod:`bandlimit.analysis.spectral_bias`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from bandlimit._checks import check_positive, check_tensor_rank

__all__ = [
    "FilteringProbe",
    "filtered_errors",
    "gaussian_filter_matrix",
    "low_high_split",
    "nearest_neighbor_sq_distances",
    "pairwise_sq_distances",
]


def pairwise_sq_distances(x: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances ``|x_i - x_j|^2`` between the rows of ``x`` (flattened).

    Computed in float64 through ``|a|^2 + |b|^2 - 2 a.b`` (clamped at 0, exact zero diagonal)
    so that float32 cancellation cannot create fake near-duplicates.

    Args:
        x: Floating tensor ``(N, ...)``; each sample is flattened.

    Returns:
        Float64 tensor ``(N, N)``.
    """
    check_tensor_rank(x, "x", min_rank=2)
    flat = x.reshape(x.shape[0], -1).double()
    sq = flat.square().sum(dim=1)
    dist = (sq[:, None] + sq[None, :] - 2.0 * flat @ flat.T).clamp_min(0.0)
    dist.fill_diagonal_(0.0)
    return dist


def nearest_neighbor_sq_distances(sq_dist: torch.Tensor) -> torch.Tensor:
    """Each sample's squared distance to its nearest other sample, from :func:`pairwise_sq_distances`."""
    _check_square(sq_dist, "sq_dist")
    if sq_dist.shape[0] < 2:
        raise ValueError(f"sq_dist: expected at least 2 samples, got {sq_dist.shape[0]}")
    eye = torch.eye(sq_dist.shape[0], dtype=torch.bool, device=sq_dist.device)
    return sq_dist.masked_fill(eye, math.inf).min(dim=1).values


def gaussian_filter_matrix(sq_dist: torch.Tensor, delta: float) -> torch.Tensor:
    """Row-normalised Gaussian kernel ``K_ij = G_ij / sum_j G_ij``, ``G = exp(-D / (2 delta))``.

    Computed as a row-wise softmax of ``-D / (2 delta)``: the same matrix, but without the
    underflow to 0/0 that the plain exponential hits when ``delta`` is small next to the
    distances (CIFAR-10 squared distances are in the tens to hundreds).

    Args:
        sq_dist: Squared distances ``(N, N)`` with a zero diagonal.
        delta: Kernel variance ``delta > 0`` (same units as ``sq_dist``).

    Returns:
        ``(N, N)`` row-stochastic matrix of ``sq_dist``'s dtype.
    """
    _check_square(sq_dist, "sq_dist")
    delta = check_positive(delta, "delta")
    return torch.softmax(-sq_dist / (2.0 * delta), dim=1)


def low_high_split(kernel: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(y_low, y_high) = (K y, y - K y)``; ``y`` is ``(N, ...)``, flattened per sample."""
    _check_square(kernel, "kernel")
    check_tensor_rank(y, "y", min_rank=1)
    if y.shape[0] != kernel.shape[0]:
        raise ValueError(f"y: expected {kernel.shape[0]} rows to match the kernel, got shape {tuple(y.shape)}")
    flat = y.reshape(y.shape[0], -1).to(kernel.dtype)
    low = (kernel @ flat).reshape(y.shape)
    return low, y.to(kernel.dtype) - low


def filtered_errors(kernel: torch.Tensor, h: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """Xu et al.'s ``(e_low, e_high)``: relative Frobenius errors of the filtered outputs.

    ``e_low = |K h - K y|_F / |K y|_F`` and ``e_high = |(h - K h) - (y - K y)|_F /
    |y - K y|_F``. Both are 0 when ``h == y``.

    Raises:
        ValueError: shapes differ, or a filtered target is identically zero (choose another
            ``delta``: ``y_high`` vanishes as ``delta -> 0``).
    """
    if h.shape != y.shape:
        raise ValueError(f"h: expected the shape of y {tuple(y.shape)}, got {tuple(h.shape)}")
    y_low, y_high = low_high_split(kernel, y)
    h_low, h_high = low_high_split(kernel, h)
    return _relative(h_low, y_low, "y_low"), _relative(h_high, y_high, "y_high")


def _relative(a: torch.Tensor, b: torch.Tensor, name: str) -> float:
    num, den = torch.stack([(a - b).norm(), b.norm()]).tolist()
    if not den > 0:
        raise ValueError(f"{name}: expected a non-zero filtered target, got all zeros; change delta")
    return num / den


def _check_square(m: torch.Tensor, name: str) -> None:
    check_tensor_rank(m, name, min_rank=2)
    if m.dim() != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"{name}: expected a square (N, N) matrix, got shape {tuple(m.shape)}")


class FilteringProbe:
    """Precomputed kernels ``K^delta`` of a fixed training subset, for tracking during training.

    Args:
        x: Training inputs ``(N, ...)`` (images in [0, 1]; flattened per sample).
        y: Targets ``(N, classes)`` (one-hot for Xu et al.'s classification runs).
        deltas: Kernel variances, in the units of the squared distances of ``x``.
        dtype: Dtype of the stored kernels (float32 halves the memory of ``len(deltas) N^2``).
        sq_dist: Precomputed :func:`pairwise_sq_distances` of ``x`` (computed when None).
    """

    def __init__(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        deltas: Sequence[float],
        *,
        dtype: torch.dtype = torch.float32,
        sq_dist: torch.Tensor | None = None,
    ) -> None:
        if len(deltas) == 0:
            raise ValueError("deltas: expected at least one kernel variance, got an empty sequence")
        self.deltas = tuple(check_positive(d, "deltas") for d in deltas)
        if sq_dist is None:
            sq_dist = pairwise_sq_distances(x)
        elif sq_dist.shape != (x.shape[0], x.shape[0]):
            raise ValueError(f"sq_dist: expected shape {(x.shape[0], x.shape[0])}, got {tuple(sq_dist.shape)}")
        self.nn_sq_distances = nearest_neighbor_sq_distances(sq_dist)
        kernels = [gaussian_filter_matrix(sq_dist, d).to(dtype) for d in self.deltas]
        self.kernels = torch.stack(kernels)
        #: Mean diagonal weight K_ii per delta: 1 means no smoothing, 1/N means the global mean.
        self.self_weight = self.kernels.diagonal(dim1=1, dim2=2).mean(dim=1).double()
        self.y = y.to(dtype)
        self.y_low = self.kernels @ self.y  # (m, N, classes)
        self.y_high = self.y - self.y_low

    def errors(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(e_low, e_high)``, each a float64 CPU tensor ``(len(deltas),)``, for outputs ``h``.

        ``h`` may live on another device than the probe (a network trained on a GPU beside N x N
        kernels kept on the CPU): it is moved to the kernels, and the errors come back on the CPU.
        """
        if h.shape != self.y.shape:
            raise ValueError(f"h: expected shape {tuple(self.y.shape)} like the targets, got {tuple(h.shape)}")
        h = h.detach().to(device=self.kernels.device, dtype=self.kernels.dtype)
        h_low = self.kernels @ h
        h_high = h - h_low
        e_low = (h_low - self.y_low).norm(dim=(1, 2)) / self.y_low.norm(dim=(1, 2))
        e_high = (h_high - self.y_high).norm(dim=(1, 2)) / self.y_high.norm(dim=(1, 2))
        return e_low.double().cpu(), e_high.double().cpu()
