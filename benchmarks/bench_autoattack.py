"""Benchmark: our ``standard`` suite against torchattacks.AutoAttack(version="standard"), side by side.

Claim checked (issue 11): on the same model, images and budget, the ``standard`` suite
(``bandlimit.cli.suites``: a cascade of APGD-CE, APGD-T with the DLR loss, Square when the model
checks flag the model, and the Fourier-basis check) leaves **at most** AutoAttack's robust
accuracy, at **at most 0.5x** its CPU time. AutoAttack's standard version is APGD-CE, APGD-T,
FAB-T and Square-5000 as a cascade; torchattacks reimplements it (``torchattacks.AutoAttack``).

Both run in this process on the same tensors, one after the other, with the same number of torch
threads; time is process CPU time (all threads) and wall time. Our time covers the whole
``evaluate`` call: the model checks, every attack, the harness's verification of every
adversarial example and its re-prediction. Robust accuracy is over all N images (a misclassified
clean image is not robust); per-image disagreements are listed both ways.

Models: ``resnet20-fastat`` (shipped, fast FGSM-RS adversarial training) and ``public-resnet20``
(the public natural ResNet-20, ``shared/weights/resnet20-12fca82f.th``); any registry name with
shipped weights works. Images: the lossless CIFAR-10 test images
(``shared/data/cifar10/test_lossless_1028.npz``), or the shipped 600-image sample with
``--data sample`` (said in the output).

Usage (the full run, on a quiet machine; about an hour on 2 CPU cores)::

    python benchmarks/bench_autoattack.py --model resnet20-fastat --n 1028 --json benchmarks/results/aa_fastat.json
    python benchmarks/bench_autoattack.py --model public-resnet20 --n 1028 --json benchmarks/results/aa_natural.json

Smoke run (the test suite): ``python benchmarks/bench_autoattack.py --tiny``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's packages, whatever is installed

from benchmarks._public import DATA, WEIGHTS, correct  # noqa: E402

logger = logging.getLogger("bench_autoattack")


def load(model: str, n: int, data: str) -> tuple[nn.Module, Tensor, Tensor, str]:
    """The model (eval mode), the first ``n`` images and labels, and a line naming the data."""
    import numpy as np

    from bandlimit.data import load_dataset, to_tensors
    from bandlimit.models import create_model, load_checkpoint

    if model == "public-resnet20":
        if not WEIGHTS.exists():
            sys.exit(f"public-resnet20 needs {WEIGHTS} (the shared/ folder beside the repository)")
        net = load_checkpoint(WEIGHTS, create_model("resnet20"))
    else:
        net = create_model(model, pretrained=True)
    if data == "lossless":
        if not DATA.exists():
            sys.exit(f"--data lossless needs {DATA}; use --data sample for the shipped sample")
        arrays = np.load(DATA)
        x = torch.from_numpy(arrays["x"][:n]).permute(0, 3, 1, 2).float().div(255).contiguous()
        y = torch.from_numpy(arrays["y"][:n]).long()
        what = f"first {len(x)} lossless CIFAR-10 test images ({DATA.name})"
    else:
        x, y = to_tensors(load_dataset("cifar10-sample"), n=n)
        what = f"first {len(x)} images of the shipped lossless CIFAR-10 sample"
    return net.eval(), x, y, what


def tiny() -> tuple[nn.Module, Tensor, Tensor, str]:
    """A small random conv net and 8 random images labelled by it (the smoke test)."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 10)
    ).eval()
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = net(x).argmax(1)
    return net, x, y, "8 random 8x8 images labelled by a random conv net (smoke test)"


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """``fn()``, its process CPU time and its wall time."""
    cpu, wall = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - cpu, time.perf_counter() - wall


def run_ours(model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, batch: int) -> tuple[Tensor, dict]:
    """Per-image robustness under the standard suite (its L∞ group) and the run's facts."""
    from bandlimit.cli.suites import suite_attacks
    from bandlimit.evaluation import evaluate

    def go() -> Any:
        attacks, mode = suite_attacks("standard", model, x[:8], y[:8], eps)
        return evaluate(model, (x, y), attacks, mode=mode, seed=seed, batch_size=batch), attacks

    (result, attacks), cpu, wall = timed(go)
    group = next(g.key for g in result.groups if g.norm == "linf" and abs(g.eps - eps) < 1e-12)
    robust = result.samples.robust[group].bool()
    facts = {
        "attacks": [repr(a) for a in attacks],
        "per_attack": {a.key: {"robust_after": a.robust_accuracy, "time_s": a.time_s} for a in result.attacks},
        "findings": [f.code for f in result.findings],
        "cpu_s": cpu,
        "wall_s": wall,
    }
    return robust, facts


def run_autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, batch: int) -> tuple[Tensor, dict]:
    """Per-image robustness under torchattacks.AutoAttack(version="standard")."""
    import torchattacks

    classes = int(model(x[:1]).shape[1])
    attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=classes, seed=seed)

    def go() -> Tensor:
        return torch.cat([attack(x[i : i + batch], y[i : i + batch]).detach() for i in range(0, len(x), batch)])

    x_adv, cpu, wall = timed(go)
    # The same check our harness makes: within the ball and [0, 1] before re-predicting.
    assert float((x_adv - x).abs().max()) <= eps + 1e-6 and 0.0 <= float(x_adv.min()) <= float(x_adv.max()) <= 1.0
    return correct(model, x_adv, y), {"cpu_s": cpu, "wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    """Run both, print the comparison table and the disagreements, optionally write JSON."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet20-fastat", help="registry name with weights, or public-resnet20")
    parser.add_argument("--n", type=int, default=1028)
    parser.add_argument("--eps", default="8/255")
    parser.add_argument("--data", choices=("lossless", "sample"), default="lossless")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=256, help="images per attack call (both)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--json", type=Path, default=None, help="write the numbers there")
    parser.add_argument("--tiny", action="store_true", help="a seconds-long smoke run on a random conv net")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    eps = float(Fraction(args.eps))
    model, x, y, what = tiny() if args.tiny else load(args.model, args.n, args.data)
    model.requires_grad_(False)
    clean = correct(model, x, y)
    ours, ours_facts = run_ours(model, x, y, eps, args.seed, args.batch)
    theirs, aa_facts = run_autoattack(model, x, y, eps, args.seed, args.batch)
    only_ours = (~ours & theirs).nonzero().squeeze(1).tolist()  # broken by us only
    only_theirs = (ours & ~theirs).nonzero().squeeze(1).tolist()  # broken by AutoAttack only
    ratio = ours_facts["cpu_s"] / max(aa_facts["cpu_s"], 1e-9)
    rows = [
        ("clean accuracy", f"{clean.float().mean():.2%}", ""),
        ("robust accuracy", f"{ours.float().mean():.2%}", f"{theirs.float().mean():.2%}"),
        ("CPU s", f"{ours_facts['cpu_s']:.1f}", f"{aa_facts['cpu_s']:.1f}"),
        ("wall s", f"{ours_facts['wall_s']:.1f}", f"{aa_facts['wall_s']:.1f}"),
    ]
    name = "tiny" if args.tiny else args.model
    print(f"{name} at L∞ {args.eps} on the {what}, {torch.get_num_threads()} threads")
    print(f"{'':18s} {'standard suite':>16s} {'AutoAttack':>12s}")
    for label, a, b in rows:
        print(f"{label:18s} {a:>16s} {b:>12s}")
    print(f"CPU time ratio (ours / AutoAttack): {ratio:.3f}")
    print(f"broken only by ours ({len(only_ours)}): {only_ours}")
    print(f"broken only by AutoAttack ({len(only_theirs)}): {only_theirs}")
    for key, facts in ours_facts["per_attack"].items():
        print(f"  {key:40s} robust after it {facts['robust_after']:.2%}  {facts['time_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": args.model,
            "data": what,
            "eps": args.eps,
            "seed": args.seed,
            "threads": torch.get_num_threads(),
            "clean_accuracy": float(clean.float().mean()),
            "ours": {**ours_facts, "robust_accuracy": float(ours.float().mean())},
            "autoattack": {**aa_facts, "robust_accuracy": float(theirs.float().mean())},
            "cpu_ratio": ratio,
            "broken_only_by_ours": only_ours,
            "broken_only_by_autoattack": only_theirs,
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
