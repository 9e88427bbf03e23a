"""Analysis tools for reproducing the frequency-domain papers' findings.

``bandlimit.analysis.spectral_bias``: 1-D sum-of-sinusoid targets and their spectra
(Rahaman et al. 2019) and Xu et al.'s per-frequency relative error.
``bandlimit.analysis.filtering``: Xu et al.'s Gaussian-kernel filtering method (``e_low`` /
``e_high``). ``bandlimit.analysis.fitting``: the small models and training loops of both
papers. CIFAR-10-C-style corruptions live in :mod:`bandlimit.corruptions`.
"""

from __future__ import annotations

from bandlimit.analysis.filtering import (
    FilteringProbe,
    filtered_errors,
    gaussian_filter_matrix,
    low_high_split,
    nearest_neighbor_sq_distances,
    pairwise_sq_distances,
)
from bandlimit.analysis.fitting import FilteringTrace, fit_full_batch, mlp, train_with_filtering, xu_cnn
from bandlimit.analysis.spectral_bias import (
    dft_peaks,
    fourier_amplitudes,
    frequency_relative_error,
    random_phases,
    sinusoid_target,
    uniform_grid,
)

__all__ = [
    "FilteringProbe",
    "FilteringTrace",
    "dft_peaks",
    "filtered_errors",
    "fit_full_batch",
    "fourier_amplitudes",
    "frequency_relative_error",
    "gaussian_filter_matrix",
    "low_high_split",
    "mlp",
    "nearest_neighbor_sq_distances",
    "pairwise_sq_distances",
    "random_phases",
    "sinusoid_target",
    "train_with_filtering",
    "uniform_grid",
    "xu_cnn",
]
