"""``bandlimit models``: list the model registry as a table.

Example::

    bandlimit models                       # every registered name
    bandlimit models --pattern 'resnet*'   # shell-style filter (fnmatch), repeatable
    bandlimit models --pretrained          # only names with pretrained weights
    bandlimit models --card resnet20-natural

The "weights" column says whether ``create_model(name, pretrained=True)`` works offline now:
``yes`` (available), ``download`` (torchvision weights not in the torch hub cache yet; fetch once
with ``allow_download=True``), ``missing`` (shipped weights not installed), ``needs pkg``
(optional dependency), ``-`` (architecture only). Any torchvision classifier also works as
``tv_<name>`` without being listed.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.markdown import Markdown
from rich.table import Table

from bandlimit.cli._settings import add_command

__all__ = ["register", "run"]

_WEIGHTS_LABEL = {
    "available": "[green]yes[/]",
    "download": "[yellow]download[/]",
    "missing": "[red]missing[/]",
    "needs-package": "[yellow]needs pkg[/]",
    "none": "-",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``models`` sub-command."""
    summary = "list the registered models (name, family, parameters, input size, weights)"
    p = add_command(subparsers, "models", run, help=summary, doc=__doc__)
    p.add_argument(
        "--pattern",
        action="append",
        metavar="GLOB",
        help="only names matching this shell-style pattern (repeatable), e.g. 'resnet*'",
    )
    p.add_argument("--pretrained", action="store_true", help="only names that have pretrained weights")
    p.add_argument("--card", metavar="NAME", help="print the model card of a shipped pretrained model and exit")


def _params(n: int | None) -> str:
    if n is None:
        return "?"
    return f"{n / 1e6:.2f}M" if n >= 1e5 else f"{n / 1e3:.1f}K"


def _row(info: dict[str, Any]) -> list[str]:
    size = info["input_size"]
    return [
        info["name"],
        f"{info['family']} ({info['dataset'] or '?'})",
        _params(info["params"]),
        "x".join(str(v) for v in size[1:]) if size else "?",
        str(info["num_classes"]) if info["num_classes"] is not None else "?",
        _WEIGHTS_LABEL.get(info["weights"], info["weights"]),
    ]


def run(args: argparse.Namespace) -> int:
    """Print the registry table (or a model card); returns the exit code."""
    from bandlimit.cli import console
    from bandlimit.models import list_models, model_card, model_info

    if args.card:
        console.print(Markdown(model_card(args.card)))
        return 0
    patterns = args.pattern or ["*"]
    names = list_models(patterns, pretrained=args.pretrained)
    if not names:
        raise ValueError(
            f"--pattern: no model matches {patterns}; expected a shell-style pattern such as 'resnet*' "
            "(run `bandlimit models` for all names)"
        )
    table = Table(title="bandlimit models", header_style="bold")
    table.add_column("name", no_wrap=True)
    table.add_column("family (dataset)")
    for column in ("params", "input", "classes", "weights"):
        table.add_column(column, justify="right" if column in ("params", "classes") else "left", no_wrap=True)
    notes = []
    for name in names:
        info = model_info(name)
        table.add_row(*_row(info))
        if info["error"]:
            notes.append(f"{name}: {info['error']}")
    console.print(table)
    for note in notes:
        console.print(f"[dim]{note}[/]")
    console.print("[dim]Any torchvision classifier is also available as tv_<name> (e.g. tv_resnet101).[/]")
    return 0
