"""File output shared by every module: atomic writes and the one JSON encoding.

* :func:`atomic_write`: a crash or an exception never leaves a half-written file in place.
* :func:`load_torch_file`: the one ``torch.load`` of files a user hands us (checkpoints,
  training and evaluation states): ``weights_only=True`` always, and one clear line for a
  folder, an empty, truncated or foreign file, or one holding Python objects.
* :func:`jsonable` / :func:`write_json`: the single conversion of results to strict JSON.
  Dataclasses become dicts, tensors (nested) lists, tuples lists, devices and dtypes strings,
  and **non-finite floats the strings** ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` (strict
  JSON has no NaN; ``float("NaN")`` reads them back). Attack objects and any other object
  become their ``repr``, so an unusual setting never breaks a results file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bandlimit.attack import Attack

__all__ = ["atomic_write", "jsonable", "load_torch_file", "write_json"]


def _fill(tmp: Path, content: str | bytes | Callable[[Path], None]) -> None:
    """Write ``content`` into the temporary file ``tmp`` (where a full disk fails: ``ENOSPC``)."""
    if callable(content):
        content(tmp)
        return
    data = content.encode("utf-8") if isinstance(content, str) else content
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


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

    Raises:
        IsADirectoryError: ``path`` is a folder.
        OSError: the write failed (e.g. ``ENOSPC``, a full disk); ``path`` keeps its previous
            content and no temporary file is left.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "expected a file path, got a folder", str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # The real extension last: writers such as savefig infer the format from it.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _fill(tmp, content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path


#: How PyTorch files begin: a zip archive (the format since 1.6) or the legacy pickled magic number.
_ZIP_MAGIC = b"PK\x03\x04"
_LEGACY_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)


def load_torch_file(path: str | os.PathLike[str], *, what: str = "checkpoint", map_location: Any = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` with one clear line for every way a file can be wrong.

    Args:
        path: The file.
        what: What the file should be, for the messages (``"checkpoint"``, ``"training state"``).
        map_location: Passed to ``torch.load``.

    Returns:
        The loaded object (tensors and plain containers only).

    Raises:
        FileNotFoundError: no such file.
        ValueError: a folder; an empty, truncated or non-PyTorch file; or one holding Python
            objects beyond tensors and plain containers (refused, never unpickled).
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} {str(p)!r}: expected a file, got a folder; name the file inside it")
    if not p.is_file():
        raise FileNotFoundError(f"{what} {str(p)!r} does not exist")
    with p.open("rb") as fh:
        head = fh.read(len(_LEGACY_MAGIC))
    cannot = f"cannot read {str(p)!r}: the file is truncated or not a PyTorch {what}"
    if not head:
        raise ValueError(f"{cannot} (it is empty)")
    if not (head.startswith(_ZIP_MAGIC) or head == _LEGACY_MAGIC):
        raise ValueError(f"{cannot} (it starts with neither a zip nor a PyTorch header)")
    try:
        return torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():
            raise ValueError(
                f"refusing to load {str(p)!r}: it holds Python objects beyond tensors and plain containers, and "
                "bandlimit only loads files with weights_only=True (unpickling arbitrary objects can run code); "
                "if you trust the file, load it yourself and re-save model.state_dict()"
            ) from exc
        raise ValueError(f"{cannot} ({_first_line(exc)})") from exc
    except OSError as exc:
        # The machine's errors (a file that cannot be read) stay OSError; torch reports a cut-off
        # archive as a bare OSError without a file name (EINVAL from its zip reader's seek).
        if isinstance(exc, PermissionError) or exc.filename is not None or exc.errno in (errno.EIO, errno.ENOENT):
            raise
        raise ValueError(f"{cannot} ({_first_line(exc)})") from exc
    except Exception as exc:  # torch raises RuntimeError/EOFError/KeyError/... for damaged files
        raise ValueError(f"{cannot} ({type(exc).__name__}: {_first_line(exc)})") from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "no detail"


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
