"""Parsing of command-line specs such as ``pgd:eps=8/255,steps=20`` and eps lists."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Any

__all__ = ["parse_eps_list", "parse_spec", "parse_value"]

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]*$")


def parse_value(text: str) -> Any:
    """Parse one spec value: bool, int, float, fraction ``8/255``, ``inf`` or a string.

    Examples:
        >>> parse_value("8/255") == 8 / 255
        True
        >>> parse_value("true"), parse_value("20"), parse_value("dct")
        (True, 20, 'dct')
    """
    raw = text.strip()
    low = raw.lower()
    if low in {"true", "yes", "on"}:
        return True
    if low in {"false", "no", "off"}:
        return False
    if low in {"none", "null"}:
        return None
    if low in {"inf", "+inf"}:
        return math.inf
    if re.fullmatch(r"[+-]?\d+", raw):
        return int(raw)
    if re.fullmatch(r"[+-]?\d+(\.\d*)?/\d+(\.\d*)?", raw):
        num, den = raw.split("/")
        if float(den) == 0:
            raise ValueError(f"expected a fraction with a non-zero denominator, got {raw!r}")
        return float(Fraction(num)) / float(Fraction(den))
    try:
        return float(raw)
    except ValueError:
        return raw


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Split ``NAME[:key=value,key=value...]`` into the name and keyword arguments.

    Raises:
        ValueError: the spec is malformed (the message shows the expected form).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"expected NAME[:key=value,...], got {spec!r}")
    name, _, rest = spec.strip().partition(":")
    name = name.strip()
    if not _NAME.match(name):
        raise ValueError(f"expected NAME[:key=value,...] with a plain name, got {spec!r}")
    kwargs: dict[str, Any] = {}
    if rest.strip():
        for item in rest.split(","):
            key, eq, value = item.partition("=")
            key = key.strip().replace("-", "_")
            if not eq or not key.isidentifier() or not value.strip():
                raise ValueError(
                    f"malformed parameter {item.strip()!r} in {spec!r}: expected key=value, e.g. pgd:eps=8/255,steps=20"
                )
            if key in kwargs:
                raise ValueError(f"parameter {key!r} given twice in {spec!r}")
            kwargs[key] = parse_value(value)
    return name, kwargs


def parse_eps_list(text: str | list[float], *, norm: str | None = None) -> list[float]:
    """Parse ``"1/255,2/255,8/255"`` (or a list) into a sorted list of positive floats.

    With ``norm="linf"`` a budget above 1 (the whole [0, 1] pixel range) is refused: ``8``
    almost surely meant ``8/255``.

    Raises:
        ValueError: the list is empty, or holds a negative, zero, NaN, infinite or non-numeric
            value, or an L∞ value above 1.
    """
    items = text if isinstance(text, list) else [t for t in str(text).split(",") if t.strip()]
    if not items:
        raise ValueError("--eps: expected at least one eps, e.g. --eps 2/255,8/255; got an empty list")
    values = []
    for item in items:
        value = parse_value(item) if isinstance(item, str) else item
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"--eps: expected numeric eps values such as 8/255, got {item!r}")
        value = float(value)
        if math.isnan(value) or value <= 0:
            raise ValueError(f"--eps: expected eps > 0, got {item!r}")
        if math.isinf(value):
            raise ValueError(f"--eps: expected a finite eps, got {item!r}")
        if norm == "linf" and value > 1:
            raise ValueError(
                f"--eps: expected an L∞ eps <= 1 (images are in [0, 1]), got {str(item).strip()!r}; "
                f"did you mean {str(item).strip()}/255 ({value / 255:.4g})?"
            )
        values.append(value)
    return sorted(set(values))
