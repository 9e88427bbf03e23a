"""``bandlimit demo``: the main job on the shipped models and samples (≤ 3 min on 2 CPU cores)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

__all__ = ["register", "run"]


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    from bandlimit.app.demo import DemoConfig

    defaults = DemoConfig()
    p = sub.add_parser(
        "demo",
        help="robust accuracy, masking checks, heat maps and spectra of the shipped models",
        description=(
            "Evaluate the shipped natural, Gaussian and fast-AT ResNet-20s and two defences "
            "(post-averaging, low-pass) on the shipped CIFAR-10 sample with PGD, PGD-EOT, "
            "SimBA-DCT and the Fourier-basis attack; draw heat maps and perturbation spectra; "
            "write results.json, figures and report.html."
        ),
    )
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="results folder (default runs/demo)")
    p.add_argument("--n", type=int, default=defaults.n, help=f"images per undefended model (default {defaults.n})")
    p.add_argument("--n-defended", type=int, default=defaults.n_defended, help="images per defended model")
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    for key in ("natural", "gaussian", "fastat"):
        p.add_argument(f"--{key}", default=getattr(defaults, key), help=f"model for the {key} slot")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print its tables; returns the exit code."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from bandlimit.app.demo import DemoConfig, run_demo
    from bandlimit.app.demo_report import COLUMN_NOTES, PERCENT_COLUMNS, ROW_COLUMNS
    from bandlimit.cli import console
    from bandlimit.reports import heatmap_panel, results_table

    for name in ("n", "n_defended"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag}: expected a positive number of images, got {getattr(args, name)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not _writable(out):
        raise PermissionError(f"--out {out}: the folder cannot be written; choose another with --out")
    cfg = dataclasses.replace(
        DemoConfig(),
        n=args.n,
        n_defended=args.n_defended,
        seed=args.seed,
        threads=args.threads,
        natural=args.natural,
        gaussian=args.gaussian,
        fastat=args.fastat,
    )
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task("demo", total=None)

        def stage(desc: str, done: int, total: int) -> None:
            progress.update(task, description=desc, completed=done, total=total)

        result = run_demo(cfg, out, stage=stage)
    console.print(
        results_table(
            result.rows, columns=ROW_COLUMNS, percent=PERCENT_COLUMNS, title="Robust accuracy (CIFAR-10 sample)"
        )
    )
    console.print(f"[dim]{COLUMN_NOTES}[/]")
    for name, evals in result.evaluations.items():
        for finding in evals["attacks"].findings:
            console.print(f"[yellow]check[/] {name}: {finding.message}\n  [dim]what to do:[/] {finding.advice}")
    for verdict in result.verdicts:
        console.print(f"[bold]→[/] {verdict}")
    console.print(heatmap_panel(result.heatmaps["natural"].error, title="Fourier heat map: natural model"))
    console.print(f"results: {out / 'results.json'}\nreport:  {out / 'report.html'}  ({result.time_s:.0f} s)")
    return 0


def _writable(folder: Path) -> bool:
    probe = folder / ".write-probe"
    try:
        probe.write_text("ok")
        probe.unlink()
        return True
    except OSError:
        return False
