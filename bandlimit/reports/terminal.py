"""Rich renderables: result tables and a heat map drawn in the terminal."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bandlimit.reports._cells import table_text

__all__ = ["heatmap_panel", "results_table"]

# A perceptually ordered 8-step ramp (dark blue -> yellow), like viridis.
_RAMP = ("#440154", "#46327e", "#365c8d", "#277f8e", "#1fa187", "#4ac16d", "#a0da39", "#fde725")


def results_table(
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
    percent: Sequence[str] = (),
) -> Table:
    """A rich table from a list of row dicts.

    Args:
        rows: One mapping per row; missing keys show as "–".
        title: Table title.
        columns: Column order (default: keys of the first row, then any new ones in order).
        percent: Columns holding fractions in [0, 1] to show as percentages.
    """
    columns, cells = table_text(rows, columns, percent)
    table = Table(title=title, header_style="bold")
    for i, col in enumerate(columns):
        # Wrap rather than cut: a narrow terminal still shows every model and attack name whole.
        table.add_column(col, justify="left" if i == 0 else "right", overflow="fold")
    for texts in cells:
        table.add_row(*texts)
    return table


def heatmap_panel(
    error: torch.Tensor | np.ndarray, *, title: str = "Fourier heat map (error rate)", max_size: int = 32
) -> Panel:
    """Draw an (H, W) map with values in [0, 1] as coloured blocks (two characters a cell).

    Larger maps are average-pooled down to ``max_size`` cells a side so they fit a terminal.
    NaN cells (not evaluated) are drawn as dots.
    """
    arr = error.detach().cpu().double().numpy() if isinstance(error, torch.Tensor) else np.asarray(error, float)
    if arr.ndim != 2:
        raise ValueError(f"error: expected an (H, W) map, got shape {arr.shape}")
    h, w = arr.shape
    step = max(1, math.ceil(max(h, w) / max_size))
    if step > 1:
        hh, ww = h // step, w // step
        with np.errstate(all="ignore"):
            arr = np.nanmean(arr[: hh * step, : ww * step].reshape(hh, step, ww, step), axis=(1, 3))
    lines = []
    for row in arr:
        text = Text()
        for v in row:
            if not np.isfinite(v):
                text.append("··", style="grey50")
            else:
                idx = min(len(_RAMP) - 1, max(0, int(v * len(_RAMP))))
                text.append("██", style=_RAMP[idx])
        lines.append(text)
    legend = Text("0 ")
    for colour in _RAMP:
        legend.append("██", style=colour)
    legend.append(" 1   (DC in the centre; axes: frequency)")
    return Panel(Group(*lines, legend), title=title, expand=False)
