"""Band masks for band-limited attacks and spectra: DCT index space and the centred Fourier plane.

Both use a frequency normalised to the Nyquist frequency (1.0 = 0.5 cycles per pixel), so the
same ``low`` / ``high`` thresholds describe the same physical bands on both transforms.
:func:`band_mask` makes either; :func:`dct_band_mask` and :func:`fourier_band_mask` name one.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bandlimit._checks import check_choice, check_finite_number, check_positive_int
from bandlimit.spectral.masks import centred_freqs
from bandlimit.spectral.transforms import dtype_device, frozen_cache

__all__ = ["BANDS", "SPACES", "band_mask", "dct_band_mask", "fourier_band_mask"]

BANDS = ("low", "mid", "high", "all")
#: The transforms whose coefficients a band mask selects.
SPACES = ("dct", "fourier")


def _check_band(band: Any, low: Any, high: Any) -> tuple[str, float, float]:
    """Validate a band name and its edges ``0 <= low <= high`` (fractions of Nyquist)."""
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


@frozen_cache
def _fourier_band(
    h: int, w: int, band: str, low: float, high: float, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    kh, kw = centred_freqs(h, w)
    # |k| / (n / 2) is the fraction of the Nyquist frequency along each axis.
    freq = torch.sqrt((2.0 * kh / h) ** 2 + (2.0 * kw / w) ** 2)
    return _select_band(freq, band, low, high).to(dtype=dtype, device=device)


def band_mask(
    h: int,
    w: int,
    band: str,
    *,
    space: str = "dct",
    low: float = 0.25,
    high: float = 0.5,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Band mask over DCT-II index space or over the centred Fourier spectrum.

    ``space="dct"``: over the coefficients of :func:`dct2` ((0, 0) = DC). Frequencies are
    square "rings" of the normalised index ``max(u / h, v / w)`` (1.0 = Nyquist), with the
    thresholds rounded down to whole indices:

    * ``"low"``: ``u < floor(low h)`` and ``v < floor(low w)`` (top-left block, as Guo et al.'s
      low-frequency sampler and SimBA-DCT's first block);
    * ``"high"``: ``u >= floor(high h)`` or ``v >= floor(high w)`` (outside the ``high``
      block);
    * ``"mid"``: everything in between; ``"all"``: every coefficient.

    "low", "mid" and "high" partition the index plane for any ``0 <= low <= high``.

    ``space="fourier"``: over the centred spectrum of :func:`fft2c`, by the normalised radius
    ``rho = sqrt((2 k_h / h)^2 + (2 k_w / w)^2)`` (1.0 = Nyquist along an axis; corners reach
    sqrt(2)): ``"low"`` is ``rho < low``, ``"mid"`` is ``low <= rho < high``, ``"high"`` is
    ``rho >= high``, ``"all"`` is everything. The mask depends on ``|k|`` only, so it is
    conjugate-symmetric and band-limited images stay real.

    Args:
        h: Image height.
        w: Image width.
        band: ``"low"``, ``"mid"``, ``"high"`` or ``"all"``.
        space: ``"dct"`` or ``"fourier"``.
        low: Upper edge of the low band, as a fraction of Nyquist.
        high: Lower edge of the high band, as a fraction of Nyquist.
        dtype: Floating dtype of the 0/1 mask (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Float 0/1 tensor ``(h, w)`` (Fourier: centred). A fresh tensor (the cached original
        is not exposed).

    Raises:
        TypeError: wrong argument types.
        ValueError: unknown band or space, or not ``0 <= low <= high``.
    """
    h, w = check_positive_int(h, "h"), check_positive_int(w, "w")
    band, low, high = _check_band(band, low, high)
    build = _dct_band if check_choice(space, "space", SPACES) == "dct" else _fourier_band
    return build(h, w, band, low, high, *dtype_device(dtype, device)).clone()


def dct_band_mask(h: int, w: int, band: str, **options: Any) -> torch.Tensor:
    """:func:`band_mask` over DCT-II index space (as returned by :func:`dct2`; (0, 0) = DC).

    ``options``: ``low``, ``high``, ``dtype``, ``device`` of :func:`band_mask`.
    """
    return band_mask(h, w, band, space="dct", **options)


def fourier_band_mask(h: int, w: int, band: str, **options: Any) -> torch.Tensor:
    """:func:`band_mask` over the centred Fourier spectrum (as returned by :func:`fft2c`).

    ``options``: ``low``, ``high``, ``dtype``, ``device`` of :func:`band_mask`.
    """
    return band_mask(h, w, band, space="fourier", **options)
