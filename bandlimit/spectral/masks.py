"""Frequency masks and the filters built on them.

Conventions. Masks are **centred** ``(h, w)`` tensors (DC at ``(h // 2, w // 2)``) with
1 = keep. A centred index ``i`` stands for the integer frequency ``k = i - h // 2``; every
mask depends on ``|k_h|`` and ``|k_w|`` only, so it is conjugate-symmetric and a filtered real
image stays real.

Low-pass shapes (:func:`frequency_mask`), given a ``bandwidth`` B or a ``radius`` r (one of
the two; ``r = B / 2``):

* ``"square"`` (Yin et al. 2019): keep ``|k_h| <= B/2`` and ``|k_w| <= B/2``. For odd B this
  is exactly the centred B x B block of the shifted spectrum. A symmetric block always has an
  odd side, so for even B it is the centred (B+1) x (B+1) block (both boundary frequencies
  ``+-B/2`` kept); ``B >= max(h, w)`` keeps everything, Nyquist bins included.
* ``"disc"`` (Wang et al. 2020): keep the Euclidean distance ``sqrt(k_h^2 + k_w^2) < r``
  (strict, as in their released code).
* ``"gaussian"``: ``exp(-d^2 / (2 r^2))`` (r is the standard deviation, in frequency bins).
* ``"butterworth"``: ``1 / (1 + (d / r)^(2 * order))`` (r is the half-power cutoff).

High-pass filtering is always ``x - lowpass(x)``, i.e. the mask ``1 - m``, so
``lowpass(x) + highpass(x) == x`` for every shape.

Band masks for band-limited attacks (:func:`dct_band_mask`, :func:`fourier_band_mask`) use a
frequency normalised to the Nyquist frequency (1.0 = 0.5 cycles per pixel) on both
transforms, so the same ``low`` / ``high`` thresholds describe the same physical bands.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bandlimit._checks import (
    check_choice,
    check_finite_number,
    check_positive,
    check_positive_int,
)
from bandlimit.spectral.transforms import check_spatial, fft2c, frozen_cache, ifft2c

__all__ = [
    "apply_frequency_mask",
    "dct_band_mask",
    "fourier_band_mask",
    "frequency_mask",
    "frequency_split",
    "highpass",
    "lowpass",
]

SHAPES = ("square", "disc", "gaussian", "butterworth")
BANDS = ("low", "mid", "high", "all")


def _centred_freqs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frequencies ``(h, 1)`` and ``(1, w)`` of the centred grid, in float64."""
    kh = (torch.arange(h, dtype=torch.float64) - h // 2).view(-1, 1)
    kw = (torch.arange(w, dtype=torch.float64) - w // 2).view(1, -1)
    return kh, kw


@frozen_cache
def _lowpass_mask(
    h: int, w: int, shape: str, radius: float, order: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    kh, kw = _centred_freqs(h, w)
    if shape == "square":
        mask = ((kh.abs() <= radius) & (kw.abs() <= radius)).double()
    else:
        dist = torch.sqrt(kh**2 + kw**2)
        if shape == "disc":
            mask = (dist < radius).double()
        elif shape == "gaussian":
            mask = torch.exp(-(dist**2) / (2.0 * radius**2))
        else:
            mask = 1.0 / (1.0 + (dist / radius) ** (2 * order))
    return mask.to(dtype=dtype, device=device)


@frozen_cache
def _lowpass_half(
    h: int, w: int, shape: str, radius: float, order: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    # The mask laid out for rfft2: un-centred, then only the non-negative last-axis
    # frequencies. Valid because the mask is conjugate-symmetric (depends on |k| only).
    mask = _lowpass_mask(h, w, shape, radius, order, dtype, device)
    return torch.fft.ifftshift(mask, dim=(-2, -1))[:, : w // 2 + 1].contiguous()


def _resolve_radius(h: int, w: int, shape: str, bandwidth: Any, radius: Any, order: Any) -> tuple[str, float, int]:
    shape = check_choice(shape, "shape", SHAPES)
    order = check_positive_int(order, "order")
    if (bandwidth is None) == (radius is None):
        raise ValueError(
            "expected exactly one of bandwidth=B (side of the kept centred square) or "
            f"radius=r (= B/2), got bandwidth={bandwidth!r}, radius={radius!r}"
        )
    limit = max(h, w)
    if bandwidth is not None:
        bandwidth = check_positive(bandwidth, "bandwidth")
        if bandwidth > limit:
            raise ValueError(
                f"bandwidth: expected a value in (0, {limit}] for a {h}x{w} image "
                f"(B = {limit} keeps every frequency), got {bandwidth:g}"
            )
        return shape, bandwidth / 2.0, order
    radius = check_positive(radius, "radius")
    # Largest distance of any bin to the centre: a bigger radius is a no-op, likely a typo.
    max_radius = math.hypot(h // 2, w // 2) + 1.0
    if radius > max_radius and shape in ("square", "disc"):
        raise ValueError(f"radius: expected a value in (0, {max_radius:g}] for a {h}x{w} image, got {radius:g}")
    return shape, radius, order


def frequency_mask(
    h: int,
    w: int,
    *,
    shape: str = "square",
    bandwidth: float | None = None,
    radius: float | None = None,
    order: int = 2,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Centred low-pass mask ``(h, w)`` (1 = keep), conjugate-symmetric.

    See the module docstring for the exact definition of each shape. Give exactly one of
    ``bandwidth`` (B) and ``radius`` (r = B / 2).

    Args:
        h: Image height.
        w: Image width.
        shape: ``"square"``, ``"disc"``, ``"gaussian"`` or ``"butterworth"``.
        bandwidth: Side B of the kept centred square, in ``(0, max(h, w)]``.
        radius: Radius r in frequency bins (> 0).
        order: Butterworth order (ignored by other shapes).
        dtype: Floating dtype (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Float tensor ``(h, w)`` with values in [0, 1]. A fresh tensor (the cached original is not exposed).

    Raises:
        TypeError: a size, bandwidth, radius or order has the wrong type.
        ValueError: unknown shape, both or neither of bandwidth/radius, or out of range.

    Example:
        >>> int(frequency_mask(32, 32, bandwidth=7).sum())
        49
    """
    h, w = check_positive_int(h, "h"), check_positive_int(w, "w")
    shape, r, order = _resolve_radius(h, w, shape, bandwidth, radius, order)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    device = torch.device("cpu") if device is None else torch.device(device)
    return _lowpass_mask(h, w, shape, r, order, dtype, device).clone()


def _apply_half_mask(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    # rfft2/irfft2 on the un-centred half spectrum: half the work of a full complex FFT, and
    # the output is real by construction (the mask is conjugate-symmetric).
    spec = torch.fft.rfft2(x, norm="ortho") * half
    return torch.fft.irfft2(spec, s=x.shape[-2:], norm="ortho")


def apply_frequency_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Filter ``x`` with a centred frequency mask: ``Re ifft2c(fft2c(x) * mask)``.

    For module wrappers that keep a fixed mask as a buffer. A mask that is not
    conjugate-symmetric acts as its symmetrised version ``(m(k) + m(-k)) / 2`` (the real
    part is taken).

    Args:
        x: Real floating tensor ``(..., H, W)``.
        mask: Real tensor broadcastable to ``(..., H, W)``, centred (DC at ``(H//2, W//2)``).

    Returns:
        Real tensor like ``x``. Differentiable in ``x`` (and in ``mask``).

    Raises:
        TypeError: ``x`` or ``mask`` is not a floating-point tensor.
        ValueError: ``mask``'s last two dims differ from ``x``'s.
    """
    check_spatial(x)
    check_spatial(mask, "mask")
    if mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask: expected spatial size {tuple(x.shape[-2:])} to match x, got {tuple(mask.shape[-2:])}")
    return ifft2c(fft2c(x) * mask.to(x.dtype)).real


def lowpass(
    x: torch.Tensor,
    *,
    bandwidth: float | None = None,
    radius: float | None = None,
    shape: str = "square",
    order: int = 2,
) -> torch.Tensor:
    """Low-pass filter over the last two dims: ``Re ifft2c(fft2c(x) * mask)``.

    Args:
        x: Real floating tensor ``(..., H, W)``.
        bandwidth: Side B of the kept centred square (see :func:`frequency_mask`).
        radius: Radius r = B / 2 in frequency bins.
        shape: ``"square"`` (default, Yin et al.), ``"disc"``, ``"gaussian"`` or
            ``"butterworth"``.
        order: Butterworth order.

    Returns:
        Real tensor like ``x``. Ideal shapes (square, disc) are idempotent.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank, shape, bandwidth or radius.
    """
    check_spatial(x)
    h, w = x.shape[-2], x.shape[-1]
    shape, r, order = _resolve_radius(h, w, shape, bandwidth, radius, order)
    return _apply_half_mask(x, _lowpass_half(h, w, shape, r, order, x.dtype, x.device))


def highpass(
    x: torch.Tensor,
    *,
    bandwidth: float | None = None,
    radius: float | None = None,
    shape: str = "square",
    order: int = 2,
) -> torch.Tensor:
    """High-pass filter: ``x - lowpass(x, ...)``, i.e. the mask ``1 - m``.

    With ``shape="square"`` and bandwidth B this removes the centred square kept by the
    low-pass filter of the same B (Yin et al.'s high-pass of bandwidth B). The alternative
    convention "keep an outer band of width B'" is ``highpass(x, bandwidth=N - B')``.

    Args:
        x: Real floating tensor ``(..., H, W)``.
        bandwidth: Side B of the removed centred square.
        radius: Radius r = B / 2 in frequency bins.
        shape: As for :func:`lowpass`.
        order: Butterworth order.

    Returns:
        Real tensor like ``x``; ``lowpass(x) + highpass(x) == x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank, shape, bandwidth or radius.
    """
    return x - lowpass(x, bandwidth=bandwidth, radius=radius, shape=shape, order=order)


def frequency_split(x: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Wang et al. (2020) low/high-frequency split with a disc of radius ``radius``.

    The low part keeps the bins whose Euclidean distance to the centre ``(H//2, W//2)`` is
    strictly below ``radius``; the high part is the rest. No per-image rescaling is done
    (their code divides each part by its maximum afterwards; do that yourself if needed).

    Args:
        x: Real floating tensor ``(..., H, W)``.
        radius: Disc radius in frequency bins (> 0).

    Returns:
        ``(low, high)`` real tensors like ``x`` with ``low + high == x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank or radius.
    """
    low = lowpass(x, radius=radius, shape="disc")
    return low, x - low


def _check_band(band: Any, low: Any, high: Any) -> tuple[str, float, float]:
    band = check_choice(band, "band", BANDS)
    low = check_finite_number(low, "low")
    high = check_finite_number(high, "high")
    if not 0.0 <= low <= high:
        raise ValueError(
            f"low, high: expected 0 <= low <= high (fractions of the Nyquist frequency), got low={low:g}, high={high:g}"
        )
    return band, low, high


def _select_band(freq: torch.Tensor, band: str, low: float, high: float) -> torch.Tensor:
    if band == "low":
        return freq < low
    if band == "mid":
        return (freq >= low) & (freq < high)
    if band == "high":
        return freq >= high
    return torch.ones_like(freq, dtype=torch.bool)


@frozen_cache
def _dct_band(
    h: int, w: int, band: str, low: float, high: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    # DCT index u stands for u / (2h) cycles/pixel, i.e. u / h of the Nyquist frequency.
    # Thresholds are applied to the integer index (u < floor(low * h)) so that the low band
    # is exactly the floor(low*h) x floor(low*w) top-left block of Guo et al.'s LF sampler.
    u = torch.arange(h, dtype=torch.float64).view(-1, 1)
    v = torch.arange(w, dtype=torch.float64).view(1, -1)
    lo_u, lo_v = math.floor(low * h + 1e-9), math.floor(low * w + 1e-9)
    hi_u, hi_v = math.floor(high * h + 1e-9), math.floor(high * w + 1e-9)
    in_low = (u < lo_u) & (v < lo_v)
    # low <= high makes the low block a subset of the high block, so the bands are disjoint.
    in_high = (u >= hi_u) | (v >= hi_v)
    sel = {"low": in_low, "mid": ~in_low & ~in_high, "high": in_high}.get(band)
    if sel is None:
        sel = torch.ones(h, w, dtype=torch.bool)
    return sel.to(dtype=dtype, device=device)


def dct_band_mask(
    h: int,
    w: int,
    band: str,
    *,
    low: float = 0.25,
    high: float = 0.5,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Band mask over DCT-II index space (as returned by :func:`dct2`; (0, 0) = DC).

    Frequencies are square "rings" of the normalised index ``max(u / h, v / w)`` (1.0 =
    Nyquist), with the thresholds rounded down to whole indices:

    * ``"low"``: ``u < floor(low h)`` and ``v < floor(low w)`` (top-left block, as Guo et al.'s
      low-frequency sampler and SimBA-DCT's first block);
    * ``"high"``: ``u >= floor(high h)`` or ``v >= floor(high w)`` (outside the ``high``
      block);
    * ``"mid"``: everything in between; ``"all"``: every coefficient.

    "low", "mid" and "high" partition the index plane for any ``0 <= low <= high``.

    Args:
        h: Image height.
        w: Image width.
        band: ``"low"``, ``"mid"``, ``"high"`` or ``"all"``.
        low: Upper edge of the low band, as a fraction of Nyquist.
        high: Lower edge of the high band, as a fraction of Nyquist.
        dtype: Floating dtype of the 0/1 mask (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Float 0/1 tensor ``(h, w)``. A fresh tensor (the cached original is not exposed).

    Raises:
        TypeError: wrong argument types.
        ValueError: unknown band, or not ``0 <= low <= high``.
    """
    h, w = check_positive_int(h, "h"), check_positive_int(w, "w")
    band, low, high = _check_band(band, low, high)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    device = torch.device("cpu") if device is None else torch.device(device)
    return _dct_band(h, w, band, low, high, dtype, device).clone()


@frozen_cache
def _fourier_band(
    h: int, w: int, band: str, low: float, high: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    kh, kw = _centred_freqs(h, w)
    # |k| / (n / 2) is the fraction of the Nyquist frequency along each axis.
    freq = torch.sqrt((2.0 * kh / h) ** 2 + (2.0 * kw / w) ** 2)
    return _select_band(freq, band, low, high).to(dtype=dtype, device=device)


def fourier_band_mask(
    h: int,
    w: int,
    band: str,
    *,
    low: float = 0.25,
    high: float = 0.5,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Band mask over the centred Fourier spectrum (as returned by :func:`fft2c`).

    Uses the normalised radius ``rho = sqrt((2 k_h / h)^2 + (2 k_w / w)^2)`` (1.0 = Nyquist
    along an axis; corners reach sqrt(2)): ``"low"`` is ``rho < low``, ``"mid"`` is
    ``low <= rho < high``, ``"high"`` is ``rho >= high``, ``"all"`` is everything. The mask
    depends on ``|k|`` only, so it is conjugate-symmetric and band-limited images stay real.

    Args:
        h: Image height.
        w: Image width.
        band: ``"low"``, ``"mid"``, ``"high"`` or ``"all"``.
        low: Upper edge of the low band, as a fraction of Nyquist.
        high: Lower edge of the high band, as a fraction of Nyquist.
        dtype: Floating dtype of the 0/1 mask (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Float 0/1 tensor ``(h, w)``, centred. A fresh tensor (the cached original is not exposed).

    Raises:
        TypeError: wrong argument types.
        ValueError: unknown band, or not ``0 <= low <= high``.
    """
    h, w = check_positive_int(h, "h"), check_positive_int(w, "w")
    band, low, high = _check_band(band, low, high)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    device = torch.device("cpu") if device is None else torch.device(device)
    return _fourier_band(h, w, band, low, high, dtype, device).clone()
