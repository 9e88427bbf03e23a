"""The one progress display of bandlimit: a rich bar driven by ``update(description, completed, total)``.

Long functions (``evaluate``, ``fourier_heatmap``, training, the demo) report their progress
through a plain callback, :data:`Progress`; they never print. :func:`progress_bar` turns such
callbacks into a transient rich bar; :func:`progress_option` lets a public function accept
``progress=True`` for that bar.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

__all__ = ["Progress", "notify", "progress_bar", "progress_option"]

#: ``progress(description, completed, total)``; called after every unit of work (total 0 = unknown).
Progress = Callable[[str, int, int], None]

_F = TypeVar("_F", bound=Callable[..., Any])


@contextlib.contextmanager
def progress_bar(
    title: str, *, enabled: bool = True, console: Any = None, stderr: bool = True, transient: bool = True
) -> Iterator[Progress | None]:
    """A rich progress bar for one long job; yields its ``update`` callback (None when disabled).

    Args:
        title: Bold label in front of the current description.
        enabled: False yields None (nothing is drawn).
        console: The rich console to draw on (default: a new one on stderr or stdout).
        stderr: Where a new console draws.
        transient: Remove the bar when the job ends.
    """
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    target = console if console is not None else Console(stderr=stderr)
    columns = (TextColumn("[bold]{task.fields[title]}[/] {task.description}"), BarColumn(), MofNCompleteColumn())
    with RichProgress(
        *columns, TimeElapsedColumn(), TimeRemainingColumn(), console=target, transient=transient
    ) as bar:
        task = bar.add_task("", total=None, title=title)

        def update(description: str, completed: int, total: int) -> None:
            bar.update(task, description=description, completed=completed, total=total or None)

        yield update


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
