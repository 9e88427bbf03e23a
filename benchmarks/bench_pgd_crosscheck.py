"""Cross-check: our PGD against torchattacks.PGD on real weights and images, per sample.

Claim checked (issue 3): our L∞ PGD is at least as strong as torchattacks.PGD at the same
settings. One pair of runs cannot show that: the difference between two runs is mostly
random-start noise. So this script compares them

* **from the same random start**: torchattacks draws ``uniform_(-eps, eps)`` from the global
  generator, ours draws ``2u - 1`` times eps from an explicit generator; seeding both with the
  same number gives the same start (the script prints the largest difference). The trajectories
  still part after a few steps: torchattacks keeps the adversarial image and ours the
  perturbation, so the model sees inputs that differ in the last bit, and the sign step
  amplifies that wherever a gradient component is near zero. The per-image counts ("broken
  only by ours / only by torchattacks") show how large that chaos is.
* **over several seeds**: mean and spread of the robust accuracy of both.

Model: the public natural ResNet-20 (``shared/weights/resnet20-12fca82f.th``); images: the
1,028 lossless CIFAR-10 test images (``shared/data/cifar10/test_lossless_1028.npz``). Needs
``torchattacks``. Runs about 1 minute per (seed, eps) pair on 2 CPU threads.

Usage::

    python benchmarks/bench_pgd_crosscheck.py --seeds 0 1 2 --eps 1 2
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attacks.pgd import PGD  # noqa: E402

SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
DATA = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"


def spread(values: list[float]) -> float:
    """Sample standard deviation (0 for a single value)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def correct(model: nn.Module, x: Tensor, y: Tensor, batch: int = 256) -> Tensor:
    """Per-sample correctness of the model's predictions."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)])


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eps", type=float, nargs="+", default=[1.0, 2.0], help="in 1/255 units")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--n", type=int, default=1028, help="number of test images")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    try:
        import torchattacks
    except ImportError:
        sys.exit("needs torchattacks: pip install torchattacks")
    if not (WEIGHTS.exists() and DATA.exists()):
        sys.exit(f"needs {WEIGHTS} and {DATA} (the shared/ folder beside the repository)")
    torch.set_num_threads(args.threads)
    from bandlimit.models import create_model, load_checkpoint

    model = create_model("resnet20")
    load_checkpoint(WEIGHTS, model)
    model.eval()
    data = np.load(DATA)
    x = torch.from_numpy(data["x"][: args.n]).permute(0, 3, 1, 2).float().div(255).contiguous()
    y = torch.from_numpy(data["y"][: args.n]).long()
    clean = correct(model, x, y)
    print(f"public ResNet-20, {len(x)} lossless CIFAR-10 test images, clean accuracy {clean.float().mean():.2%}")
    print(f"L-inf PGD, {args.steps} steps, step 2.5 * eps / steps, random start; seeds {args.seeds}")
    for eps255 in args.eps:
        eps = eps255 / 255
        alpha = 2.5 * eps / args.steps
        ours_acc, ref_acc, only_ref_total = [], [], 0
        for seed in args.seeds:
            # The two starts, drawn the way each implementation draws them, to show they coincide.
            torch.manual_seed(seed)
            start_ref = torch.empty_like(x).uniform_(-eps, eps)
            start_ours = (2.0 * torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) - 1.0) * eps
            start_gap = float((start_ref - start_ours).abs().max())
            ours = PGD(eps=eps, steps=args.steps, abs_stepsize=alpha)(
                model, x, y, generator=torch.Generator().manual_seed(seed)
            )
            torch.manual_seed(seed)  # torchattacks draws its random start from the global generator
            ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=args.steps, random_start=True)(x, y)
            ok_ours, ok_ref = correct(model, ours, y), correct(model, ref, y)
            assert float((ours - x).abs().max()) <= eps + 1e-6 and 0.0 <= float(ours.min()) <= float(ours.max()) <= 1.0
            only_ref = int((ok_ours & ~ok_ref).sum())  # broken by torchattacks only
            only_ours = int((~ok_ours & ok_ref).sum())
            only_ref_total += only_ref
            ours_acc.append(100 * float(ok_ours.float().mean()))
            ref_acc.append(100 * float(ok_ref.float().mean()))
            print(
                f"eps {eps255:g}/255 seed {seed}: robust accuracy ours {ours_acc[-1]:.2f}% "
                f"torchattacks {ref_acc[-1]:.2f}%; broken only by ours {only_ours}, only by torchattacks "
                f"{only_ref}; start difference {start_gap:.1e}"
            )
        print(
            f"eps {eps255:g}/255 over {len(args.seeds)} seeds: ours {statistics.fmean(ours_acc):.2f} "
            f"+- {spread(ours_acc):.2f}%, torchattacks {statistics.fmean(ref_acc):.2f} +- {spread(ref_acc):.2f}%; "
            f"images broken by torchattacks but not by ours: {only_ref_total}"
        )


if __name__ == "__main__":
    main()
