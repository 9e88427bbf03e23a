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

The folder is checked *before* any work starts (writable, enough free space, no other run's
results in it unless ``--overwrite``), so a run never does an hour of attacks and then fails
to save or silently replaces another run; it is created only when the work begins, so a run
refused later (a bad model or data file) leaves nothing behind. A run stopped by Ctrl-C or a
full disk says exactly which files it wrote (:meth:`RunFolder.guard`).
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from bandlimit._env import environment
from bandlimit._io import atomic_write, write_json

__all__ = [
    "MIN_FREE_BYTES",
    "RUN_FILES",
    "RunFolder",
    "check_out",
    "check_room",
    "prepare_folder",
    "run_files",
    "to_toml",
]


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
#: The files a run of any command writes into its folder (globs relative to it): a folder
#: holding one of them holds another run's results.
RUN_FILES = (
    "results.json",
    "report.html",
    "config.toml",
    "config.json",
    "environment.json",
    "heatmap.json",
    "spectrum.json",
    "filtered.json",
    "leaderboard.json",
    "metrics.json",
    "state*.pt",
    "last.pt",
    "best.pt",
    "model.pt",
    "heatmaps.png",
    "spectra.png",
    "spectra_radial.png",
    "figures/*.png",
    "baselines/*.json",
    "baselines/*.state.pt",
)

#: Free space a results folder needs before any work starts (figures, report, state files).
MIN_FREE_BYTES = 32 * 2**20


def run_files(path: Path) -> list[Path]:
    """The files of an earlier run in the folder ``path`` (see :data:`RUN_FILES`), sorted."""
    if not path.is_dir():
        return []
    return sorted({f for pattern in RUN_FILES for f in path.glob(pattern) if f.is_file()})


def _existing_ancestor(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing parent (where it will be created)."""
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_room(path: Path, need: int = MIN_FREE_BYTES) -> None:
    """Refuse to start a run whose folder ``path`` has less than ``need`` bytes free on its disk.

    Raises:
        ValueError: not enough room (the message gives what is free and what is needed).
    """
    free = shutil.disk_usage(_existing_ancestor(path)).free
    if free < need:
        raise ValueError(
            f"--out {str(path)!r}: only {free / 2**20:.1f} MiB free on its disk, the run needs at least "
            f"{need / 2**20:.0f} MiB; free some space or choose another --out"
        )


def prepare_folder(path: Path, *, create: bool = True) -> Path:
    """Check that the folder ``path`` can be written (and create it, with its parents, if ``create``).

    Without ``create`` nothing is left behind: the write test runs in the nearest existing
    parent, and the folder is made when the run starts (:meth:`RunFolder.start`).

    Raises:
        ValueError: ``path`` is an existing file.
        PermissionError: the folder cannot be created or written (says how to fix it).
    """
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {str(path)!r}: expected a folder, got an existing file; choose another --out")
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        where = _existing_ancestor(path)
        if not where.is_dir():  # a parent is a file: the folder can never be made
            raise NotADirectoryError(errno.ENOTDIR, "a parent is a file", str(where))
        fd, probe = tempfile.mkstemp(dir=where, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(
            f"--out {str(path)!r}: cannot write there ({exc.strerror or exc}); choose a writable folder with --out"
        ) from exc
    return path


def check_out(path: Path, *, resume: bool = False, overwrite: bool = False, can_resume: bool = False) -> None:
    """Refuse an output folder that cannot take this run, before any work.

    Args:
        path: The folder (it may not exist yet).
        resume: ``--resume`` was given: the folder's state files continue that run.
        overwrite: ``--overwrite`` was given: another run's results may be replaced.
        can_resume: The command has ``--resume`` (named in the message).

    Raises:
        ValueError: an existing file, another run's results (without ``resume`` / ``overwrite``),
            or too little free space.
        PermissionError: the folder cannot be created or written.
    """
    prepare_folder(path, create=False)
    earlier = run_files(path)
    states = [f for f in earlier if f.parent == path and f.name.startswith("state")]
    if earlier and not overwrite and not (resume and states):
        # The files that say most first: the state to resume, then the results.
        first = [f for f in earlier if f in states or f.name == "results.json"]
        named = first + [f for f in earlier if f not in first]
        shown = ", ".join(str(f.relative_to(path)) for f in named[:4]) + (" ..." if len(named) > 4 else "")
        if can_resume and states:
            how = "pass --resume to continue it if it was interrupted, --overwrite to replace it"
        else:
            how = "pass --overwrite to replace it"
        raise ValueError(f"--out {str(path)!r} already holds another run ({shown}); {how}, or choose another --out")
    check_room(path)


class RunFolder:
    """The output folder of one run; every write is atomic and remembered.

    Create it with :meth:`prepare`, which checks the folder before any work (and leaves
    nothing behind when the run is refused later), then call :meth:`start` when the work
    begins. Run the work inside :meth:`guard`, which turns Ctrl-C and a full disk into a
    message that says what was written.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False, resume_hint: str = "") -> None:
        self.path = Path(path)
        self.overwrite = overwrite
        #: What the state files of the folder hold, for the messages (empty: no resumable state).
        self.resume_hint = resume_hint
        #: Figures drawn so far (name -> PNG path) and their captions, for the HTML report.
        self.figures: dict[str, Path] = {}
        self.captions: dict[str, str] = {}
        #: The run files present when the work began, with their modification times (None: not begun).
        self._before: dict[Path, int] | None = None

    @classmethod
    def prepare(
        cls,
        out: str | os.PathLike[str] | None,
        command: str,
        *,
        resume: bool = False,
        overwrite: bool = False,
        resume_hint: str = "",
    ) -> RunFolder:
        """Check the folder for this run (see :func:`check_out`); creates nothing yet.

        Args:
            out: The folder; None gives ``runs/<command>-<UTC timestamp>``.
            command: Name of the sub-command (for the default name).
            resume: ``--resume`` was given.
            overwrite: ``--overwrite`` was given.
            resume_hint: What the folder's state files keep (e.g. "the finished attacks × batches");
                empty for commands without ``--resume``.

        Raises:
            ValueError: ``out`` is an existing file, holds another run, or its disk is (nearly) full.
            PermissionError: the folder cannot be created or written (says how to fix it).
        """
        if out is None or str(out) == "":
            stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
            out = Path("runs") / f"{command}-{stamp}"
        path = Path(out)
        check_out(path, resume=resume, overwrite=bool(overwrite), can_resume=bool(resume_hint))
        return cls(path, overwrite=bool(overwrite), resume_hint=resume_hint)

    def start(self) -> None:
        """Create the folder as the work begins; with ``overwrite``, remove the previous run's files."""
        if self.overwrite:
            for old in run_files(self.path):
                old.unlink(missing_ok=True)  # torchrun ranks may race here
        self.path.mkdir(parents=True, exist_ok=True)
        self._before = {f: f.stat().st_mtime_ns for f in run_files(self.path)}

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

    def draw(self, name: str, plot: Callable[..., Path], *args: Any, **kwargs: Any) -> Path:
        """Draw ``plot(*args, path, **kwargs)`` into the file ``name`` of the folder, atomically."""
        return atomic_write(self.file(name), lambda tmp: plot(*args, tmp, **kwargs))

    def figure(self, name: str, plot: Callable[..., Path], *args: Any, caption: str = "", **kwargs: Any) -> Path:
        """Draw ``plot(*args, path, **kwargs)`` into ``figures/<name>.png`` atomically.

        The figure is remembered (with its caption) for the HTML report.
        """
        target = self.draw(f"figures/{name}.png", plot, *args, **kwargs)
        self.figures[name] = target
        self.captions[name] = caption
        return target

    def written(self) -> list[Path]:
        """The run files written (or rewritten) since :meth:`start`, by this run or the library it called."""
        if self._before is None:
            return []
        return [f for f in run_files(self.path) if self._before.get(f) != f.stat().st_mtime_ns]

    def status(self) -> str:
        """What this run left in the folder, in words (for a run that stopped early)."""
        states = [f for f in run_files(self.path) if f.parent == self.path and f.name.startswith("state")]
        results = [str(f.relative_to(self.path)) for f in self.written() if f not in states]
        if results:
            text = f"the run did not finish; it wrote {', '.join(results)} to {self.path}/"
        else:
            text = f"the run did not finish and wrote no results to {self.path}/"
        if states and self.resume_hint:
            text += f"; {self.resume_hint} are kept in {states[0].name}: run the same command with --resume to continue"
        return text

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """Run the work; Ctrl-C or a full disk inside ends it with a :class:`~bandlimit.cli.RunStopped`.

        The message says what was written (state files are never half-written: every write is
        atomic), so nothing claims results that are not there.
        """
        from bandlimit.cli import RunStopped

        try:
            yield
        except KeyboardInterrupt:
            raise RunStopped(f"interrupted (Ctrl-C): {self.status()}", 130) from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f" while writing {exc.filename}" if exc.filename else ""
            raise RunStopped(
                f"no space left on the device{where}: {self.status()}; free some space (or choose another --out) "
                "and run again",
                2,
            ) from exc
