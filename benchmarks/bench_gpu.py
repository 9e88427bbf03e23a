"""Benchmark: the one prepared GPU check (issue 14): every GPU number the project needs, in one command.

Claims checked, each a ratio measured side by side in this run where a reference exists:

* ``training``: the library's trainer (bf16 autocast, channels_last, uint8 data on the device,
  on-device crop and flip) trains ResNet-20 and PreAct ResNet-18 on the CIFAR-10 JPEG training
  set at >= 1.5x the images/s of a bare fp32 loop (same model, data, epochs and batch), with the
  test accuracy of both on the lossless test images.
* ``attacks``: a PGD or APGD step costs <= 1.10x a bare forward + input-gradient loop in fp32; with
  bf16 both run >= 1.8x faster than torchattacks (when importable) at equal robust accuracy
  (+-0.5 points); batched Square and SimBA queries/s against one image at a time; post-averaging's
  K·B forward against K plain forwards.
* ``analyses``: the full 32x32 Fourier heat map runs at >= 0.9x the model's raw forward rate.
* ``agreement``: the same seeded PGD, APGD and heat map agree on the CPU and the GPU.
* ``ddp``: the trainer's DDP path (one process, NCCL) gives the single-process run's weights.
* ``adversarial``: fast FGSM-RS training for a few epochs, clean and PGD-20 accuracy (record).

Hardware: one H100/H200; the full run takes about 6 minutes (``--budget-s`` stops starting new
sections when time runs out). Timing: CUDA events after a synchronize. Every section writes its
own wall time; the JSON is rewritten after each section, so a run cut short keeps what it had.

Usage (see benchmarks/README.md for the device-tool command)::

    python benchmarks/bench_gpu.py --data-root .data --out bench_gpu.json
    python benchmarks/bench_gpu.py --tiny                      # CPU smoke run, random data
    python benchmarks/bench_gpu.py --device cpu --scale 0.01 --data-root DIR   # reduced, on the CPU
"""

from __future__ import annotations

import argparse
import datetime
import logging
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # this checkout's packages (no install needed on the device)

from benchmarks import _gpu_attacks, _gpu_training  # noqa: E402
from benchmarks._gpu_common import JPEG_DIR, LOSSLESS, TINY, Context, Data, Report, Sizes  # noqa: E402

logger = logging.getLogger("bench_gpu")


@dataclass(frozen=True)
class Section:
    """One part of the run: what it measures, its function, its data and its full-size cost."""

    run: Callable[[Context], Report]
    what: str
    needs: tuple[str, ...]
    estimate_s: float


#: In running order: the goals first, the record-only fast adversarial training last.
SECTIONS: dict[str, Section] = {
    "training": Section(
        _gpu_training.training,
        "library trainer vs a bare fp32 loop: images/s and test accuracy (ResNet-20, PreAct ResNet-18)",
        ("train", "test"),
        170,
    ),
    "attacks": Section(
        _gpu_attacks.attacks,
        "PGD/APGD vs a bare loop (fp32, bf16) and torchattacks; Square/SimBA batched vs one image; post-averaging",
        ("test",),
        45,
    ),
    "analyses": Section(
        _gpu_attacks.analyses, "full Fourier heat map images·cells/s vs raw forward throughput", ("test",), 15
    ),
    "agreement": Section(
        _gpu_attacks.agreement, "the same seeded PGD, APGD and heat map on the CPU and the GPU", ("test",), 40
    ),
    "ddp": Section(
        _gpu_training.ddp, "the trainer's DDP path in one NCCL process vs the single-process run", ("train", "test"), 30
    ),
    "adversarial": Section(
        _gpu_training.adversarial,
        "fast FGSM-RS adversarial training, clean and PGD-20 accuracy (for the record)",
        ("train", "test"),
        75,
    ),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="bench_gpu", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-root", type=Path, default=ROOT / ".data", help=f"folder holding {JPEG_DIR}/ and {LOSSLESS}"
    )
    parser.add_argument("--out", type=Path, default=Path("bench_gpu.json"), help="JSON results file")
    parser.add_argument(
        "--only", nargs="+", choices=list(SECTIONS), metavar="SECTION", help=f"run only these: {', '.join(SECTIONS)}"
    )
    parser.add_argument(
        "--budget-s", type=float, default=420.0, help="start no section that would end past this many seconds"
    )
    parser.add_argument("--tiny", action="store_true", help="every section on the CPU, tiny sizes, random data")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply image counts and epochs (e.g. 0.01 on a CPU)"
    )
    parser.add_argument("--device", default=None, help="default: cuda when present (--tiny: cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ddp-worker", nargs=2, metavar=("DIR", "MODE"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def no_cuda_message() -> str:
    """What is printed when no CUDA device is present: why nothing ran and what would be measured."""
    lines = [
        "No CUDA device is present: bench_gpu measures GPU numbers, so nothing was measured.",
        "On one GPU it measures (each section reports its wall time):",
        *(f"  {name:12s} {s.what}" for name, s in SECTIONS.items()),
        "Run it with --tiny for a CPU smoke run of every section, or with --device cpu --scale 0.01 "
        "--data-root DIR for reduced sizes on the CPU.",
    ]
    return "\n".join(lines)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=140)


def _table(name: str, wall_s: float, report: Report) -> Any:
    from rich.table import Table

    table = Table(title=f"{name} ({wall_s:.1f} s)", title_justify="left")
    for column in ("measure", "value", "goal / note"):
        table.add_column(column)
    for row in report.rows:
        table.add_row(*row)
    return table


def run_sections(ctx: Context, names: list[str], budget_s: float, payload: dict[str, Any], out: Path) -> None:
    """Run ``names`` in order, printing a table and rewriting ``out`` after each."""
    from bandlimit._io import write_json

    console = _console()
    s = ctx.sizes
    console.print(
        f"bench_gpu on {payload['device']} (torch {torch.__version__}); sections {', '.join(names)}; budget "
        f"{budget_s:.0f} s; {s.train_images} training images, batch {s.batch}, "
        f"{', '.join(f'{m} {e} epochs' for m, e in s.train_models)}"
    )
    start = time.perf_counter()
    # Observed / estimated time of the sections run so far (starts at the run's scale).
    spent, estimated = 0.0, 0.0
    factor = 0.01 if ctx.tiny else min(1.0, payload["scale"])
    for name in names:
        section = SECTIONS[name]
        elapsed = time.perf_counter() - start
        if estimated:
            factor = spent / estimated
        need = factor * section.estimate_s
        if elapsed + need > budget_s:
            why = f"budget: {elapsed:.0f} s of {budget_s:.0f} s used, this section needs about {need:.0f} s"
            payload["skipped"][name] = why
            console.print(f"[bold yellow]skipped {name}[/]: {why}")
            write_json(out, payload)
            continue
        t0 = time.perf_counter()
        try:
            report = section.run(ctx)
        except Exception as exc:  # one broken section must not cost the others their numbers
            wall = time.perf_counter() - t0
            payload["sections"][name] = {"error": f"{type(exc).__name__}: {exc}", "wall_s": wall}
            console.print(f"[bold red]{name} failed after {wall:.1f} s[/]\n{traceback.format_exc()}")
        else:
            wall = time.perf_counter() - t0
            payload["sections"][name] = {"wall_s": wall, **asdict(report)}
            console.print(_table(name, wall, report))
            for note in report.notes:
                console.print(f"  {note}", style="dim")
        spent += wall
        estimated += section.estimate_s
        payload["total_wall_s"] = time.perf_counter() - start
        write_json(out, payload)
    goals = [(n, g) for n, s in payload["sections"].items() for g in s.get("goals", {}).values()]
    met = sum(g["met"] for _, g in goals)
    console.print(f"goals met: {met} of {len(goals)}; total {payload['total_wall_s']:.1f} s; results in {out}")


def main(argv: list[str] | None = None) -> int:
    """Run the selected sections and write the JSON; returns the exit code."""
    args = parse_args(argv)
    if args.ddp_worker:
        return _gpu_training.ddp_worker(*args.ddp_worker)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    wanted = "cpu" if args.tiny else args.device or "cuda"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        print(no_cuda_message())
        return 0 if args.device is None else 1
    device = torch.device(wanted)
    sizes: Sizes = TINY if args.tiny else Sizes().scaled(args.scale) if args.scale != 1.0 else Sizes()
    names = [n for n in SECTIONS if args.only is None or n in args.only]
    data = Data(None if args.tiny else args.data_root, sizes, args.seed)
    missing = data.missing(tuple(sorted({need for n in names for need in SECTIONS[n].needs})))
    if missing:
        print(
            f"bench_gpu: missing {', '.join(map(str, missing))}\n--data-root must hold {JPEG_DIR}/ (extract "
            f"cifar10_jpeg_q75.tar.gz there) and {LOSSLESS}, both from shared/data/cifar10/ (see "
            "benchmarks/README.md), or use --tiny.",
            file=sys.stderr,
        )
        return 2
    from bandlimit._env import environment

    payload: dict[str, Any] = {
        "benchmark": "bench_gpu",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "tiny": args.tiny,
        "scale": args.scale,
        "budget_s": args.budget_s,
        "sizes": asdict(sizes),
        "cudnn": {"tf32": torch.backends.cudnn.allow_tf32, "benchmark": torch.backends.cudnn.benchmark},
        "environment": environment(device),
        "sections": {},
        "skipped": {},
        "total_wall_s": 0.0,
    }
    ctx = Context(device=device, sizes=sizes, data=data, seed=args.seed, tiny=args.tiny)
    run_sections(ctx, names, args.budget_s, payload, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
