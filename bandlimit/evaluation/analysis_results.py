"""Results of the frequency-domain analyses: perturbation spectra, Fourier heat maps, filtered accuracy.

They share the JSON round trip of :class:`~bandlimit.evaluation.results.Result`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

from torch import Tensor

from bandlimit.evaluation.results import Result

__all__ = ["FilteredResult", "HeatmapResult", "SpectrumReport", "SpectrumResult"]


@dataclasses.dataclass
class SpectrumResult(Result):
    """Mean Fourier magnitude of adversarial perturbations (see ``perturbation_spectrum``).

    Attributes:
        label: The attack (or ``"perturbation"`` for explicit tensors).
        spectrum: ``(H, W)`` centred mean ``|F(x_adv - x)|``, averaged over images and channels.
        radii, profile: Its radial profile (one bin per integer radius).
        band_energy: Fractions of the energy ``|F|^2`` in the low, mid and high bands
            (``low``/``high`` edges as fractions of Nyquist, see ``band_edges``).
        n: Perturbations averaged. ``success_rate``: fraction of them that fooled the model
            (None for explicit tensors).
    """

    kind: ClassVar[str] = "spectrum"

    label: str
    spectrum: Tensor
    radii: Tensor
    profile: Tensor
    band_energy: dict[str, float]
    band_edges: list[float]
    n: int
    success_rate: float | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    seed: int | None = None
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class SpectrumReport(Result):
    """Perturbation spectra of several attacks on one model and data set."""

    kind: ClassVar[str] = "spectrum-report"

    spectra: list[SpectrumResult]
    config: dict[str, Any]
    seed: int
    environment: dict[str, Any]

    def __getitem__(self, label: str) -> SpectrumResult:
        for s in self.spectra:
            if s.label == label:
                return s
        raise KeyError(f"no spectrum for {label!r}; known: {[s.label for s in self.spectra]}")


@dataclasses.dataclass
class HeatmapResult(Result):
    """Fourier heat map (Yin et al. 2019), see ``fourier_heatmap``.

    Attributes:
        error: ``(H, W)`` error rate under ``norm * U(i, j)`` noise at every centred cell
            (NaN outside a requested subset). Point-symmetric by construction.
        accuracy: ``1 - error`` (NaN outside the subset).
        clean_accuracy: Accuracy on the unperturbed images.
        norm: L2 norm of the noise per channel. ``n``: images per cell.
    """

    kind: ClassVar[str] = "heatmap"

    error: Tensor
    accuracy: Tensor
    clean_accuracy: float
    norm: float
    n: int
    cells_evaluated: int
    random_sign: bool
    clip: bool
    config: dict[str, Any]
    seed: int
    environment: dict[str, Any]


@dataclasses.dataclass
class FilteredResult(Result):
    """Accuracy on low-/high-pass filtered images and on Wang et al.'s LFC/HFC split.

    Attributes:
        bandwidths: Sweep of square bandwidths B; ``lowpass_accuracy[k]`` keeps the centred
            B×B block, ``highpass_accuracy[k]`` removes it (Yin et al.).
        radii: Sweep of disc radii r; ``low_accuracy[k]`` on the low-frequency component
            (distance < r), ``high_accuracy[k]`` on the rest (Wang et al.), each optionally
            divided by its per-image maximum (``rescale``).
    """

    kind: ClassVar[str] = "filtered"

    clean_accuracy: float
    n: int
    shape: str
    bandwidths: list[float]
    lowpass_accuracy: list[float]
    highpass_accuracy: list[float]
    radii: list[float]
    low_accuracy: list[float]
    high_accuracy: list[float]
    rescale: bool
    clip: bool
    config: dict[str, Any]
    environment: dict[str, Any]
