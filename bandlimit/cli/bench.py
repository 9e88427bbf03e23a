"""``bandlimit bench``: run a benchmark script of the source checkout side by side.

The benchmarks (``benchmarks/bench_*.py``) print ratios measured in one run (our PGD vs a
bare forward+gradient loop and vs torchattacks, batched vs one-image SimBA, post-averaging vs
K plain forwards); ``bench gpu`` is the one prepared GPU check (``benchmarks/README.md``).
They are scripts of the repository, not of the installed package, so this command looks for
them beside the package (an editable install) or under the current folder.
"""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from bandlimit.cli._settings import add_command

__all__ = ["find_benchmarks", "register", "run"]


def find_benchmarks() -> dict[str, Path]:
    """Benchmark name (``pgd`` for ``bench_pgd.py``) -> script path, from the first folder found."""
    candidates = [Path(__file__).resolve().parents[2] / "benchmarks", Path.cwd() / "benchmarks"]
    for folder in candidates:
        scripts = sorted(folder.glob("bench_*.py"))
        if scripts:
            return {p.stem.removeprefix("bench_"): p for p in scripts}
    return {}


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``bench`` sub-command."""
    summary = "run a benchmark (pgd, apgd, blackbox, defenses, heatmap, gpu, ...) and print measured numbers"
    p = add_command(sub, "bench", run, help=summary, doc=__doc__)
    p.add_argument("name", nargs="?", help="benchmark to run; omit to list them")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script (see NAME --help)")


def run(args: argparse.Namespace) -> int:
    """List the benchmarks or run one; returns the script's exit code."""
    from bandlimit.cli import console

    scripts = find_benchmarks()
    if not scripts:
        raise FileNotFoundError(
            "no benchmarks/bench_*.py found beside the package or in the current folder; the "
            "benchmarks ship with the source repository: run this command from a clone"
        )
    if not args.name:
        width = max(map(len, scripts))
        for name, path in scripts.items():
            console.print(f"{name:{width}s}  {path}")
        return 0
    if args.name not in scripts:
        raise ValueError(f"unknown benchmark {args.name!r}: expected one of {sorted(scripts)}")
    path = scripts[args.name]
    saved = sys.argv
    sys.argv = [str(path), *args.args]
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exc:  # scripts end with sys.exit(main()); keep their code
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    finally:
        sys.argv = saved
    return 0
