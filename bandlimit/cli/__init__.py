"""The ``bandlimit`` command line: the application layer, the one place importing all three packages.

bandlimit, attacks and defenses meet here and nowhere else. Each sub-command lives in its own
module here and exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable ``(args) -> int``. Names the user writes become objects in :mod:`~bandlimit.cli.names`
(models, attacks, defences, through the packages' own registries) and
:mod:`~bandlimit.cli.suites` (attack suites); specs are parsed by :mod:`~bandlimit.cli.specs`.

Errors that come from bad user input are raised at that boundary as ``ValueError`` (or
``FileNotFoundError`` / ``PermissionError``) naming the fix, and are shown as one line with exit
code 2, as are errors of the machine (``OSError``: a full disk, a file that cannot be read);
anything else (a ``TypeError`` from inside the library, say) is a bug and keeps its traceback.
A run stopped by Ctrl-C or a full disk raises :class:`RunStopped`, whose message says what was
written (see :meth:`bandlimit.cli._runs.RunFolder.guard`).
"""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from rich.console import Console
from rich.markup import escape

from bandlimit import __version__
from bandlimit._progress import ConsoleLogHandler, stderr_console

__all__ = ["COMMANDS", "RunStopped", "console", "main"]

#: Sub-command modules, in the order ``bandlimit --help`` lists them.
COMMANDS = ("demo", "evaluate", "heatmap", "spectrum", "train", "models", "bench")

# Outside a terminal (a log file, a pipe, CI) rich would assume 80 columns and cut table cells
# to "natu…"; give logs room instead (a COLUMNS setting still wins).
_LOG_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
console = Console(stderr=False, width=_LOG_WIDTH)
err_console = stderr_console()


class RunStopped(Exception):
    """A run that ended early for a reason outside the program (Ctrl-C, a full disk).

    Args:
        message: What happened and what was written, in one line.
        code: The exit code (130 for Ctrl-C, 2 for a full disk).
    """

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _say(prefix: str, message: object) -> None:
    """Print ``prefix message`` on stderr as one line (never wrapped, never read as markup)."""
    text = " ".join(str(message).split())
    err_console.print(f"{prefix} {escape(text)}", soft_wrap=True)


class _UsageError(Exception):
    """A command line argparse cannot parse (raised instead of argparse's exit with the usage text)."""

    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors become one line and exit code 2 in :func:`main`."""

    def error(self, message: str) -> NoReturn:
        """Raise :class:`_UsageError` (argparse would print the usage and exit)."""
        raise _UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    parser = _Parser(
        prog="bandlimit",
        description="Adversarial robustness through the frequency domain.",
    )
    parser.add_argument("--version", action="version", version=f"bandlimit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"bandlimit.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bandlimit`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        # Unknown options are found by the top parser, after the command's: name the command's help.
        command = next((a for a in (argv if argv is not None else sys.argv[1:]) if a in COMMANDS), None)
        prog = f"bandlimit {command}" if exc.prog == "bandlimit" and command else exc.prog
        _say("[bold red]error:[/]", f"{prog}: {exc}; see {prog} --help")
        return 2
    handler = ConsoleLogHandler()  # through the console the progress bars draw on: never over a bar
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except RunStopped as exc:
        _say("[bold red]error:[/]" if exc.code == 2 else "[yellow]stopped:[/]", exc.message)
        return exc.code
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        _say("[bold red]error:[/]", exc)
        return 2
    except OSError as exc:  # the machine's, not the program's: a full disk, an unreadable file
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            text = f"no space left on the device{where}; files written before are intact (every write is atomic)"
        else:
            text = f"{exc.strerror or exc}{where}"
        _say("[bold red]error:[/]", text)
        return 2
    except KeyboardInterrupt:
        # Commands that write results turn Ctrl-C into RunStopped with what they wrote; here
        # nothing is claimed.
        _say("[yellow]stopped:[/]", "interrupted (Ctrl-C)")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
