"""Figures shared by the training-dynamics scripts (Xu's F-principle, Rahaman's spectral bias)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any


def plot_step_heatmaps(
    path: Path,
    panels: dict[str, Any],
    steps: Sequence[int],
    labels: Sequence[str],
    *,
    cmap: str,
    xlabel: str,
    ylabel: str,
    colorbar: str,
    height: float,
) -> None:
    """One heat map per panel, side by side: rows ``labels`` x training steps, values clipped to [0, 1].

    Args:
        path: The PNG to write.
        panels: Title -> values, a ``(len(labels), len(steps))`` nested list.
        steps: The recorded training steps (the x axis).
        labels: The row labels (frequencies).
        cmap: Matplotlib colour map.
        xlabel: Label of the x axis.
        ylabel: Label of the y axis.
        colorbar: Label of the colour bar.
        height: Figure height in inches.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(panels), figsize=(10, height), constrained_layout=True)
    for ax, (title, values) in zip(axes, panels.items(), strict=True):
        image = ax.imshow(
            values,
            aspect="auto",
            origin="lower",
            vmin=0.0,
            vmax=1.0,
            cmap=cmap,
            extent=(steps[0], steps[-1], -0.5, len(labels) - 0.5),
            interpolation="nearest",
        )
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        fig.colorbar(image, ax=ax, label=colorbar)
    fig.savefig(path, dpi=110)
    plt.close(fig)
