"""File output shared by every module: atomic writes and the one JSON encoding.

* :func:`atomic_write`: a crash or an exception never leaves a half-written file in place.
* :func:`jsonable` / :func:`write_json`: the single conversion of results to strict JSON.
  Dataclasses become dicts, tensors (nested) lists, tuples lists, devices and dtypes strings,
  and **non-finite floats the strings** ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict
  JSON has no NaN; ``float("NaN")`` reads them back). Attack objects and any other object
  become their ``repr``, so an unusual setting never breaks a results file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bandlimit.attack import Attack

__all__ = ["atomic_write", "jsonable", "write_json"]


def atomic_write(
    path: str | os.PathLike[str], content: str | bytes | Callable[[Path], None], *, mode: int = 0o644
) -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder, then rename.

    Args:
        path: Target file; its folder is created if needed.
        content: Text (UTF-8), bytes, or a callable that writes the temporary file it is given
            (e.g. ``lambda p: fig.savefig(p)`` or ``lambda p: torch.save(obj, p)``).
        mode: Permission bits of the result (``mkstemp`` would leave 0600; results are shared).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The real extension last: writers such as savefig infer the format from it.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    tmp = Path(tmp_name)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def _nested_floats(value: Any) -> Any:
    if isinstance(value, list):
        return [_nested_floats(v) for v in value]
    return _float(float(value))


def _tensor(t: torch.Tensor) -> Any:
    data = t.detach().cpu()
    if data.is_complex():
        data = data.abs()
    if data.is_floating_point():
        return _nested_floats(data.double().tolist())
    return data.tolist()


def jsonable(value: Any) -> Any:
    """Convert ``value`` into something :func:`json.dumps` accepts without loss of meaning.

    See the module docstring for the rules (non-finite floats become ``"NaN"`` and
    ``"Infinity"`` strings, other objects their ``repr``).
    """
    if isinstance(value, Attack):
        # An attack inside a setting (e.g. TransferAttack's inner attack) is written as its repr,
        # ``PGD(eps=..., steps=...)``: its settings, readable and rebuildable, without internals.
        return repr(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (torch.device, torch.dtype, os.PathLike)):
        return str(value)
    return repr(value)


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int | None = 2) -> Path:
    """Write ``jsonable(data)`` to ``path`` as strict JSON, atomically; returns the path."""
    text = json.dumps(jsonable(data), indent=indent, allow_nan=False)
    return atomic_write(path, text + "\n")
