"""The evaluation harness: verified robust accuracy and frequency-domain analyses.

- :func:`evaluate`: clean and robust accuracy under a list of attacks, every adversarial
  example verified by the harness, the per-sample worst case per threat model, automatic
  gradient-masking checks, EOT for randomised models, resumable state.
- :func:`perturbation_spectrum`: what adversarial perturbations look like in frequency.
- :func:`fourier_heatmap`: Yin et al.'s Fourier heat map.
- :func:`filtered_accuracy`: accuracy on low-/high-pass filtered images (Yin et al.) and on
  Wang et al.'s low/high-frequency components.

This package is core: it never imports ``attacks`` or ``defenses``; attack objects come in as
arguments and are used through the core protocol :class:`bandlimit.attack.Attack` (plus the
optional ``config`` and ``replace`` for EOT).
"""

from __future__ import annotations

from bandlimit.evaluation._verify import (
    BUDGET_ATOL,
    BUDGET_RTOL,
    BudgetViolation,
    verify_adversarial,
)
from bandlimit.evaluation.analysis_results import FilteredResult, HeatmapResult, SpectrumReport, SpectrumResult
from bandlimit.evaluation.evaluation_result import EvaluationResult
from bandlimit.evaluation.filtered import filtered_accuracy
from bandlimit.evaluation.heatmap import fourier_heatmap, fourier_noise_norm, heatmap_cells
from bandlimit.evaluation.results import (
    FINDING_SOURCES,
    SCHEMA_VERSION,
    AttackSummary,
    Finding,
    GroupSummary,
    Result,
    SampleTable,
)
from bandlimit.evaluation.robust import RANDOMIZED_VOTES, evaluate
from bandlimit.evaluation.spectrum import perturbation_spectrum

__all__ = [
    "BUDGET_ATOL",
    "BUDGET_RTOL",
    "FINDING_SOURCES",
    "RANDOMIZED_VOTES",
    "SCHEMA_VERSION",
    "AttackSummary",
    "BudgetViolation",
    "EvaluationResult",
    "FilteredResult",
    "Finding",
    "GroupSummary",
    "HeatmapResult",
    "Result",
    "SampleTable",
    "SpectrumReport",
    "SpectrumResult",
    "evaluate",
    "filtered_accuracy",
    "fourier_heatmap",
    "fourier_noise_norm",
    "heatmap_cells",
    "perturbation_spectrum",
    "verify_adversarial",
]
