"""Pure spectral functions on tensors: centred FFT, DCT, Yin et al.'s Fourier basis, masks.

Every function acts on the last two dims of a tensor (any leading dims), on any device, in
float32 or float64, and is differentiable. Spectra are centred (DC at ``(H // 2, W // 2)``)
and transforms orthonormal. Module wrappers (e.g. ``defenses.LowPassFilter``) live with
their users and call these functions.
"""

from __future__ import annotations

from bandlimit.spectral.bands import band_mask, dct_band_mask, fourier_band_mask
from bandlimit.spectral.basis import (
    fourier_basis,
    fourier_basis_pairs,
    fourier_basis_stack,
    fourier_partner,
    fourier_partner_index,
)
from bandlimit.spectral.masks import (
    apply_frequency_mask,
    apply_rfft_mask,
    frequency_mask,
    frequency_split,
    highpass,
    lowpass,
    rfft_mask,
)
from bandlimit.spectral.spectra import band_energy, high_frequency_fraction, mean_spectrum, radial_profile
from bandlimit.spectral.transforms import dct2, dct_matrix, fft2c, idct2, ifft2c

__all__ = [
    "apply_frequency_mask",
    "apply_rfft_mask",
    "band_energy",
    "band_mask",
    "dct2",
    "dct_band_mask",
    "dct_matrix",
    "fft2c",
    "fourier_band_mask",
    "fourier_basis",
    "fourier_basis_pairs",
    "fourier_basis_stack",
    "fourier_partner",
    "fourier_partner_index",
    "frequency_mask",
    "frequency_split",
    "high_frequency_fraction",
    "highpass",
    "idct2",
    "ifft2c",
    "lowpass",
    "mean_spectrum",
    "radial_profile",
    "rfft_mask",
]
