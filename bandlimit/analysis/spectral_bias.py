"""Spectral bias (Rahaman et al. 2019) and the frequency principle (Xu et al. 2019).

Two groups of tools, each small and tested on analytic cases:

* **1-D targets and their spectra.** :func:`sinusoid_target` builds
  ``lambda(z) = sum_i A_i sin(2 pi k_i z + phi_i)`` on the grid :func:`uniform_grid`
  (``z = j / n`` in [0, 1), so DFT bin ``k`` is frequency ``k``); :func:`fourier_amplitudes`
  reads ``2 |DFT_k| / n``, which returns ``A_i`` exactly at ``k_i`` for such a target.
* **Frequency-principle error on 1-D data.** :func:`dft_peaks` finds the peaks of
  ``|F[y]|``; :func:`frequency_relative_error` is Xu et al.'s ``Delta_F(k)``, in the released
  code's magnitude form ``| |F[h]_k| - |F[y]_k| | / (|F[y]_k| + eps)`` or in the complex form
  ``|F[h]_k - F[y]_k| / (|F[y]_k| + eps)`` of the paper's text (as we read it).

Xu et al.'s filtering method for high-dimensional data lives in :mod:`bandlimit.analysis.filtering`;
the models of the two papers and the training loops that record these quantities live in
:mod:`bandlimit.analysis.fitting`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from bandlimit._checks import check_choice, check_nonnegative, check_positive_int, check_tensor_rank

__all__ = [
    "dft_peaks",
    "fourier_amplitudes",
    "frequency_relative_error",
    "random_phases",
    "sinusoid_target",
    "uniform_grid",
]

_ERROR_KINDS = ("magnitude", "complex")


# --------------------------------------------------------------------------- 1-D targets


def uniform_grid(n: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ``n`` evenly spaced points ``z_j = j / n`` of [0, 1) (Rahaman et al.'s grid).

    On this grid DFT bin ``k`` of a sampled function is the frequency ``k`` (cycles per unit).
    """
    n = check_positive_int(n, "n", minimum=2)
    return torch.arange(n, dtype=dtype) / n


def random_phases(
    count: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``count`` phases drawn uniformly from [0, 2 pi) with ``generator``."""
    count = check_positive_int(count, "count")
    return torch.rand(count, generator=generator, dtype=dtype) * (2 * math.pi)


def sinusoid_target(
    z: torch.Tensor,
    frequencies: Sequence[float] | torch.Tensor,
    amplitudes: Sequence[float] | torch.Tensor,
    phases: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """``lambda(z) = sum_i A_i sin(2 pi k_i z + phi_i)`` evaluated at the points ``z``.

    Args:
        z: Floating tensor ``(n,)`` of sample points.
        frequencies: ``k_i``, shape ``(m,)``.
        amplitudes: ``A_i``, shape ``(m,)``.
        phases: ``phi_i``, shape ``(m,)``; default all zero.

    Returns:
        Tensor ``(n,)`` of ``z``'s dtype.

    Raises:
        TypeError: ``z`` is not a floating tensor.
        ValueError: ``z`` is not 1-D or the three sequences differ in length.
    """
    check_tensor_rank(z, "z", min_rank=1)
    if z.dim() != 1:
        raise ValueError(f"z: expected a 1-D tensor of sample points, got shape {tuple(z.shape)}")
    k = torch.as_tensor(frequencies, dtype=z.dtype, device=z.device).reshape(-1)
    a = torch.as_tensor(amplitudes, dtype=z.dtype, device=z.device).reshape(-1)
    phi = torch.zeros_like(k) if phases is None else torch.as_tensor(phases, dtype=z.dtype, device=z.device)
    phi = phi.reshape(-1)
    if not k.numel() == a.numel() == phi.numel():
        raise ValueError(
            f"frequencies, amplitudes, phases: expected the same length, got {k.numel()}, {a.numel()}, {phi.numel()}"
        )
    return (a * torch.sin(2 * math.pi * z[:, None] * k + phi)).sum(dim=1)


def fourier_amplitudes(values: torch.Tensor, frequencies: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """One-sided DFT amplitudes ``2 |DFT(values)_k| / n`` at integer frequencies ``k``.

    For values sampled on :func:`uniform_grid` this returns ``A`` for a component
    ``A sin(2 pi k z + phi)`` with ``0 < k < n / 2`` (Rahaman et al. then divide by ``A_i``
    to get the normalised ``|f~(k_i)| / A_i``).

    Args:
        values: Real tensor ``(..., n)`` sampled on the uniform grid of [0, 1).
        frequencies: Integer frequencies, each in ``(0, n / 2)``.

    Returns:
        Tensor ``(..., m)`` of ``values``' real dtype.

    Raises:
        ValueError: a frequency is not an integer in ``(0, n / 2)``.
    """
    check_tensor_rank(values, "values", min_rank=1)
    n = values.shape[-1]
    k = torch.as_tensor(frequencies).reshape(-1)
    if k.is_floating_point():
        if not torch.equal(k, k.round()):
            raise ValueError(f"frequencies: expected integers (DFT bins), got {k.tolist()}")
        k = k.long()
    if k.numel() == 0 or int(k.min()) <= 0 or 2 * int(k.max()) >= n:
        raise ValueError(
            f"frequencies: expected integers in (0, {n / 2:g}) for {n} samples (0 and Nyquist have "
            f"a different scale), got {k.tolist()}"
        )
    spectrum = torch.fft.rfft(values, dim=-1)
    return 2.0 * spectrum[..., k.to(values.device)].abs() / n


# --------------------------------------------------------------------------- F-principle, 1-D


def dft_peaks(y: torch.Tensor, *, min_height: float = 0.1) -> torch.Tensor:
    """Indices of the peaks of the one-sided DFT magnitude ``|rfft(y)|``.

    A peak is an interior bin strictly larger than both neighbours (Xu et al.'s code selects
    local maxima the same way) whose height is at least ``min_height`` times the tallest
    peak; the threshold drops the small side lobes that spectral leakage creates when the
    target's frequencies are not DFT bins.

    Args:
        y: Real 1-D tensor (the target sampled on an evenly spaced grid).
        min_height: Relative height threshold in [0, 1].

    Returns:
        Sorted ``LongTensor`` of bin indices (possibly empty).
    """
    check_tensor_rank(y, "y", min_rank=1)
    if y.dim() != 1:
        raise ValueError(f"y: expected a 1-D tensor, got shape {tuple(y.shape)}")
    min_height = check_nonnegative(min_height, "min_height")
    mag = torch.fft.rfft(y).abs()
    if mag.numel() < 3:
        return torch.zeros(0, dtype=torch.long)
    inner = mag[1:-1]
    is_peak = (inner > mag[:-2]) & (inner > mag[2:])
    idx = torch.nonzero(is_peak).flatten() + 1
    if idx.numel() == 0:
        return idx
    keep = mag[idx] >= min_height * mag[idx].max()
    return idx[keep]


def frequency_relative_error(
    h: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, *, kind: str = "magnitude", eps: float = 1e-5
) -> torch.Tensor:
    """Xu et al.'s per-frequency relative error ``Delta_F(k)`` at DFT bins ``indices``.

    ``kind="magnitude"`` (the released code): ``| |F[h]_k| - |F[y]_k| | / (|F[y]_k| + eps)``.
    ``kind="complex"`` (the paper's definition as we read it): ``|F[h]_k - F[y]_k| /
    (|F[y]_k| + eps)``; it also counts phase errors, so it is never below the magnitude form.

    Args:
        h: Network outputs ``(..., n)`` on the same grid as ``y``.
        y: Target ``(n,)``.
        indices: Bins of the one-sided DFT (e.g. :func:`dft_peaks` of ``y``).
        kind: ``"magnitude"`` or ``"complex"``.
        eps: Added to the denominator, as in the code.

    Returns:
        Tensor ``(..., len(indices))``.
    """
    check_choice(kind, "kind", _ERROR_KINDS)
    check_tensor_rank(h, "h", min_rank=1)
    check_tensor_rank(y, "y", min_rank=1)
    if h.shape[-1] != y.shape[-1]:
        raise ValueError(f"h: expected {y.shape[-1]} samples per output to match y, got shape {tuple(h.shape)}")
    eps = check_nonnegative(eps, "eps")
    fh = torch.fft.rfft(h, dim=-1)[..., indices]
    fy = torch.fft.rfft(y, dim=-1)[..., indices]
    num = (fh.abs() - fy.abs()).abs() if kind == "magnitude" else (fh - fy).abs()
    return num / (fy.abs() + eps)
