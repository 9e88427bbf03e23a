"""Run every paper-reproduction script, one after another, and gather their results.

    python experiments/run_all.py                   # CPU scale -> experiments/results/<name>/
    python experiments/run_all.py --full            # paper scale (a GPU) -> experiments/results_full/<name>/
    python experiments/run_all.py --full --only sharma_band_pgd guo_simba --budget-s 500

Each script runs in its own process (a crash or a hang in one leaves the others' results), with
``--device`` passed on, a wall-clock limit per script (``--timeout-s``: 600 s with ``--full``,
the issue's "<= 10 minutes each on one H100/H200"; 1,800 s at CPU scale) and a total budget
(``--budget-s``): a script whose expected time would end past the budget is not started, and the
record says so. Each script's log goes to ``<out>/<name>/run.log``; ``<out>/run_all.json``
records, per script, its command, exit status, seconds and whether it was skipped. At the end
``tools/gather_results.py`` rebuilds ``experiments/RESULTS.md`` (it reads both result folders;
``--no-gather`` skips it).

On the device machine ``../shared`` is not there: copy the files the scripts read into a
carried folder and point ``BANDLIMIT_SHARED`` at it (``experiments/README.md`` has the
command).
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LOG = logging.getLogger("run_all")

#: The scripts in running order, with the expected seconds of their ``--full`` run on one
#: H100/H200 (estimates from their CPU costs, as each script's docstring explains: no GPU was
#: lent yet) and of the default CPU-scale run (1.5x the times measured by this runner on a quiet
#: 2-core machine on 2026-11-30; each SUMMARY.md has its exact time).
SCRIPTS: dict[str, dict[str, float]] = {
    "sharma_band_pgd": {"full": 60, "cpu": 130},
    "xu_fprinciple": {"full": 300, "cpu": 220},
    "rahaman_spectral_bias": {"full": 300, "cpu": 290},
    "guo_simba": {"full": 420, "cpu": 120},
    "lin_post_averaging": {"full": 360, "cpu": 160},
    "wang_hfc": {"full": 540, "cpu": 250},
    "yin_fourier_perspective": {"full": 300, "cpu": 130},
    "yin_imagenet": {"full": 480, "cpu": 140},
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="each script's paper-scale --full settings")
    parser.add_argument("--only", nargs="+", choices=sorted(SCRIPTS), help="run only these scripts")
    parser.add_argument("--device", default="auto", help="passed to every script: auto, cpu, cuda, cuda:N")
    parser.add_argument(
        "--timeout-s",
        type=float,
        default=None,
        help="wall-clock limit per script (s; default 600 with --full, else 1800)",
    )
    parser.add_argument("--budget-s", type=float, default=float("inf"), help="start no script past this total (s)")
    parser.add_argument("--out", type=Path, default=None, help="results folder (default: results or results_full)")
    parser.add_argument("--gather", action=argparse.BooleanOptionalAction, default=True, help="rebuild RESULTS.md")
    args = parser.parse_args(argv)
    if args.timeout_s is None:
        # --full is sized for <= 10 min per script on a GPU; a CPU-scale run on a loaded 2-core
        # machine can take twice its quiet time.
        args.timeout_s = 600.0 if args.full else 1800.0
    if args.timeout_s <= 0 or args.budget_s <= 0:
        parser.error("--timeout-s and --budget-s must be positive")
    return args


def run_one(name: str, args: argparse.Namespace, out: Path) -> dict[str, object]:
    """Run ``experiments/<name>.py`` in a subprocess; returns its record for run_all.json."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--device", args.device, "--out-dir", str(folder)]
    if args.full:
        cmd.insert(2, "--full")
    record: dict[str, object] = {"command": " ".join(cmd[1:]), "skipped": False}
    start = time.perf_counter()
    with (folder / "run.log").open("w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=args.timeout_s)
            record["returncode"] = proc.returncode
        except subprocess.TimeoutExpired:
            record["returncode"] = None
            record["timed_out"] = True
    record["seconds"] = round(time.perf_counter() - start, 1)
    ok = record["returncode"] == 0
    LOG.log(
        logging.INFO if ok else logging.ERROR,
        "%s: %s in %.0f s (log: %s)",
        name,
        "done" if ok else "FAILED" if not record.get("timed_out") else "timed out",
        record["seconds"],
        folder / "run.log",
    )
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """Run the scripts; returns 0 when every started script succeeded, 1 otherwise."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    out = args.out or HERE / ("results_full" if args.full else "results")
    out.mkdir(parents=True, exist_ok=True)
    names = [n for n in SCRIPTS if not args.only or n in args.only]
    scale = "full" if args.full else "cpu"
    records: dict[str, dict[str, object]] = {}
    start = time.perf_counter()
    for i, name in enumerate(names, 1):
        elapsed = time.perf_counter() - start
        expected = min(SCRIPTS[name][scale], args.timeout_s)
        if elapsed + expected > args.budget_s:
            LOG.warning(
                "%s: not started (expected %.0f s, %.0f s of the budget left)", name, expected, args.budget_s - elapsed
            )
            records[name] = {"skipped": True, "reason": f"budget: expected {expected:.0f} s"}
            continue
        LOG.info("[%d/%d] %s (expected ~%.0f s)", i, len(names), name, expected)
        records[name] = run_one(name, args, out)
        (out / "run_all.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    (out / "run_all.json").write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
    if args.gather:
        subprocess.run([sys.executable, str(REPO / "tools" / "gather_results.py")], cwd=REPO, check=False)
    failed = [n for n, r in records.items() if not r["skipped"] and r.get("returncode") != 0]
    if failed:
        LOG.error("failed: %s", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
