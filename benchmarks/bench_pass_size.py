"""CPU pass sizes, measured the way users run them: at torch's default thread count and at one.

Claim checked (issue 14): with the library's default pass size on the CPU,

* post-averaging with K samples of B images costs at most 1.1x the same K·B images in the
  fastest plain pass size,
* the Fourier heat map's perturbed images cost at most 1.1x the same number of images in the
  fastest plain pass size,
* SimBA at its default pass size costs at most 1.1x SimBA at the fastest explicit one
  (``batch_size``; its passes hold one candidate per still-active image),

at the default thread count (what a user gets) and at one thread (what a user who sets
``OMP_NUM_THREADS=1`` gets). Everything is measured in one run, interleaved (every candidate
once per repeat, in turn), **wall** time, median of ``--repeats``: at several threads process CPU
time also counts the threads' spinning, which is not what a user waits for, so the machine must
be quiet (the script prints the load average before and after).

Usage: ``python benchmarks/bench_pass_size.py [--images 64] [--samples 32] [--repeats 3]``
(public ResNet-20 when ``shared/`` is beside the repository, else the shipped natural model;
random weights are as good for timing). ``--json PATH`` writes the table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from attacks.simba import SimBA  # noqa: E402
from bandlimit import _torch  # noqa: E402
from bandlimit.evaluation import fourier_heatmap  # noqa: E402
from defenses.post_averaging import PostAveraging  # noqa: E402

PLAIN_SIZES = (16, 32, 64, 128, 256, 512, 1024, 2048)


def interleaved(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each callable, every one run once per repeat in turn (after a warm-up)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def plain(model: nn.Module, images: Tensor, size: int) -> Callable[[], object]:
    """Forward ``images`` in passes of ``size``."""

    def go() -> object:
        with torch.no_grad():
            return [model(chunk) for chunk in images.split(size)]

    return go


def measure(model: nn.Module, x: Tensor, y: Tensor, samples: int, repeats: int) -> dict[str, object]:
    """One thread setting: plain pass sizes and the three library paths at their defaults."""
    n = x.shape[0]
    total = n * samples
    big = x.repeat(samples, 1, 1, 1)
    block = 8  # heat map: the central 8x8 = 64 cells, total // 64 images (+ one clean pass each)
    heat_imgs = max(1, total // block**2)
    xh, yh = x.repeat(-(-heat_imgs // n), 1, 1, 1)[:heat_imgs], y.repeat(-(-heat_imgs // n))[:heat_imgs]
    defended = PostAveraging(model, radius=1.0, samples=samples, seed=0)
    simba_sizes = sorted({16, 32, n})
    simba = {size: SimBA(step=0.05, max_queries=samples, batch_size=size) for size in simba_sizes}
    simba[0] = SimBA(step=0.05, max_queries=samples)  # 0: the default

    fns: dict[str, Callable[[], object]] = {f"plain {s}": plain(model, big, s) for s in PLAIN_SIZES}

    def post() -> object:
        with torch.no_grad():
            return defended(x)

    def heat() -> object:
        return fourier_heatmap(model, (xh, yh), norm=4.0, cells=f"central:{block}", batch_size=heat_imgs)

    def query(size: int) -> Callable[[], object]:
        return lambda: simba[size].run(model, x, y, generator=torch.Generator().manual_seed(0))

    fns.update({"post-averaging": post, "heat map": heat})
    fns.update({f"SimBA {size}": query(size) for size in simba})
    t = interleaved(fns, repeats)
    best_size = min(PLAIN_SIZES, key=lambda s: t[f"plain {s}"])
    best = t[f"plain {best_size}"]
    t["SimBA"] = t["SimBA 0"]
    simba_best = min(t[f"SimBA {size}"] for size in simba_sizes)
    return {
        "threads": torch.get_num_threads(),
        "default_pass": _torch.pass_size(None, torch.device("cpu"), None),
        "images": total,
        "plain_s": {s: t[f"plain {s}"] for s in PLAIN_SIZES},
        "fastest_plain": best_size,
        "ratios": {
            "post-averaging": t["post-averaging"] / best,
            "heat map": t["heat map"] / best,
            "SimBA": t["SimBA"] / simba_best,
        },
        "simba_s": {size: t[f"SimBA {size}"] for size in simba_sizes},
        "seconds": {k: t[k] for k in ("post-averaging", "heat map", "SimBA")},
    }


def load(n: int) -> tuple[nn.Module, Tensor, Tensor, str]:
    """The public ResNet-20 on lossless test images when shared/ is there, else shipped model and sample."""
    from bandlimit.data import load_dataset, to_tensors
    from bandlimit.models import create_model, load_checkpoint

    weights = ROOT.parent / "shared" / "weights" / "resnet20-12fca82f.th"
    if weights.exists():
        model, what = load_checkpoint(weights, create_model("resnet20")), "public ResNet-20"
    else:
        model, what = create_model("resnet20-natural", pretrained=True), "shipped natural ResNet-20"
    x, y = to_tensors(load_dataset("cifar10-sample"), n=n)
    return model.eval().requires_grad_(False), x, y, what


def main(argv: list[str] | None = None) -> int:
    """Measure at the default thread count and at one thread; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=64, help="B, images per call")
    parser.add_argument("--samples", type=int, default=32, help="K, post-averaging samples (K*B images)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=None, help="default: torch's default, then 1")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    default_threads = torch.get_num_threads()
    threads = args.threads or sorted({default_threads, 1}, reverse=True)
    model, x, y, what = load(args.images)
    load_before = os.getloadavg()[0]
    rows = []
    for th in threads:
        torch.set_num_threads(th)
        rows.append(measure(model, x, y, args.samples, args.repeats))
    torch.set_num_threads(default_threads)
    load_after = os.getloadavg()[0]
    print(f"{what}, B={args.images} images, K={args.samples}; load average {load_before:.2f} -> {load_after:.2f}")
    print(
        "| threads | default pass | "
        + " | ".join(f"plain {s}" for s in PLAIN_SIZES)
        + " | post-avg | heat map | SimBA |"
    )
    print("|---|---|" + "---|" * (len(PLAIN_SIZES) + 3))
    for r in rows:
        plain_cells = " | ".join(
            f"**{v:.2f}**" if s == r["fastest_plain"] else f"{v:.2f}" for s, v in r["plain_s"].items()
        )
        ratios = " | ".join(f"{r['seconds'][k]:.2f} s ({r['ratios'][k]:.2f}x)" for k in r["ratios"])
        print(f"| {r['threads']} | {r['default_pass']} | {plain_cells} | {ratios} |")
    print("Wall seconds per call of K*B images (plain: at each pass size, fastest in bold); post-averaging and "
          "heat map: ratio to the fastest plain pass size; SimBA: ratio to its fastest explicit batch_size "
          + ", ".join(f"{r['threads']} threads: {r['simba_s']}" for r in rows))  # fmt: skip
    if args.json is not None:
        args.json.write_text(json.dumps({"model": what, "load": [load_before, load_after], "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
