"""Benchmark: the Fourier heat map's cost by pass size (perturbed images per forward pass).

Claim checked: on the CPU, the default pass size (``bandlimit._torch.CPU_PASS_SIZE``) is
faster than big passes, which fall out of cache, and the pass size never changes the map. Same
model, same images, same seed, process CPU time (one thread by default, so other processes'
load does not count), fastest of ``--repeats`` interleaved runs.

Usage::

    python benchmarks/bench_heatmap.py --images 8 --pass-sizes 2048 256 32

Model: a random-weight ResNet-20 from ``bandlimit.models`` (weights do not change the cost).
"""

from __future__ import annotations

import argparse
import time

import torch

from bandlimit._torch import CPU_PASS_SIZE
from bandlimit.evaluation import fourier_heatmap
from bandlimit.models import create_model


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--pass-sizes", type=int, nargs="+", default=[2048, 256, CPU_PASS_SIZE])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model("resnet20").eval()
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(args.images, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.images,), generator=gen)
    best = dict.fromkeys(args.pass_sizes, float("inf"))
    maps = {}
    for _ in range(args.repeats):
        for size in args.pass_sizes:
            start = time.process_time()
            maps[size] = fourier_heatmap(model, (x, y), norm=4.0, batch_size=2048, pass_size=size).error
            best[size] = min(best[size], time.process_time() - start)
    first = maps[args.pass_sizes[0]]
    same = all(torch.equal(m.nan_to_num(-1), first.nan_to_num(-1)) for m in maps.values())
    print(
        f"Fourier heat map, ResNet-20 (random weights), {args.images} images x 514 cells, v=4, "
        f"{torch.get_num_threads()} thread(s), CPU seconds, best of {args.repeats}"
    )
    for size in args.pass_sizes:
        print(f"  pass size {size:5d}: {best[size]:6.2f} s  ({best[args.pass_sizes[0]] / best[size]:.1f}x the first)")
    print(f"  identical maps: {same}")


if __name__ == "__main__":
    main()
