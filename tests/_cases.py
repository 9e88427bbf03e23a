"""Parameter cases several test files share (for ``pytest.mark.parametrize``)."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["refused_nonnegative"]


def refused_nonnegative(name: str, negative: float, text: str) -> list[tuple[dict[str, Any], type[Exception], str]]:
    """``(kwargs, error, match)`` cases a non-negative finite number setting ``name`` must refuse.

    A ``negative`` value, NaN and infinity are ValueErrors, a number written as ``text`` a TypeError.
    """
    return [
        ({name: negative}, ValueError, f"{name}: expected a value >= 0"),
        ({name: math.nan}, ValueError, f"{name}: expected a finite number"),
        ({name: math.inf}, ValueError, f"{name}: expected a finite number"),
        ({name: text}, TypeError, f"{name}: expected a number"),
    ]
