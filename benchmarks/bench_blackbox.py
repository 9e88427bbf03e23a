"""Black-box attack benchmarks: batched SimBA vs a one-image loop, Fourier-basis timing, CIFAR SimBA-DCT.

Claims checked here (CPU, ``torch.set_num_threads(--threads)``):

* ``speed``: batched SimBA runs at >= 20x the query throughput of the same attack called on one
  image at a time, at equal queries (the one-image loop must give identical per-image query
  counts, which is checked). Throughput = model queries per second. Also times the
  Fourier-basis attack batched against one image at a time.
* ``cifar``: SimBA-DCT (eps 0.2, order rand, freq_dims 32 = the official CIFAR-10 setting, plus
  freq ratios 1/2 and 1/4) on the public natural ResNet-20 succeeds on >= 90% of correctly
  classified lossless CIFAR-10 test images within 3,000 queries; prints mean/median queries and L2.

Data and weights come from the ``shared/`` folder beside the repository (see its README); the
script exits with a message when they are absent. Run time on 1 CPU thread: ``speed`` about
1-2 minutes with the defaults, ``cifar`` a few minutes per 100 images and setting.

Usage::

    python benchmarks/bench_blackbox.py speed --model linear --n 128 --max-queries 200
    python benchmarks/bench_blackbox.py speed --model small --n 128 --max-queries 200
    python benchmarks/bench_blackbox.py speed --model resnet20 --n 64 --max-queries 100
    python benchmarks/bench_blackbox.py --threads 2 speed --model resnet20 --n 256 --channels-last
    python benchmarks/bench_blackbox.py --device cuda speed --model resnet20 --n 1024 --channels-last

    python benchmarks/bench_blackbox.py cifar --n 200 --freq-dims 32 16 8

``--model linear`` (a 3072->10 linear layer) makes the forward pass nearly free, so the ratio
measures the attack's own batching. With a real network on a CPU the model's own batch
efficiency bounds the ratio: ``speed`` measures that bound side by side (the model alone, one
image per pass against the batched passes) and prints which fraction of it the attack reaches.
On a GPU per-call latency dominates and the bound is far higher.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from attacks.fourier import FourierBasisAttack
from attacks.simba import SimBA
from bandlimit._torch import pass_size

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
DATA = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
SEED = 0

logger = logging.getLogger("bench_blackbox")


class SmallCNN(nn.Module):
    """A small random conv net: cheap forwards, so the attack's own per-call overhead shows."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(4),
            nn.Flatten(),
            nn.Linear(32 * 16, 10),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of [0, 1] images."""
        return self.net(x)


def load_resnet20() -> nn.Module:
    """The public natural CIFAR-10 ResNet-20 (option-A shortcuts, normalisation inside)."""
    from bandlimit.models import create_model, load_checkpoint

    model = create_model("resnet20")
    load_checkpoint(WEIGHTS, model)
    return model.eval()


def load_cifar(n: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The 1,028 lossless CIFAR-10 test images as [0, 1] tensors and labels (first ``n``)."""
    data = np.load(DATA)
    x = torch.from_numpy(data["x"]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(data["y"]).long()
    return (x, y) if n is None else (x[:n], y[:n])


def require_shared() -> None:
    """Exit with a message when the shared data or weights are absent."""
    if not (WEIGHTS.exists() and DATA.exists()):
        sys.exit(f"needs {WEIGHTS} and {DATA} (the shared/ folder beside the repository)")


def sync() -> None:
    """Wait for queued GPU work, so wall times cover it (a no-op without CUDA)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats: int = 1):  # type: ignore[no-untyped-def]
    """Result of ``fn()`` and its best wall time over ``repeats`` runs (the box may be shared)."""
    best, out = float("inf"), None
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return out, best


def build_model(name: str) -> tuple[nn.Module, torch.Tensor]:
    """The benchmark model and a pool of images for it."""
    if name == "resnet20":
        require_shared()
        return load_resnet20(), load_cifar()[0]
    torch.manual_seed(SEED)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10)) if name == "linear" else SmallCNN()
    return model.eval(), torch.rand(1024, 3, 32, 32, generator=torch.Generator().manual_seed(SEED))


# ----------------------------------------------------------------------------- speed
def model_costs(model: nn.Module, x: torch.Tensor, k: int, chunk: int | None, repeats: int) -> tuple[float, float]:
    """Seconds per image of the model alone: one image per pass, and in the batched attack's passes.

    Each query is one image through the model, so with a model that dominates the cost no
    attack can batch better than the ratio of the two.
    """
    chunk = chunk or x.shape[0]

    @torch.no_grad()
    def batched() -> None:
        for i in range(0, x.shape[0], chunk):
            model(x[i : i + chunk])

    @torch.no_grad()
    def single() -> None:
        for i in range(k):
            model(x[i : i + 1])

    batched(), single()  # warm-up
    _, t_batched = timed(batched, repeats)
    _, t_single = timed(single, repeats)
    return t_single / k, t_batched / x.shape[0]


def bench_speed(args: argparse.Namespace) -> None:
    """Batched vs one-image-at-a-time throughput of SimBA-DCT and the Fourier-basis attack."""
    model, x_all = build_model(args.model)
    device = torch.device(args.device)
    model, x = model.to(device), x_all[: args.n].to(device)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        y = model(x).argmax(1)  # attack the model's own predictions: every image starts active
    attack = SimBA(
        step=args.step,
        basis="dct",
        max_queries=args.max_queries,
        freq_dims=32,
        order="rand",
        batch_size=args.simba_batch,
    )
    k = min(args.loop_images, args.n)
    chunk = pass_size(args.simba_batch, x.device, None)
    model_single, model_batched = model_costs(model, x, k, chunk, args.repeats)

    def seeded() -> torch.Generator:
        return torch.Generator().manual_seed(SEED)

    batched, t_batch = timed(lambda: attack.run(model, x, y, generator=seeded()), args.repeats)
    q_batch = int(batched.queries.sum())
    singles, t_loop = timed(
        lambda: [attack.run(model, x[i : i + 1], y[i : i + 1], generator=seeded()) for i in range(k)], args.repeats
    )
    q_loop = sum(int(r.queries.sum()) for r in singles)
    same = all(int(r.queries[0]) == int(batched.queries[i]) for i, r in enumerate(singles))
    same_x = all(torch.allclose(r.x_adv[0], batched.x_adv[i], atol=1e-5) for i, r in enumerate(singles))

    rate_batch, rate_loop = q_batch / t_batch, q_loop / t_loop
    print(
        f"SimBA-DCT step={args.step} on {args.model}, device {device}, {torch.get_num_threads()} CPU thread(s), "
        f"max_queries={args.max_queries}, passes of at most {chunk or args.n} images, "
        f"channels_last={args.channels_last}, best of {args.repeats}"
    )
    print(
        f"  batched  : {args.n} images, {q_batch} queries in {t_batch:.2f} s -> {rate_batch:,.0f} queries/s; "
        f"success {float(batched.info['success'].float().mean()):.2%}"
    )
    print(f"  one image: {k} images, {q_loop} queries in {t_loop:.2f} s -> {rate_loop:,.0f} queries/s")
    print(
        f"  identical per-image queries: {same}; identical x_adv (atol 1e-5): {same_x} "
        "(float32 batch-size rounding can flip near-tie decisions; tests check exact equality in float64)"
    )
    ratio = rate_batch / rate_loop
    print(f"  throughput ratio batched / one-image loop: {ratio:.1f}x")
    print(
        f"  model alone: {1e3 * model_single:.3f} ms per image one at a time, {1e3 * model_batched:.3f} ms in the "
        f"batched passes -> {model_single / model_batched:.1f}x (a zero-overhead attack's ratio)"
    )
    print(
        f"  time per query / the model's time per image: one-image loop {1 / (rate_loop * model_single):.2f}, "
        f"batched {1 / (rate_batch * model_batched):.2f} (1.00 = the attack adds nothing to the model)"
    )

    fourier = FourierBasisAttack(norm_l2=4.0, batch_cells=args.batch_cells, batch_size=args.batch_size)
    f_batch, tf_batch = timed(lambda: fourier.run(model, x, y), args.repeats)
    fq_batch = int(f_batch.queries.sum())
    f_single, tf_loop = timed(lambda: [fourier.run(model, x[i : i + 1], y[i : i + 1]) for i in range(k)], args.repeats)
    fq_loop = sum(int(r.queries.sum()) for r in f_single)
    print(
        f"Fourier-basis attack (v=4, 514 cells x 2 signs, batch_cells={args.batch_cells}, "
        f"batch_size={fourier.batch_size or 'default'}) on {args.model}"
    )
    print(
        f"  batched  : {args.n} images, {fq_batch} candidates in {tf_batch:.2f} s -> {fq_batch / tf_batch:,.0f}/s; "
        f"success {float(f_batch.info['success'].float().mean()):.2%}"
    )
    print(f"  one image: {k} images, {fq_loop} candidates in {tf_loop:.2f} s -> {fq_loop / tf_loop:,.0f}/s")
    print(f"  throughput ratio: {(fq_batch / tf_batch) / (fq_loop / tf_loop):.1f}x")


# ----------------------------------------------------------------------------- cifar
def bench_cifar(args: argparse.Namespace) -> None:
    """SimBA success, queries and L2 on correctly classified images of the public ResNet-20."""
    require_shared()
    model = load_resnet20()
    x, y = load_cifar()
    with torch.no_grad():
        pred = torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])
    correct = torch.nonzero(pred == y).squeeze(1)
    print(f"ResNet-20 clean accuracy on {len(x)} lossless test images: {float((pred == y).float().mean()):.2%}")
    idx = correct[: args.n]
    xs, ys = x[idx], y[idx]
    for fd in args.freq_dims:
        attack = SimBA(step=0.2, basis=args.basis, max_queries=args.max_queries, freq_dims=fd, order="rand")
        result, seconds = timed(lambda a=attack: a.run(model, xs, ys, generator=torch.Generator().manual_seed(SEED)))
        ok = result.info["success"]
        q = result.queries[ok].tolist()
        l2 = result.info["l2"][ok].tolist()
        print(
            f"SimBA-{args.basis.upper()} eps=0.2 freq_dims={fd} (ratio {fd / 32:.3g}) order=rand, "
            f"{len(idx)} correctly classified images, max {args.max_queries} queries: "
            f"success {float(ok.float().mean()):.2%}, queries mean {statistics.fmean(q):.0f} "
            f"median {statistics.median(q):.0f}, L2 mean {statistics.fmean(l2):.3f} "
            f"median {statistics.median(l2):.3f} (successful images); {seconds:.0f} s"
        )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (speed only)")
    sub = parser.add_subparsers(dest="command", required=True)
    speed = sub.add_parser("speed", help="batched vs one-image-at-a-time throughput")
    speed.add_argument("--model", choices=["linear", "small", "resnet20"], default="linear")
    speed.add_argument("--n", type=int, default=128, help="images in the batched run")
    speed.add_argument("--loop-images", type=int, default=16, help="images in the one-image loop")
    speed.add_argument("--max-queries", type=int, default=200)
    speed.add_argument("--step", type=float, default=0.2, help="SimBA step size")
    speed.add_argument("--repeats", type=int, default=3, help="best-of-k timing")
    speed.add_argument("--batch-cells", type=int, default=16)
    speed.add_argument(
        "--batch-size", type=int, default=None, help="Fourier candidates per forward (default: the attack's)"
    )
    speed.add_argument("--simba-batch", type=int, default=None, help="SimBA images per forward (default: the attack's)")
    speed.add_argument("--channels-last", action="store_true", help="model and images in channels_last")
    cifar = sub.add_parser("cifar", help="SimBA-DCT success on the public ResNet-20")
    cifar.add_argument("--n", type=int, default=200, help="correctly classified images to attack")
    cifar.add_argument("--freq-dims", type=int, nargs="+", default=[32, 16, 8])
    cifar.add_argument("--basis", choices=["dct", "pixel"], default="dct")
    cifar.add_argument("--max-queries", type=int, default=3000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    torch.set_num_threads(args.threads)
    {"speed": bench_speed, "cifar": bench_cifar}[args.command](args)


if __name__ == "__main__":
    main()
