"""Benchmark: our APGD against torchattacks.APGD / APGDT (strength) and a bare loop (speed).

Claims checked (issue 11), each measured side by side in one run:

* ``strength``: at equal steps, our APGD-CE, APGD-DLR and APGD-T (9 targets) are at least as
  strong as ``torchattacks.APGD`` (loss ce, dlr) and ``torchattacks.APGDT``: per-seed robust
  accuracy (lower = stronger) and per-image disagreements (images broken by one side only),
  on the public natural ResNet-20 at L∞ 8/255 and 2/255 and on ``resnet20-fastat`` at 8/255.
* ``speed``: one APGD step costs at most 1.10x a bare loop doing forward + input gradient +
  sign step + clipping (process CPU time, or CUDA wall time; ours and the bare loop alternate,
  the minimum of the repeats counts). ``early_stop=False`` so both do the same work per step;
  ours also pays the clean forward pass and a last forward-only evaluation.
* ``targets``: whether APGD-T should choose its targets by margin (MALT: linearised distance
  to the decision boundary) instead of by clean logit: robust accuracy with k targets each.

Model: the public natural ResNet-20 (``../shared/weights/resnet20-12fca82f.th``) and
``create_model("resnet20-fastat", pretrained=True)``; images: the first ``--n`` lossless
CIFAR-10 test images (``../shared/data/cifar10/test_lossless_1028.npz``). Needs torchattacks.

Usage (the full runs, on a quiet machine)::

    python benchmarks/bench_apgd.py strength --n 1028 --steps 100 --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/bench_apgd.py speed --n 128 --steps 20 --repeats 5 --threads 1
    python benchmarks/bench_apgd.py speed --device cuda --n 1028 --steps 100 --repeats 5
    python benchmarks/bench_apgd.py targets --n 1028 --steps 100 --seeds 0 1 2 --k 1 2 3 9

On a CPU, time ``speed`` on one thread: on a busy machine idle OpenMP threads spin and add
process CPU time at random (two threads on the shared 2-core box gave ratios up to 3x for
either side).

Development runs (the shared 2-core box, 2026-11-30)::

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_apgd.py strength --n 64 --steps 20 --seeds 0 1 2 --threads 1
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_apgd.py speed --n 64 --steps 20 --repeats 3 --threads 1
    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/bench_apgd.py targets --n 128 --steps 20 --seeds 0 --threads 1
"""

from __future__ import annotations

import argparse
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

from attacks.apgd import APGD  # noqa: E402
from bandlimit._torch import model_guard  # noqa: E402
from bandlimit.models import create_model, load_checkpoint  # noqa: E402

SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
DATA = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"

#: The strength comparison's settings, "model:eps in 1/255".
SETTINGS = ("natural:8", "natural:2", "fastat:8")
#: Our preset settings and the matching torchattacks attack for each compared attack.
KINDS = {"apgd-ce": {"loss": "ce"}, "apgd-dlr": {"loss": "dlr"}, "apgd-t": {"loss": "dlr", "targets": 9}}


def load_model(name: str) -> nn.Module:
    """``natural``: the public ResNet-20 weights; ``fastat``: the packaged fast-AT ResNet-20."""
    if name == "natural":
        return load_checkpoint(WEIGHTS, create_model("resnet20")).eval()
    return create_model("resnet20-fastat", pretrained=True).eval()


def load_images(n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` lossless CIFAR-10 test images in [0, 1] and their labels."""
    data = np.load(DATA)
    x = torch.from_numpy(data["x"][:n]).permute(0, 3, 1, 2).float().div(255).contiguous()
    return x, torch.from_numpy(data["y"][:n]).long()


@torch.no_grad()
def robust(model: nn.Module, x_adv: Tensor, y: Tensor, x: Tensor, eps: float) -> Tensor:
    """Per-image robustness of ``x_adv``; raises if a perturbation leaves the L∞ ball or [0, 1]."""
    size = (x_adv - x).abs().flatten(1).amax(dim=1).max().item()
    if size > eps + 1e-6 or x_adv.min() < 0 or x_adv.max() > 1:
        raise RuntimeError(f"infeasible result: L∞ size {size:.6f} > eps {eps:.6f} or outside [0, 1]")
    return model(x_adv).argmax(1) == y


def theirs(kind: str, model: nn.Module, eps: float, steps: int, seed: int) -> Callable[[Tensor, Tensor], Tensor]:
    """The torchattacks counterpart of one of our attacks (it reseeds the global RNG with ``seed``)."""
    import torchattacks

    if kind == "apgd-t":
        return torchattacks.APGDT(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, n_classes=10)
    loss = KINDS[kind]["loss"]
    return torchattacks.APGD(model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, loss=loss)


def strength(args: argparse.Namespace) -> None:
    """(a) Robust accuracy of ours and torchattacks per seed, and per-image disagreements."""
    x, y = load_images(args.n)
    print(f"strength: {args.n} images, {args.steps} steps, seeds {args.seeds}, L∞")
    header = f"{'model':8s} {'eps':>6s} {'attack':9s} " + " ".join(f"{'seed ' + str(s):>15s}" for s in args.seeds)
    print(header + f" {'mean ours/theirs':>18s} {'only ours':>9s} {'only theirs':>11s} {'ratio':>6s}")
    for setting in args.settings:
        model_name, eps255 = setting.split(":")[0], int(setting.split(":")[-1])
        model, eps = load_model(model_name), eps255 / 255
        for kind in args.kinds:
            cells, ours_acc, their_acc, only_ours, only_theirs = [], [], [], 0, 0
            for seed in args.seeds:
                attack = APGD(eps=eps, steps=args.steps, **KINDS[kind])  # type: ignore[arg-type]
                mine = robust(model, attack(model, x, y, generator=torch.Generator().manual_seed(seed)), y, x, eps)
                other = robust(model, theirs(kind, model, eps, args.steps, seed)(x, y), y, x, eps)
                ours_acc.append(100 * mine.float().mean().item())
                their_acc.append(100 * other.float().mean().item())
                only_ours += int((~mine & other).sum())
                only_theirs += int((mine & ~other).sum())
                cells.append(f"{ours_acc[-1]:6.2f}/{their_acc[-1]:6.2f}")
            mean_ours, mean_theirs = float(np.mean(ours_acc)), float(np.mean(their_acc))
            ratio = mean_ours / mean_theirs if mean_theirs > 0 else float("nan")
            print(
                f"{model_name:8s} {eps255:>4d}/255 {kind:9s} "
                + " ".join(f"{c:>15s}" for c in cells)
                + f" {mean_ours:8.2f}/{mean_theirs:8.2f} {only_ours:9d} {only_theirs:11d} {ratio:6.3f}",
                flush=True,
            )
    print("cells: robust accuracy % ours/theirs; only ours: images broken only by ours (all seeds); ratio: ours/theirs")


def bare_loop(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int) -> Tensor:
    """The reference: ``steps`` forward + input-gradient passes with a sign step and clipping."""
    with model_guard(model):  # the same frozen weights and eval mode as our attacks
        delta = torch.zeros_like(x)
        for _ in range(steps):
            d = delta.requires_grad_(True)
            (grad,) = torch.autograd.grad(F.cross_entropy(model(x + d), y), d)
            delta = (delta.detach() + eps / 4 * grad.sign()).clamp(-eps, eps)
            delta = torch.clamp(delta, -x, 1 - x)
        return x + delta


def speed(args: argparse.Namespace) -> None:
    """(b) Per-step cost of ours against the bare loop (and torchattacks), round-robin, min of repeats."""
    device = torch.device(args.device)
    model = load_model("natural").to(device)
    x, y = (t.to(device) for t in load_images(args.n))
    eps = 8 / 255
    attack = APGD(eps=eps, steps=args.steps, early_stop=False)
    ta = theirs("apgd-ce", model, eps, args.steps, 0)
    runs: dict[str, Callable[[], Tensor]] = {
        "bare loop": lambda: bare_loop(model, x, y, eps, args.steps),
        "ours (early_stop=False)": lambda: attack(model, x, y, generator=torch.Generator().manual_seed(0)),
        "ours (early_stop=True)": lambda: attack.replace(early_stop=True)(model, x, y),
        "torchattacks.APGD": lambda: ta(x, y),
    }
    best = dict.fromkeys(runs, float("inf"))
    for fn in runs.values():  # warm-up
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter() if device.type == "cuda" else time.process_time()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            stop = time.perf_counter() if device.type == "cuda" else time.process_time()
            best[name] = min(best[name], stop - start)
    unit = "wall" if device.type == "cuda" else "process CPU"
    threads = torch.get_num_threads()
    print(f"speed: {args.n} images, {args.steps} steps, {device}, {threads} threads, min of {args.repeats}")
    print(f"{'method':26s} {unit + ' s/step':>18s} {'/ bare':>7s}")
    for name, seconds in best.items():
        print(f"{name:26s} {seconds / args.steps:18.4f} {seconds / best['bare loop']:7.3f}")
    ratio = best["ours (early_stop=False)"] / best["bare loop"]
    print(f"ratio ours(early_stop=False) / bare = {ratio:.3f} (target <= 1.10)")


def targets(args: argparse.Namespace) -> None:
    """(c) APGD-T with k targets ordered by clean logit or by margin (MALT), on the fast-AT model."""
    model, eps = load_model("fastat"), 8 / 255
    x, y = load_images(args.n)
    print(f"targets: resnet20-fastat, L∞ 8/255, {args.n} images, {args.steps} steps, seeds {args.seeds}")
    print(f"{'order':7s} {'k':>3s} {'robust acc % per seed':>28s} {'mean':>7s} {'cpu s':>7s}")
    for k in args.k:
        for order in ("logit", "margin"):
            attack = APGD(eps=eps, steps=args.steps, loss="dlr", targets=k, target_order=order)
            accs, start = [], time.process_time()
            for seed in args.seeds:
                x_adv = attack(model, x, y, generator=torch.Generator().manual_seed(seed))
                accs.append(100 * robust(model, x_adv, y, x, eps).float().mean().item())
            cpu = (time.process_time() - start) / len(args.seeds)
            cells = " ".join(f"{a:6.2f}" for a in accs)
            print(f"{order:7s} {k:3d} {cells:>28s} {np.mean(accs):7.2f} {cpu:7.1f}", flush=True)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("strength", "speed", "targets"))
    parser.add_argument("--n", type=int, default=64, help="number of test images")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), help="model:eps255 (strength)")
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS), help="attacks (strength)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--k", type=int, nargs="+", default=[1, 2, 3, 9], help="targets (targets)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if not (WEIGHTS.exists() and DATA.exists()):
        sys.exit(f"needs {WEIGHTS} and {DATA} (the shared/ folder beside the repository)")
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        sys.exit("needs torchattacks: pip install torchattacks")
    torch.set_num_threads(args.threads)
    {"strength": strength, "speed": speed, "targets": targets}[args.what](args)


if __name__ == "__main__":
    main()
