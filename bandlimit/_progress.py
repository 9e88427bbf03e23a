"""The one progress display of bandlimit: a rich bar driven by ``update(description, completed, total)``.

Long functions (``evaluate``, ``fourier_heatmap``, training, the demo) report their progress
through a plain callback, :data:`Progress`; they never print. :func:`progress_bar` turns such
callbacks into a transient rich bar on a terminal, and into plain timestamped lines elsewhere
(a log file, CI, ``nohup``), where a bar would draw nothing for hours; :func:`progress_option`
lets a public function accept ``progress=True`` for that display.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["ConsoleLogHandler", "Progress", "notify", "progress_bar", "progress_option", "stderr_console"]

#: ``progress(description, completed, total)``; called after every unit of work (total 0 = unknown).
Progress = Callable[[str, int, int], None]

_F = TypeVar("_F", bound=Callable[..., Any])


@functools.cache
def stderr_console() -> Any:
    """The one rich console on stderr.

    Bars and log lines share it, so a log line is printed above a running bar, not over it.
    """
    from rich.console import Console

    return Console(stderr=True)


class ConsoleLogHandler(logging.Handler):
    """A logging handler that prints through :func:`stderr_console` (plain text, never markup)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stderr_console().print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # logging must never raise into the program; report it the logging way
            self.handleError(record)


@contextlib.contextmanager
def progress_bar(
    title: str, *, enabled: bool = True, console: Any = None, stderr: bool = True, transient: bool = True
) -> Iterator[Progress | None]:
    """A progress display for one long job; yields its ``update`` callback (None when disabled).

    On a terminal a rich bar (description, bar, count, elapsed time, time remaining); on
    anything else (``console.is_terminal`` false: a pipe, a file) one plain line per change of
    description and at most every :data:`LINE_INTERVAL` seconds otherwise, plus a last line,
    so a redirected log shows what runs.

    Args:
        title: Bold label in front of the current description.
        enabled: False yields None (nothing is drawn).
        console: The rich console to draw on (default: a new one on stderr or stdout).
        stderr: Where a new console draws.
        transient: Remove the bar when the job ends (terminal only).
    """
    if not enabled:
        yield None
        return
    from rich.console import Console

    target = console if console is not None else stderr_console() if stderr else Console()
    if not target.is_terminal:
        lines = _LineProgress(title, target)
        yield lines.update
        lines.finish()
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    columns = (TextColumn("[bold]{task.fields[title]}[/] {task.description}"), BarColumn(), MofNCompleteColumn())
    with RichProgress(*columns, TimeElapsedColumn(), TimeRemainingColumn(), console=target, transient=transient) as bar:
        task = bar.add_task("", total=None, title=title)

        def update(description: str, completed: int, total: int) -> None:
            bar.update(task, description=description, completed=completed, total=total or None)

        yield update


# The clock of the plain lines (a module attribute, so tests can drive it).
_clock = time.monotonic

#: Seconds between two plain progress lines with the same description (see :func:`progress_bar`).
LINE_INTERVAL = 30.0


class _LineProgress:
    """Plain progress lines: ``title: description  completed/total  elapsed 1m05s  ETA 3m10s``."""

    def __init__(self, title: str, console: Any) -> None:
        self.title, self.console = title, console
        self.start = _clock()
        self.last_line = -LINE_INTERVAL
        self.last: tuple[str, int, int] | None = None
        self.printed: tuple[str, int, int] | None = None

    def update(self, description: str, completed: int, total: int) -> None:
        now = _clock()
        changed = self.last is None or description != self.last[0]
        self.last = (description, completed, total)
        if changed or now - self.last_line >= LINE_INTERVAL or (total and completed >= total):
            self._line(now)

    def finish(self) -> None:
        if self.last is not None and self.last != self.printed:
            self._line(_clock())

    def _line(self, now: float) -> None:
        assert self.last is not None
        description, completed, total = self.last
        elapsed = now - self.start
        count = f"{completed}/{total}" if total else str(completed)
        eta = ""
        if total and 0 < completed < total:
            eta = f"  ETA {_duration(elapsed * (total - completed) / completed)}"
        self.console.print(
            f"{self.title}: {description}  {count}  elapsed {_duration(elapsed)}{eta}",
            markup=False, highlight=False, soft_wrap=True,
        )  # fmt: skip
        self.last_line, self.printed = now, self.last


def _duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``1h02m``."""
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def notify(progress: Progress | None, description: str, completed: int, total: int) -> None:
    """Call ``progress`` if one was given (library code itself never prints)."""
    if progress is not None:
        progress(description, completed, total)


def progress_option(title: str) -> Callable[[_F], _F]:
    """Let a function's ``progress`` argument also be ``True`` (a progress bar) or ``False``.

    The decorated function sees a callback or None: ``True`` becomes a transient rich
    progress bar on stderr for the duration of the call, ``False`` becomes None, and anything
    else that is not callable raises ``TypeError`` before any work.
    """

    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            flag = kwargs.get("progress")
            if flag is True:
                with progress_bar(title) as update:
                    return fn(*args, **{**kwargs, "progress": update})
            if flag is False:
                kwargs["progress"] = None
            elif flag is not None and not callable(flag):
                raise TypeError(
                    "progress: expected True (a progress bar), False/None, or a callable "
                    f"progress(description, completed, total), got {type(flag).__name__}"
                )
            return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
