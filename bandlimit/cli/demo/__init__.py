"""``bandlimit demo``: the main job on the shipped models and samples (≤ 3 min on 2 CPU cores).

The demo in one place: this module is the command, :mod:`~bandlimit.cli.demo.measure` runs
the attacks and analyses, :mod:`~bandlimit.cli.demo.folder` writes the results folder.

Its folder (default ``runs/demo``) follows the rule of every results folder, with one
exception: a folder holding an *earlier demo's* results (``results.json`` of schema
``bandlimit-demo/...``) is replaced, with a note, because the demo is seeded and cheap and
``make demo`` is meant to be run again; a folder holding any other run's results is refused
unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from bandlimit._threads import set_threads

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    from bandlimit.cli.demo.measure import DemoConfig

    defaults = DemoConfig()
    p = sub.add_parser(
        "demo",
        help="robust accuracy, masking checks, heat maps and spectra of the shipped models",
        description=(
            "Evaluate the shipped natural, Gaussian and fast-AT ResNet-20s and two defences "
            "(post-averaging, low-pass) on the shipped CIFAR-10 sample with PGD, PGD-EOT, "
            "SimBA-DCT and the Fourier-basis attack; draw heat maps and perturbation spectra; "
            "write results.json, figures and report.html. An earlier demo's results in --out are replaced; "
            "another run's are refused unless --overwrite."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="results folder (default runs/demo)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace another run's results in --out (an earlier demo's always are)"
    )
    p.add_argument("--n", type=int, default=defaults.n, help=f"images per undefended model (default {defaults.n})")
    p.add_argument("--n-defended", type=int, default=defaults.n_defended, help="images per defended model")
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help=f"seed of every random draw (default {defaults.seed})"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (>= 1; default: the cores not busy)"
    )
    for key in ("natural", "gaussian", "fastat"):
        p.add_argument(f"--{key}", default=getattr(defaults, key), help=f"model for the {key} slot")
    p.set_defaults(func=run)


def _earlier_demo(out: Path) -> bool:
    """Whether ``out`` holds the results of an earlier demo (its ``results.json`` says so)."""
    try:
        schema = json.loads((out / "results.json").read_text(encoding="utf-8")).get("schema")
    except (OSError, ValueError, AttributeError):
        return False
    return str(schema).startswith("bandlimit-demo/")


def run(args: argparse.Namespace) -> int:
    """Run the demo, write its folder and print its tables; returns the exit code."""
    from rich.markup import escape

    from bandlimit._progress import progress_bar
    from bandlimit.cli import console
    from bandlimit.cli._output import print_panel
    from bandlimit.cli._runs import RunFolder
    from bandlimit.cli._settings import check_minimum
    from bandlimit.cli.demo.folder import COLUMN_NOTES, PERCENT_COLUMNS, ROW_COLUMNS, finding_text, write_demo_folder
    from bandlimit.cli.demo.measure import DemoConfig, run_demo
    from bandlimit.reports import heatmap_panel, results_table

    for name in ("n", "n_defended"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag}: expected a positive number of images, got {getattr(args, name)}")
    check_minimum("seed", args.seed)
    check_minimum("threads", args.threads)
    replace = _earlier_demo(args.out)
    folder = RunFolder.prepare(args.out, "demo", overwrite=args.overwrite or replace)
    out = folder.path
    if replace:
        console.print(f"[dim]replacing the results of the earlier demo in {out}/[/]")
    given = ("n", "n_defended", "seed", "threads", "natural", "gaussian", "fastat")  # the demo's options
    cfg = dataclasses.replace(DemoConfig(), **{name: getattr(args, name) for name in given})
    set_threads(cfg.threads)
    with folder.guard():
        with progress_bar("demo", console=console) as progress:  # plain lines outside a terminal
            result = run_demo(cfg, progress=progress)
        folder.start()
        result.files = write_demo_folder(result, folder)
    console.print(
        results_table(
            result.rows, columns=ROW_COLUMNS, percent=PERCENT_COLUMNS, title="Robust accuracy (CIFAR-10 sample)"
        )
    )
    console.print(f"[dim]{COLUMN_NOTES}[/]")
    for name, evals in result.evaluations.items():
        for finding in evals["attacks"].findings:
            console.print(f"[yellow]check[/] {escape(finding_text(name, finding))}")
    for verdict in result.verdicts:
        console.print(f"[bold]→[/] {verdict}")
    print_panel(console, heatmap_panel(result.heatmaps["natural"].error, title="Fourier heat map: natural model"))
    console.print(f"results: {out / 'results.json'}\nreport:  {out / 'report.html'}  ({result.time_s:.0f} s)")
    return 0
