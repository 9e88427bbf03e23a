"""Benchmark: our ``standard`` suite against torchattacks.AutoAttack(version="standard"), side by side.

Claim checked (issue 11): on the same model, images and budget, the ``standard`` suite
(``bandlimit.cli.suites``: a cascade of APGD-CE, APGD-T with the DLR loss, Square when the model
checks flag the model, and the Fourier-basis check) leaves **at most** AutoAttack's robust
accuracy, at **at most 0.5x** its CPU time. AutoAttack's standard version is APGD-CE, APGD-T,
FAB-T and Square-5000 as a cascade; torchattacks reimplements it (``torchattacks.AutoAttack``).

Both run in this process on the same tensors with the same number of torch threads, taking turns
on chunks of ``--batch`` images (ours on a chunk, then AutoAttack on it), so load from other
processes on a shared machine falls on both alike; time is process CPU time (all threads). Our
time covers the model checks that choose the suite's attacks and every ``evaluate`` call: every
attack, the harness's verification of every adversarial example and its re-prediction. Robust
accuracy is over all N images (a misclassified clean image is not robust); per-image
disagreements are listed both ways.

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


def run_ours(
    model: nn.Module, x: Tensor, y: Tensor, suite: tuple[list[Any], str], eps: float, seed: int, start: int
) -> tuple[Tensor, Any, float]:
    """One chunk under the standard suite: the L∞ robust column, the result, CPU seconds.

    ``start`` (the chunk's position) keeps the harness's per-batch seeds those of one whole run.
    """
    from bandlimit.evaluation import evaluate

    attacks, mode = suite

    def go() -> Any:
        return evaluate(model, (x, y), attacks, mode=mode, seed=seed, batch_size=len(x), index_offset=start)

    result, cpu, _ = timed(go)
    group = next(g.key for g in result.groups if g.norm == "linf" and abs(g.eps - eps) < 1e-12)
    return result.samples.robust[group].bool(), result, cpu


def run_autoattack(model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int) -> tuple[Tensor, float]:
    """One chunk under torchattacks.AutoAttack(version="standard"): per-image robustness, CPU seconds."""
    import torchattacks

    classes = int(model(x[:1]).shape[1])
    attack = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=classes, seed=seed)
    x_adv, cpu, _ = timed(lambda: attack(x, y).detach())
    # The same check our harness makes: within the ball and [0, 1] before re-predicting.
    assert float((x_adv - x).abs().max()) <= eps + 1e-6 and 0.0 <= float(x_adv.min()) <= float(x_adv.max()) <= 1.0
    return correct(model, x_adv, y), cpu


def compare(model: nn.Module, x: Tensor, y: Tensor, eps: float, seed: int, batch: int) -> dict[str, Any]:
    """Both on every chunk of ``batch`` images in turn, so a busy machine slows both alike.

    Each chunk is one harness batch at its global position (``index_offset``), so our per-image
    results equal those of a single ``evaluate`` call with ``batch_size=batch``.
    """
    from bandlimit.cli.suites import suite_attacks

    suite, cpu_setup, _ = timed(lambda: suite_attacks("standard", model, x[:8], y[:8], eps))
    ours, theirs, per_attack = [], [], {}
    cpu = {"ours": cpu_setup, "autoattack": 0.0}
    for start in range(0, len(x), batch):
        xc, yc = x[start : start + batch], y[start : start + batch]
        robust, result, seconds = run_ours(model, xc, yc, suite, eps, seed, start)
        ours.append(robust)
        cpu["ours"] += seconds
        for a in result.attacks:
            entry = per_attack.setdefault(a.key, {"survivors": 0, "time_s": 0.0})
            entry["survivors"] += round(a.robust_accuracy * a.n)
            entry["time_s"] += a.time_s
        robust_aa, seconds = run_autoattack(model, xc, yc, eps, seed + start)
        theirs.append(robust_aa)
        cpu["autoattack"] += seconds
        logger.info(
            "images %d-%d: robust %d (ours) / %d (AutoAttack); CPU so far %.0f s / %.0f s",
            start, start + len(xc) - 1, int(torch.cat(ours).sum()), int(torch.cat(theirs).sum()),
            cpu["ours"], cpu["autoattack"],
        )  # fmt: skip
    return {
        "ours": torch.cat(ours),
        "theirs": torch.cat(theirs),
        "cpu": cpu,
        "attacks": [repr(a) for a in suite[0]],
        "per_attack": per_attack,
    }


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
    out = compare(model, x, y, eps, args.seed, args.batch)
    ours, theirs, cpu = out["ours"], out["theirs"], out["cpu"]
    only_ours = (~ours & theirs).nonzero().squeeze(1).tolist()  # broken by us only
    only_theirs = (ours & ~theirs).nonzero().squeeze(1).tolist()  # broken by AutoAttack only
    ratio = cpu["ours"] / max(cpu["autoattack"], 1e-9)
    name = "tiny" if args.tiny else args.model
    print(f"{name} at L∞ {args.eps} on the {what}, {torch.get_num_threads()} threads")
    print(f"{'':18s} {'standard suite':>16s} {'AutoAttack':>12s}")
    print(f"{'clean accuracy':18s} {clean.float().mean():>16.2%}")
    print(f"{'robust accuracy':18s} {ours.float().mean():>16.2%} {theirs.float().mean():>12.2%}")
    print(f"{'CPU s':18s} {cpu['ours']:>16.1f} {cpu['autoattack']:>12.1f}")
    print(f"CPU time ratio (ours / AutoAttack): {ratio:.3f}")
    print(f"broken only by ours ({len(only_ours)}): {only_ours}")
    print(f"broken only by AutoAttack ({len(only_theirs)}): {only_theirs}")
    for key, facts in out["per_attack"].items():
        print(f"  {key:40s} robust after it {facts['survivors']:5d}  {facts['time_s']:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "model": name,
            "data": what,
            "eps": args.eps,
            "seed": args.seed,
            "threads": torch.get_num_threads(),
            "clean_accuracy": float(clean.float().mean()),
            "robust_accuracy": {"ours": float(ours.float().mean()), "autoattack": float(theirs.float().mean())},
            "cpu_s": cpu,
            "cpu_ratio": ratio,
            "attacks": out["attacks"],
            "per_attack": out["per_attack"],
            "broken_only_by_ours": only_ours,
            "broken_only_by_autoattack": only_theirs,
        }
        args.json.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
