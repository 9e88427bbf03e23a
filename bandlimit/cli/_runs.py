"""The results folder of a command-line run.

A run folder holds, all written atomically (temporary file in the folder, then rename):

- ``results.json``: the result of the main analysis (e.g. an ``EvaluationResult``), readable
  with its ``Result.load``; ``complete: false`` marks a run that stopped early;
- other ``*.json`` files of secondary analyses (heat map, spectra, filtered accuracy,
  leaderboard);
- ``config.toml``: the resolved settings, keyed by option name, so
  ``bandlimit <command> --config OUT/config.toml`` repeats the run (``config.json`` when a
  setting has no TOML form);
- ``environment.json``: versions, device, command line and the git commit when known;
- ``figures/*.png`` and one self-contained ``report.html`` embedding them.

The folder is created and tested for writing *before* any work starts, so a run never does
an hour of attacks and then fails to save.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from bandlimit._env import environment
from bandlimit._io import atomic_write, write_json

__all__ = ["RunFolder", "prepare_folder", "to_toml"]


# ----------------------------------------------------------------------------------- TOML
def _toml_key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON string escapes are valid TOML
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"expected a TOML scalar or list, got {type(value).__name__}")


def to_toml(settings: Mapping[str, Any]) -> str:
    """TOML text of a flat mapping (nested mappings become tables); ``None`` values are left out.

    Raises:
        TypeError: a value has no TOML form (e.g. a list of mappings or an arbitrary object).
    """
    lines, tables = [], []
    for key, value in settings.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(str(key))} = {_toml_value(value)}")
    for key, table in tables:
        lines.append(f"\n[{_toml_key(str(key))}]")
        for k, v in table.items():
            if v is not None:
                lines.append(f"{_toml_key(str(k))} = {_toml_value(v)}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- run folder
def prepare_folder(path: Path) -> Path:
    """Create ``path`` (with its parents) and check that a file can be written in it.

    Raises:
        ValueError: ``path`` is an existing file.
        PermissionError: the folder cannot be created or written (says how to fix it).
    """
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r}: expected a folder, got an existing file; choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(
            f"--out {str(path)!r}: cannot write there ({exc.strerror or exc}); choose a writable folder with --out"
        ) from exc
    return path


class RunFolder:
    """The output folder of one run; every write is atomic.

    Create it with :meth:`prepare`, which fails before any work when the folder cannot be
    written.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        #: Figures drawn so far (name -> PNG path) and their captions, for the HTML report.
        self.figures: dict[str, Path] = {}
        self.captions: dict[str, str] = {}

    @classmethod
    def prepare(cls, out: str | os.PathLike[str] | None, command: str) -> RunFolder:
        """Create (or reuse) the folder and check it is writable.

        Args:
            out: The folder; None gives ``runs/<command>-<UTC timestamp>``.
            command: Name of the sub-command (for the default name).

        Raises:
            ValueError: ``out`` is an existing file.
            PermissionError: the folder cannot be created or written (says how to fix it).
        """
        if out is None or str(out) == "":
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{command}-{stamp}"
        path = prepare_folder(Path(out))
        (path / "figures").mkdir(exist_ok=True)
        return cls(path)

    def file(self, name: str) -> Path:
        """Path of ``name`` inside the folder."""
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` atomically."""
        return atomic_write(self.file(name), text)

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` as strict JSON, atomically.

        A ``Result`` is written by its own ``to_json``; anything else by
        :func:`bandlimit._io.write_json` (non-finite numbers as ``"NaN"`` / ``"Infinity"``).
        """
        if hasattr(data, "to_json"):
            text = data.to_json()
            return self.write_text(name, text + ("" if text.endswith("\n") else "\n"))
        return write_json(self.file(name), data)

    def write_config(self, settings: Mapping[str, Any]) -> Path:
        """Write the resolved settings as ``config.toml`` (``config.json`` if not TOML-able)."""
        try:
            return self.write_text("config.toml", to_toml(settings))
        except TypeError:
            return self.write_json("config.json", dict(settings))

    def write_environment(self, device: torch.device | str | None = None, **extra: Any) -> Path:
        """Write ``environment.json`` (see :func:`bandlimit._env.environment`)."""
        return self.write_json("environment.json", environment(device, **extra))

    def figure(self, name: str, plot: Callable[..., Path], *args: Any, caption: str = "", **kwargs: Any) -> Path:
        """Draw ``plot(*args, path, **kwargs)`` into ``figures/<name>.png`` atomically.

        The figure is remembered (with its caption) for the HTML report.
        """
        target = self.path / "figures" / f"{name}.png"
        atomic_write(target, lambda tmp: plot(*args, tmp, **kwargs))
        self.figures[name] = target
        self.captions[name] = caption
        return target
