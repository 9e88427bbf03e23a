"""Benchmark: our PGD against a bare hand-written loop and against torchattacks.PGD.

Claim checked: a PGD step costs at most 1.15x a bare loop doing the same forward + input
gradient + sign step + projection (reference/perf.md §7.1), and our robust accuracy matches
torchattacks at the same settings. Everything is measured side by side in one run, with
warm-up, the median of ``--repeats`` runs, ``time.perf_counter`` and
``torch.cuda.synchronize`` on GPU. On CUDA it also compares bf16 autocast with fp32.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_pgd.py --batch 128 --steps 10 --repeats 3
    python benchmarks/bench_pgd.py --device cuda --batch 1024 --steps 20

Model: ``bandlimit.models.create_model(--model)`` with the public ResNet-20 CIFAR-10 weights
when they are found (``--weights``), else a local option-A ResNet-20 with random weights.
Images: the lossless CIFAR-10 test images (``--data``) when found, else random images.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attacks.pgd import PGD  # noqa: E402
from bandlimit._torch import model_guard  # noqa: E402

SHARED = ROOT.parent / "shared"
log = logging.getLogger("bench_pgd")


class _Block(nn.Module):
    """Option-A basic block (zero-padded strided identity shortcut), as in the public weights."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pad = cout - cin if (stride != 1 or cin != cout) else 0

    def forward(self, x: Tensor) -> Tensor:
        """Residual block output."""
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        short = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad // 2, self.pad // 2)) if self.pad else x
        return F.relu(out + short)


class LocalResNet20(nn.Module):
    """Fallback CIFAR ResNet-20 with ImageNet-statistics normalisation inside (used if bandlimit.models is absent)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages, cin = [], 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = [_Block(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(3)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        """Logits of [0, 1] images."""
        x = F.relu(self.bn1(self.conv1((x - self.mean) / self.std)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def build_model(name: str, weights: Path | None) -> tuple[nn.Module, str]:
    """The benchmark model and a description of where it came from."""
    try:
        from bandlimit.models import create_model, load_checkpoint

        model = create_model(name)
        if weights is not None and weights.exists():
            load_checkpoint(weights, model)
            return model.eval(), f"bandlimit.models.create_model({name!r}) + {weights.name}"
        return model.eval(), f"bandlimit.models.create_model({name!r}), random weights"
    except ImportError:
        model = LocalResNet20()
        if weights is not None and weights.exists():
            state = torch.load(weights, map_location="cpu", weights_only=True)["state_dict"]
            model.load_state_dict({k.removeprefix("module."): v for k, v in state.items()})
            return model.eval(), f"local ResNet-20 + {weights.name}"
        return model.eval(), "local ResNet-20, random weights"


def load_images(path: Path | None, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor, str]:
    """``n`` CIFAR-10 test images from ``path`` (npz, uint8 NHWC) or random images."""
    if path is not None and path.exists():
        data = np.load(path)
        x = torch.from_numpy(data["x"][:n]).permute(0, 3, 1, 2).float() / 255
        return x.contiguous(), torch.from_numpy(data["y"][:n]).long(), path.name
    x = torch.rand(n, 3, 32, 32, generator=generator)
    return x, torch.randint(0, 10, (n,), generator=generator), "random images"


def bare_pgd(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int) -> Tensor:
    """The reference: the shortest correct L∞ PGD loop (random start, sign step, clip)."""
    x_adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        loss = F.cross_entropy(model(x_adv), y)
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    return x_adv


def timed(fn: Callable[[], Tensor], device: torch.device, repeats: int) -> tuple[float, float, Tensor]:
    """Median wall time and median process CPU time of ``fn`` over ``repeats`` runs after a warm-up.

    The CPU time is the steadier number on a shared machine (other processes steal wall time).
    """
    out = fn()
    wall, cpu = [], []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), out


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Top-1 accuracy in percent."""
    return 100.0 * (model(x).argmax(1) == y).float().mean().item()


def main(argv: list[str] | None = None) -> None:
    """Run the side-by-side benchmark and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20")
    parser.add_argument("--weights", type=Path, default=SHARED / "weights" / "resnet20-12fca82f.th")
    parser.add_argument("--data", type=Path, default=SHARED / "data" / "cifar10" / "test_lossless_1028.npz")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--eps", type=float, default=2 / 255)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    device = torch.device(args.device)
    gen = torch.Generator().manual_seed(0)
    model, model_desc = build_model(args.model, args.weights)
    model = model.to(device)
    x, y, data_desc = load_images(args.data, args.batch, gen)
    x, y = x.to(device), y.to(device)
    alpha = 2.5 * args.eps / args.steps
    print(f"device={device} threads={torch.get_num_threads()} model={model_desc} data={data_desc}")
    print(f"batch={args.batch} steps={args.steps} eps={args.eps:.5f} step={alpha:.5f} repeats={args.repeats}")
    print(f"clean accuracy {accuracy(model, x, y):.1f}%")

    rows: list[tuple[str, float, float, float]] = []

    def bench(label: str, fn: Callable[[], Tensor]) -> tuple[float, float]:
        wall, cpu, x_adv = timed(fn, device, args.repeats)
        rows.append((label, wall, cpu, accuracy(model, x_adv, y)))
        return wall, cpu

    def ours(**kw: object) -> Callable[[], Tensor]:
        attack = PGD(eps=args.eps, steps=args.steps, abs_stepsize=alpha, **kw)  # type: ignore[arg-type]
        return lambda: attack(model, x, y, generator=torch.Generator().manual_seed(1))

    def guarded_bare() -> Tensor:
        with model_guard(model):  # same frozen weights / eval mode as our attacks
            return bare_pgd(model, x, y, args.eps, alpha, args.steps)

    bare = bench("bare loop (frozen weights)", guarded_bare)
    full = bench("ours, early_stop=False", ours(early_stop=False))
    stop = bench("ours, early_stop=True", ours())
    nan = (float("nan"), float("nan"))
    try:
        import torchattacks

        ta = torchattacks.PGD(model, eps=args.eps, alpha=alpha, steps=args.steps, random_start=True)
        tat = bench("torchattacks.PGD", lambda: ta(x, y))
    except ImportError:
        tat = nan
    amp = (
        bench("ours, bf16 autocast, early_stop=False", ours(early_stop=False, amp=True))
        if device.type == "cuda"
        else nan
    )

    print(f"{'method':40s} {'wall/s':>8s} {'cpu/s':>8s} {'robust acc %':>13s}")
    for label, wall, cpu, acc in rows:
        print(f"{label:40s} {wall:8.3f} {cpu:8.3f} {acc:13.1f}")
    col = 0 if device.type == "cuda" else 1  # wall time on GPU, CPU time on a (shared) CPU
    unit = "wall" if col == 0 else "cpu"
    print(f"ratio ours(early_stop=False) / bare = {full[col] / bare[col]:.3f} ({unit} time; target <= 1.15)")
    print(f"ratio ours(early_stop=True)  / bare = {stop[col] / bare[col]:.3f}")
    print(f"ratio ours(early_stop=False) / torchattacks = {full[col] / tat[col]:.3f}")
    print(f"ratio ours(early_stop=True)  / torchattacks = {stop[col] / tat[col]:.3f}")
    if device.type == "cuda":
        print(f"ratio bf16 / fp32 (ours, early_stop=False) = {amp[0] / full[0]:.3f}")


if __name__ == "__main__":
    main()
