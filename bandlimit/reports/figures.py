"""Matplotlib figures with axes in frequency units and colour bars.

Every function writes one PNG and returns its path. The Agg backend is used explicitly so
figures render on headless machines (CI, GPU servers) without a display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: never try to open a window
import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = [
    "plot_accuracy_vs_bandwidth",
    "plot_accuracy_vs_eps",
    "plot_heatmaps",
    "plot_radial_profiles",
    "plot_spectra",
]

_DPI = 110

#: Accuracy curves: name -> (x values, accuracies as fractions in [0, 1]).
Curves = Mapping[str, tuple[Sequence[float], Sequence[float]]]


def _to_numpy(a: torch.Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        return a.detach().to("cpu", torch.float64).numpy()
    return np.asarray(a, dtype=np.float64)


def _centred_extent(h: int, w: int) -> list[float]:
    """Return the imshow extent so that pixel centres sit on integer frequencies, DC at 0."""
    fy0, fx0 = -(h // 2), -(w // 2)
    return [fx0 - 0.5, fx0 + w - 0.5, fy0 + h - 0.5, fy0 - 0.5]


def _save(fig: plt.Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _grid_of_maps(
    maps: Mapping[str, torch.Tensor | np.ndarray],
    path: str | Path,
    *,
    title: str,
    cbar_label: str,
    cmap: str,
    vmin: float | None,
    vmax: float | None,
    log: bool = False,
) -> Path:
    if not maps:
        raise ValueError("expected at least one map to plot, got none")
    names = list(maps)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 0.8, 3.6), squeeze=False)
    arrays = [_to_numpy(maps[k]) for k in names]
    if log:
        arrays = [np.log10(np.maximum(a, 1e-12)) for a in arrays]
    finite = np.concatenate([a[np.isfinite(a)].ravel() for a in arrays] or [np.zeros(1)])
    lo = vmin if vmin is not None else (float(finite.min()) if finite.size else 0.0)
    hi = vmax if vmax is not None else (float(finite.max()) if finite.size else 1.0)
    image = None
    for ax, name, arr in zip(axes[0], names, arrays, strict=True):
        h, w = arr.shape[-2:]
        image = ax.imshow(arr, cmap=cmap, vmin=lo, vmax=hi, extent=_centred_extent(h, w))
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("horizontal frequency\n(cycles / image)")
        if ax is axes[0][0]:  # one y label: side-by-side panels share the axis
            ax.set_ylabel("vertical frequency (cycles / image)")
    cbar = fig.colorbar(image, ax=axes[0].tolist(), shrink=0.85)
    cbar.set_label(cbar_label)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_heatmaps(
    maps: Mapping[str, torch.Tensor | np.ndarray],
    path: str | Path,
    *,
    title: str = "Fourier heat map",
    cbar_label: str = "error rate",
) -> Path:
    """Fourier heat maps side by side, centred (DC in the middle), error rate in [0, 1].

    Args:
        maps: Panel title -> (H, W) map; NaN cells (not evaluated) are left blank.
        path: Output PNG path.
        title: Figure title (say the norm v and the data).
        cbar_label: Colour-bar label.

    Returns:
        The path written.
    """
    return _grid_of_maps(
        maps, path, title=title, cbar_label=cbar_label, cmap="viridis", vmin=0.0, vmax=1.0
    )


def plot_spectra(
    spectra: Mapping[str, torch.Tensor | np.ndarray],
    path: str | Path,
    *,
    title: str = "Mean |F(x_adv - x)|",
    log: bool = True,
) -> Path:
    """Centred magnitude spectra side by side on one (log10) colour scale."""
    return _grid_of_maps(
        spectra,
        path,
        title=title,
        cbar_label="log10 magnitude" if log else "magnitude",
        cmap="magma",
        vmin=None,
        vmax=None,
        log=log,
    )


def plot_radial_profiles(
    profiles: Mapping[str, tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]],
    path: str | Path,
    *,
    title: str = "Radial profile of the perturbation spectrum",
) -> Path:
    """Radial profiles (radius in cycles / image vs mean magnitude), one line per entry."""
    lines = {name: (_to_numpy(radii), _to_numpy(profile)) for name, (radii, profile) in profiles.items()}
    return _plot_lines(
        lines,
        path,
        xlabel="radial frequency (cycles / image)",
        ylabel="mean magnitude",
        title=title,
        log_y=True,
        marker="o",
        markersize=3,
    )


def plot_accuracy_vs_eps(
    curves: Curves, path: str | Path, *, norm: str = "linf", title: str = "Robust accuracy vs eps"
) -> Path:
    """Accuracy (%) against eps, one line per model or attack; eps shown in /255 for L∞."""
    xlabel = "eps (x/255, L∞)" if norm == "linf" else "eps (L2, [0,1] pixels)"
    return _plot_accuracy(curves, path, xlabel=xlabel, title=title, x_scale=255.0 if norm == "linf" else 1.0)


def plot_accuracy_vs_bandwidth(
    curves: Curves,
    path: str | Path,
    *,
    xlabel: str = "bandwidth B (centred B×B square kept, cycles / image)",
    title: str = "Accuracy of filtered images",
) -> Path:
    """Accuracy (%) against filter bandwidth or radius, one line per model / filter."""
    return _plot_accuracy(curves, path, xlabel=xlabel, title=title)


def _plot_accuracy(curves: Curves, path: str | Path, *, xlabel: str, title: str, x_scale: float = 1.0) -> Path:
    """Accuracy in % (fractions in ``curves``) against ``x_scale`` times x, on a fixed 0-100 scale."""
    lines = {
        name: (np.asarray(x, dtype=float) * x_scale, 100.0 * np.asarray(acc, dtype=float))
        for name, (x, acc) in curves.items()
    }
    xs = {float(v) for x, _ in lines.values() for v in np.atleast_1d(x)}
    if len(xs) == 1:
        # One x value (one eps): a curve would be a lone dot per line, so draw bars instead.
        return _plot_bars(lines, path, xlabel=f"{xlabel} = {xs.pop():g}", title=title)
    return _plot_lines(lines, path, xlabel=xlabel, ylabel="accuracy (%)", title=title, ylim=(-2, 102))


def _plot_bars(
    lines: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path, *, xlabel: str, title: str
) -> Path:
    """One horizontal bar per entry (its single accuracy value), labelled with the value."""
    names = list(lines)
    values = [float(np.atleast_1d(acc)[0]) for _, acc in lines.values()]
    fig, ax = plt.subplots(figsize=(5.5, 0.9 + 0.45 * len(names)))
    bars = ax.barh(range(len(names)), values, color=[f"C{i % 10}" for i in range(len(names))])
    ax.bar_label(bars, labels=[f"{v:.1f} %" for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel(f"accuracy (%) at {xlabel}")
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


# Distinct markers and dashes per line, markers shrinking line by line: lines that coincide
# (the worst case equal to its strongest attack) stay visible on top of each other.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_DASHES = ("-", "--", ":", "-.")


def _plot_lines(
    lines: Mapping[str, tuple[np.ndarray, np.ndarray]],
    path: str | Path,
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    ylim: tuple[float, float] | None = None,
    log_y: bool = False,
    **style: Any,
) -> Path:
    """One line per entry ``name -> (x, y)`` (drawn with ``style``), with a grid and a legend."""
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for i, (name, (x, y)) in enumerate(lines.items()):
        look = {"marker": _MARKERS[i % len(_MARKERS)], "linestyle": _DASHES[i % len(_DASHES)],
                "markersize": max(3.0, 9.0 - 1.5 * i), "markerfacecolor": "none" if i % 2 else None}  # fmt: skip
        ax.plot(x, y, label=name, **{**look, **style})
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
