"""Tables as text: the one cell format of the terminal tables and the HTML report."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["table_text"]


def table_text(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, percent: Sequence[str] = ()
) -> tuple[list[str], list[list[str]]]:
    """The columns and each row's cells as text.

    Args:
        rows: One mapping per row; a missing key shows as "–".
        columns: Column order (default: every key of the rows, in the order first seen).
        percent: Columns holding fractions to show as percentages (``0.5`` -> ``50.0%``).

    Returns:
        ``(columns, cells)``: the column names and one list of texts per row. Floats show 4
        significant digits and NaN as "–".
    """
    if columns is None:
        columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[_text(row.get(col, math.nan), col in percent) for col in columns] for row in rows]
    return list(columns), cells


def _text(value: Any, percent: bool) -> str:
    if percent and isinstance(value, (int, float)) and not math.isnan(float(value)):
        return f"{100.0 * float(value):.1f}%"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.4g}"
    return str(value)
