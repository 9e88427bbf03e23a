"""Reports: rich tables, matplotlib figures and a self-contained HTML report.

Everything here takes plain tensors, numbers and dicts, so it works on any result object
of :mod:`bandlimit.evaluation` and on numbers loaded back from ``results.json``.
"""

from __future__ import annotations

from bandlimit.reports.figures import (
    plot_accuracy_vs_bandwidth,
    plot_accuracy_vs_eps,
    plot_heatmaps,
    plot_radial_profiles,
    plot_spectra,
)
from bandlimit.reports.html import HtmlReport
from bandlimit.reports.terminal import heatmap_panel, results_table

__all__ = [
    "HtmlReport",
    "heatmap_panel",
    "plot_accuracy_vs_bandwidth",
    "plot_accuracy_vs_eps",
    "plot_heatmaps",
    "plot_radial_profiles",
    "plot_spectra",
    "results_table",
]
