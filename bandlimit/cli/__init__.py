"""The ``bandlimit`` command line (application layer: may import bandlimit, attacks, defenses).

Each sub-command lives in its own module here and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` to a callable ``(args) -> int``. Errors that come from bad
user input (``ValueError``, ``TypeError``, ``FileNotFoundError``) are shown as one clear line
with exit code 2; anything else is a bug and keeps its traceback.
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
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="bandlimit",
        description="Adversarial robustness through the frequency domain.",
    )
    parser.add_argument("--version", action="version", version=f"bandlimit {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"bandlimit.cli.{name}")
        except ModuleNotFoundError as exc:
            # Only a missing command module is tolerated (work in progress); a missing
            # dependency inside an existing module must surface.
            if exc.name != f"bandlimit.cli.{name}":
                raise
            continue
        module.register(sub)
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
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        err_console.print(f"[bold red]error:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted: results written so far are marked incomplete[/]")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
