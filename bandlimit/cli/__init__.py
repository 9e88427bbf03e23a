"""The ``bandlimit`` command line: the application layer, the one place importing all three packages.

bandlimit, attacks and defenses meet here and nowhere else. Each sub-command lives in its own
module here and exposes ``register(subparsers)``, which adds its parser and sets ``func`` to a
callable ``(args) -> int``. Names the user writes become objects in :mod:`~bandlimit.cli.names`
(models, attacks, defences, through the packages' own registries) and
:mod:`~bandlimit.cli.suites` (attack suites); specs are parsed by :mod:`~bandlimit.cli.specs`.

Errors that come from bad user input are raised at that boundary as ``ValueError`` (or
``FileNotFoundError`` / ``PermissionError``) naming the fix, and are shown as one line with exit
code 2; anything else (a ``TypeError`` from inside the library, say) is a bug and keeps its
traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from rich.console import Console

from bandlimit import __version__

__all__ = ["COMMANDS", "console", "main"]

#: Sub-command modules, in the order ``bandlimit --help`` lists them.
COMMANDS = ("demo", "evaluate", "heatmap", "spectrum", "train", "models", "bench")

console = Console(stderr=False)
err_console = Console(stderr=True)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every sub-command."""
    parser = argparse.ArgumentParser(
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
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted: results written so far are marked incomplete[/]")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
