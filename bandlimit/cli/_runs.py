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
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from bandlimit._io import atomic_write

__all__ = ["RunFolder", "environment_info", "to_toml"]

_PACKAGES = ("torch", "torchvision", "numpy", "scipy", "rich", "matplotlib", "torchattacks")


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    return atomic_write(path, write)


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


# ---------------------------------------------------------------------------- environment
def _git_commit() -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout bandlimit runs from, or None (not a checkout)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def environment_info(device: torch.device | str | None = None, **extra: Any) -> dict[str, Any]:
    """Versions, machine and command line of this run (written to ``environment.json``)."""
    import bandlimit

    dev = torch.device(device) if device is not None else torch.device("cpu")
    versions = {"bandlimit": bandlimit.__version__, "python": platform.python_version()}
    for name in _PACKAGES[1:]:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    versions["torch"] = torch.__version__  # the build actually imported (e.g. 2.4.0+cu121)
    env: dict[str, Any] = {
        "versions": versions,
        "platform": platform.platform(),
        "device": str(dev),
        "cuda": torch.version.cuda,
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_commit(),
    }
    if dev.type == "cuda" and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(dev)
    env.update(extra)
    return env


# ----------------------------------------------------------------------------- run folder
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
        path = Path(out)
        if path.exists() and not path.is_dir():
            raise ValueError(f"--out {str(path)!r}: expected a folder, got an existing file; choose another --out")
        try:
            (path / "figures").mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test-")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PermissionError(
                f"--out {str(path)!r}: cannot write there ({exc.strerror or exc}); choose a writable folder with --out"
            ) from exc
        return cls(path)

    def file(self, name: str) -> Path:
        """Path of ``name`` inside the folder."""
        return self.path / name

    def write_text(self, name: str, text: str) -> Path:
        """Write ``text`` to ``name`` atomically."""
        return _atomic_write(self.file(name), lambda tmp: tmp.write_text(text, encoding="utf-8"))

    def write_json(self, name: str, data: Any) -> Path:
        """Write ``data`` (a ``Result``, or anything ``json.dumps`` takes) as strict JSON."""
        text = data.to_json() if hasattr(data, "to_json") else json.dumps(data, indent=2, allow_nan=False)
        return self.write_text(name, text + ("" if text.endswith("\n") else "\n"))

    def write_config(self, settings: Mapping[str, Any]) -> Path:
        """Write the resolved settings as ``config.toml`` (``config.json`` if not TOML-able)."""
        try:
            return self.write_text("config.toml", to_toml(settings))
        except TypeError:
            return self.write_json("config.json", dict(settings))

    def write_environment(self, device: torch.device | str | None = None, **extra: Any) -> Path:
        """Write ``environment.json`` (see :func:`environment_info`)."""
        return self.write_json("environment.json", environment_info(device, **extra))

    def figure(self, name: str, plot: Callable[..., Path], *args: Any, caption: str = "", **kwargs: Any) -> Path:
        """Draw ``plot(*args, path, **kwargs)`` into ``figures/<name>.png`` atomically.

        The figure is remembered (with its caption) for the HTML report.
        """
        target = self.path / "figures" / f"{name}.png"
        _atomic_write(target, lambda tmp: plot(*args, tmp, **kwargs))
        self.figures[name] = target
        self.captions[name] = caption
        return target
