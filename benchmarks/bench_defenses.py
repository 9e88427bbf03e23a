"""Cost of the defences: post-averaging against K plain forwards, filters against one forward.

Claim checked: ``PostAveraging(model, radius=r, samples=K)`` costs at most 1.1x K plain
forwards of the same batch (target from the design brief), because it runs one batched forward
of K·B images; the input filters cost a small fraction of a forward.

Measured side by side in one run, same model, same batch, same device:
  (a) the defended forward on B images,
  (b) K plain forwards of batch B (what a naive loop over the K points costs),
  (c) one plain forward of batch K·B (the floor: same arithmetic, no sampling overhead),
in inference (no_grad) and as an attack step (forward + input gradient). Ratios a/b and a/c
are printed. Timing: fastest of ``--repeats`` round-robin runs after warm-up; CUDA events on GPU,
process CPU time on CPU (one thread by default, so that other processes' load does not count).

Usage: ``python benchmarks/bench_defenses.py [--device cpu|cuda] [--batch 32] [--samples 15]``
(ResNet-20 from bandlimit.models; ``--tiny`` uses a small conv net instead).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import torch
from torch import Tensor, nn

from defenses.filters import LowPassFilter
from defenses.post_averaging import PostAveraging


def _once(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end) / 1000
    # CPU seconds of this process, not wall time: on a shared machine other processes' load
    # would otherwise dominate the differences we measure (use one thread, see --threads).
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def timed(fns: list[Callable[[], object]], device: torch.device, repeats: int, warmup: int = 1) -> list[float]:
    """Fastest time (seconds) per call of each of ``fns``, measured round-robin.

    Interleaving the candidates within every repeat exposes them to the same background load,
    and the minimum over repeats discards the (additive) delays of other processes: on a shared
    CPU both matter for fair ratios.
    """
    for fn in fns:
        for _ in range(warmup):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            times[i].append(_once(fn, device))
    return [min(t) for t in times]


def build_model(tiny: bool, device: torch.device) -> nn.Module:
    """ResNet-20 (random weights are fine for timing) or a tiny conv net."""
    if tiny:
        torch.manual_seed(0)
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
        )  # fmt: skip
    else:
        from bandlimit.models import create_model

        model = create_model("resnet20")
    return model.to(device).eval().requires_grad_(False)


def bench_post_averaging(model: nn.Module, x: Tensor, k: int, repeats: int) -> None:
    """Print the a/b/c table for inference and for an attack step (default chunks, one K*B batch, chunks of B)."""
    device, n = x.device, x.shape[0]
    variants = {
        "default chunks": PostAveraging(model, radius=1.0, samples=k),
        "one K*B batch": PostAveraging(model, radius=1.0, samples=k, chunk_size=k * n),
        "chunk_size=B": PostAveraging(model, radius=1.0, samples=k, chunk_size=n),
    }
    big = x.repeat(k, 1, 1, 1)

    def grad_of(f: Callable[[Tensor], Tensor], inp: Tensor) -> Callable[[], object]:
        def step() -> object:
            xi = inp.detach().requires_grad_(True)
            return torch.autograd.grad(f(xi).sum(), xi)[0]

        return step

    def k_plain_grads() -> object:
        return [grad_of(model, x)() for _ in range(k)]

    rows = []
    defended = list(variants.values())
    with torch.no_grad():
        *a, b, c, pts = timed(
            [lambda d=d: d(x) for d in defended]
            + [lambda: [model(x) for _ in range(k)], lambda: model(big), lambda: defended[0].points(x)],
            device,
            repeats,
        )
    rows += [(f"inference, {name}", ta, b, c) for name, ta in zip(variants, a, strict=True)]
    *a, b, c = timed([grad_of(d, x) for d in defended] + [k_plain_grads, grad_of(model, big)], device, repeats)
    rows += [(f"forward+input grad, {name}", ta, b, c) for name, ta in zip(variants, a, strict=True)]
    print(f"\nPost-averaging, K={k}, batch B={n}, {tuple(x.shape[1:])}, device {device}")
    print("| mode | (a) defended | (b) K forwards of B | (c) 1 forward of K*B | a/b | a/c |")
    print("|---|---|---|---|---|---|")
    for mode, ta, tb, tc in rows:
        print(f"| {mode} | {ta * 1e3:.1f} ms | {tb * 1e3:.1f} ms | {tc * 1e3:.1f} ms | {ta / tb:.3f} | {ta / tc:.3f} |")
    print(f"(drawing the K*B directions and points alone: {pts * 1e3:.2f} ms)")


def bench_filters(model: nn.Module, x: Tensor, repeats: int) -> None:
    """Print the cost of a low-pass input layer relative to the model's forward."""
    device = x.device
    layers = [
        LowPassFilter(bandwidth=16),
        LowPassFilter(radius=8.0, shape="disc"),
        LowPassFilter(radius=4.0, shape="gaussian"),
    ]
    with torch.no_grad():
        plain, *filt = timed([lambda: model(x)] + [lambda f=f: f(x) for f in layers], device, repeats)
    print(f"\nInput filters, batch {x.shape[0]}, device {device} (model forward {plain * 1e3:.2f} ms)")
    print("| layer | filter alone | filter / forward |")
    print("|---|---|---|")
    for layer, t in zip(layers, filt, strict=True):
        print(f"| {layer} | {t * 1e3:.2f} ms | {t / plain:.3f} |")


def main() -> None:
    """Parse arguments and run both benchmarks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="CPU threads (1: process time = work)")
    parser.add_argument("--tiny", action="store_true", help="small conv net instead of ResNet-20")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = build_model(args.tiny, device)
    x = torch.rand(args.batch, 3, 32, 32, generator=torch.Generator().manual_seed(0)).to(device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, model {'tiny' if args.tiny else 'resnet20'}")
    bench_post_averaging(model, x, args.samples, args.repeats)
    bench_filters(model, x, args.repeats)


if __name__ == "__main__":
    main()
