"""Spectral statistics: mean spectra, radial profiles and band energies.

All spectra are centred orthonormal DFT magnitudes (:func:`~bandlimit.spectral.fft2c`);
radii are measured in integer frequency bins from the centre ``(H // 2, W // 2)``. These are
meant for perturbations ``x_adv - x`` or corruption differences ``C(x) - x`` (Yin et al.
2019); on raw images the DC term dominates every low-frequency statistic.
"""

from __future__ import annotations

import math

import torch

from bandlimit._checks import check_positive_int, check_tensor_rank
from bandlimit.spectral.bands import BANDS, _check_band, _fourier_band
from bandlimit.spectral.masks import frequency_mask
from bandlimit.spectral.transforms import check_spatial, fft2c, frozen_cache

__all__ = ["band_energy", "high_frequency_fraction", "mean_spectrum", "radial_profile"]


def mean_spectrum(x: torch.Tensor, *, per_channel: bool = False) -> torch.Tensor:
    """Mean centred magnitude spectrum ``E |fft2c(x)|``.

    Args:
        x: Real floating tensor ``(..., H, W)``, typically ``(N, C, H, W)``.
        per_channel: If False, average over every leading dim (batch and channels) and
            return ``(H, W)``; if True, keep dim -3 as channels and return ``(C, H, W)``.

    Returns:
        Real tensor of ``x``'s dtype, DC at ``(H // 2, W // 2)``. Differentiable.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has fewer than two dims (three with ``per_channel``).
    """
    check_spatial(x)
    if per_channel:
        check_tensor_rank(x, "x", min_rank=3)
    mag = fft2c(x).abs()
    if per_channel:
        mag = mag.reshape(-1, *mag.shape[-3:])
        return mag.mean(dim=0)
    return mag.reshape(-1, *mag.shape[-2:]).mean(dim=0)


@frozen_cache
def _radial_bins(
    h: int, w: int, bins: int | None, dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    kh = (torch.arange(h, dtype=torch.float64) - h // 2).view(-1, 1)
    kw = (torch.arange(w, dtype=torch.float64) - w // 2).view(1, -1)
    dist = torch.sqrt(kh**2 + kw**2).flatten()
    if bins is None:
        # Bin r holds distances in [r - 0.5, r + 0.5): one bin per integer frequency radius.
        index = torch.floor(dist + 0.5).long()
        nbins = int(index.max()) + 1
        centres = torch.arange(nbins, dtype=torch.float64)
    else:
        dmax = float(dist.max())
        width = dmax / bins if dmax > 0 else 1.0
        index = torch.clamp(torch.floor(dist / width).long(), max=bins - 1)
        nbins = bins
        centres = (torch.arange(bins, dtype=torch.float64) + 0.5) * width
    onehot = torch.zeros(h * w, nbins, dtype=torch.float64)
    onehot[torch.arange(h * w), index] = 1.0
    counts = onehot.sum(dim=0)
    keep = counts > 0  # drop empty bins rather than report a fake 0 or NaN
    average = onehot[:, keep] / counts[keep]
    return centres[keep].to(dtype=dtype, device=device), average.to(dtype=dtype, device=device)


def radial_profile(spectrum: torch.Tensor, *, bins: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Azimuthal average of a centred spectrum as a function of the frequency radius.

    Args:
        spectrum: Real floating tensor ``(..., H, W)``, centred (e.g. :func:`mean_spectrum`
            or ``fft2c(x).abs()``).
        bins: None for one bin per integer radius (bin r averages the bins at distance
            ``[r - 0.5, r + 0.5)`` from the centre), or a number of equal-width bins over
            ``[0, max distance]``. Empty bins are dropped.

    Returns:
        ``(radii, profile)``: ``radii`` of shape ``(R,)`` (bin centres, in frequency bins) and
        ``profile`` of shape ``(..., R)``, the mean of ``spectrum`` over each bin.

    Raises:
        TypeError: ``spectrum`` is complex (pass ``spectrum.abs()``) or not floating point,
            or ``bins`` is not an integer.
        ValueError: ``spectrum`` has fewer than two dims, or ``bins < 1``.
    """
    if isinstance(spectrum, torch.Tensor) and spectrum.is_complex():
        raise TypeError(
            f"spectrum: expected a real tensor (a magnitude or power spectrum), got {spectrum.dtype}; "
            "pass spectrum.abs()"
        )
    check_spatial(spectrum, "spectrum")
    if bins is not None:
        bins = check_positive_int(bins, "bins")
    h, w = spectrum.shape[-2], spectrum.shape[-1]
    radii, average = _radial_bins(h, w, bins, spectrum.dtype, spectrum.device)
    profile = spectrum.reshape(*spectrum.shape[:-2], h * w) @ average
    return radii, profile


def _power(x: torch.Tensor) -> torch.Tensor:
    """Centred power spectrum ``|fft2c(x)|^2`` summed over every leading dim: ``(H, W)``."""
    power = fft2c(x).abs().square()
    return power.reshape(-1, *power.shape[-2:]).sum(dim=0)


def band_energy(x: torch.Tensor, *, low: float = 0.25, high: float = 0.5) -> dict[str, float]:
    """Fractions of the spectral energy ``|fft2c(x)|^2`` in the low, mid and high bands.

    Bands are those of :func:`~bandlimit.spectral.fourier_band_mask`: normalised radius
    ``rho = sqrt((2 k_h / H)^2 + (2 k_w / W)^2)`` (1.0 = Nyquist), low ``rho < low``, mid
    ``low <= rho < high``, high ``rho >= high``. Energy is pooled over all leading dims.

    Args:
        x: Real floating tensor ``(..., H, W)``, typically a perturbation.
        low: Upper edge of the low band (fraction of Nyquist).
        high: Lower edge of the high band (fraction of Nyquist).

    Returns:
        ``{"low": ..., "mid": ..., "high": ...}``, floats summing to 1.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank, ``x`` is all zeros, or not ``0 <= low <= high``.
    """
    check_spatial(x)
    _, low, high = _check_band("all", low, high)
    h, w = x.shape[-2], x.shape[-1]
    power = _power(x.detach())
    masks = torch.stack([_fourier_band(h, w, band, low, high, power.dtype, power.device) for band in BANDS[:3]])
    energies = (masks * power).sum(dim=(-2, -1))
    values = torch.cat([energies, energies.sum().unsqueeze(0)]).tolist()  # one host sync
    total = values[-1]
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"x: expected a non-zero, finite input to measure energy fractions, got total energy {total}")
    return {band: value / total for band, value in zip(BANDS[:3], values[:3], strict=True)}


def high_frequency_fraction(x: torch.Tensor, *, bandwidth: float | None = None) -> float:
    """Fraction of the energy ``|fft2c(x)|^2`` outside the centred low-pass square.

    This is ``hf(C)`` of the library's reading of Yin et al. (2019), applied to a corruption
    difference ``x = C(X) - X``: energy outside the square kept by
    ``frequency_mask(H, W, shape="square", bandwidth=B)`` over the total energy, pooled over
    all leading dims. That square is ``|k| <= B/2`` per axis (exactly B x B for odd B,
    (B+1) x (B+1) for even B).

    Args:
        x: Real floating tensor ``(..., H, W)``.
        bandwidth: B; default ``min(H, W) / 4`` (8 for 32x32, so ``|k| <= 4``).

    Returns:
        A float in [0, 1].

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank, bandwidth out of ``(0, max(H, W)]``, or ``x`` all zeros.
    """
    check_spatial(x)
    h, w = x.shape[-2], x.shape[-1]
    if bandwidth is None:
        bandwidth = min(h, w) / 4.0
    power = _power(x.detach())
    mask = frequency_mask(h, w, shape="square", bandwidth=bandwidth, dtype=power.dtype, device=power.device)
    inside, total = torch.stack([(mask * power).sum(), power.sum()]).tolist()  # one host sync
    if not total > 0 or not math.isfinite(total):
        raise ValueError(f"x: expected a non-zero, finite input to measure energy fractions, got total energy {total}")
    return max(0.0, 1.0 - inside / total)
