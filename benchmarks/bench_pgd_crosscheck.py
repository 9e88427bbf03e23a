"""Cross-check: our PGD against torchattacks.PGD / PGDL2 on real weights and images.

Claims checked:

* **Default strength** (issue 11): ``PGD(eps=..., steps=n)`` with its default step-size rule
  (a cosine schedule from eps down, :func:`attacks.pgd.cosine_steps`) is at least as strong
  as torchattacks.PGD at equal steps, with torchattacks' usual ``alpha = eps / 4`` and with
  Madry et al.'s ``alpha = 2.5 * eps / steps`` (our earlier default, also shown for our PGD).
  The table gives the mean and sample standard deviation of the robust accuracy over the
  seeds for each L∞ eps and step count, and for L2 against torchattacks.PGDL2 with its
  default ``alpha = 0.2``.
* **Same algorithm** (issue 3, ``--same-start``): at the same fixed step ours matches
  torchattacks from the same random start. torchattacks draws ``uniform_(-eps, eps)`` from the
  global generator, ours draws ``2u - 1`` times eps from an explicit generator; seeding both
  with the same number gives the same start. The trajectories still part after a few steps
  (torchattacks keeps the adversarial image and ours the perturbation, so the model sees
  inputs that differ in the last bit, and the sign step amplifies that wherever a gradient
  component is near zero); the per-image counts show how large that chaos is.

Model: the public natural ResNet-20 (``shared/weights/resnet20-12fca82f.th``), or with
``--model`` a registered pretrained one (``resnet20-fastat``: adversarially trained, so 8/255
is informative); images: the
first ``--n`` of the 1,028 lossless CIFAR-10 test images (``shared/data/cifar10/test_lossless_1028.npz``).
Needs ``torchattacks``. The full table (256 images, 3 seeds, 3 eps x 3 step counts, L2) takes
about an hour on 2 CPU threads; the same-start check about 1 minute per (seed, eps).

Usage::

    nice -n 10 python benchmarks/bench_pgd_crosscheck.py --n 256 --seeds 0 1 2 --eps 1 2 8 --steps 10 20 50
    nice -n 10 python benchmarks/bench_pgd_crosscheck.py --model resnet20-fastat --eps 8 --l2-eps
    python benchmarks/bench_pgd_crosscheck.py --same-start --seeds 0 1 2 --eps 1 2 --steps 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _public import correct, resnet20_and_images

#: torchattacks.PGDL2's default step.
TA_L2_ALPHA = 0.2


def spread(values: list[float]) -> float:
    """Sample standard deviation (0 for a single value)."""
    return statistics.stdev(values) if len(values) > 1 else 0.0


def robust(model: nn.Module, x_adv: Tensor, y: Tensor) -> float:
    """Robust accuracy in percent."""
    return 100 * float(correct(model, x_adv, y).float().mean())


def strength_table(model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace) -> None:
    """Robust accuracy of our default PGD and of torchattacks at equal steps, over seeds."""
    import torchattacks

    from attacks.pgd import PGD

    def ours(**kw: float) -> Callable[[int], Tensor]:
        return lambda seed: PGD(**kw)(model, x, y, generator=torch.Generator().manual_seed(seed))

    def theirs(make: Callable[[], Callable[[Tensor, Tensor], Tensor]]) -> Callable[[int], Tensor]:
        def run(seed: int) -> Tensor:
            torch.manual_seed(seed)  # torchattacks draws its random start from the global generator
            return make()(x, y)

        return run

    rows: list[tuple[str, dict[str, Callable[[int], Tensor]]]] = []
    for eps255 in args.eps:
        eps = eps255 / 255
        for steps in args.steps:
            rows.append(
                (
                    f"linf {eps255:g}/255, {steps} steps",
                    {
                        "ours (default)": ours(eps=eps, steps=steps),
                        "ours 2.5*eps/steps": ours(eps=eps, steps=steps, abs_stepsize=2.5 * eps / steps),
                        "ta eps/4": theirs(lambda e=eps, s=steps: torchattacks.PGD(model, eps=e, alpha=e / 4, steps=s)),
                        "ta 2.5*eps/steps": theirs(
                            lambda e=eps, s=steps: torchattacks.PGD(model, eps=e, alpha=2.5 * e / s, steps=s)
                        ),
                    },
                )
            )
    for eps in args.l2_eps:
        for steps in args.steps:
            rows.append(
                (
                    f"l2 {eps:g}, {steps} steps",
                    {
                        "ours (default)": ours(eps=eps, norm="l2", steps=steps),  # type: ignore[arg-type]
                        "ta PGDL2 alpha 0.2": theirs(
                            lambda e=eps, s=steps: torchattacks.PGDL2(model, eps=e, alpha=TA_L2_ALPHA, steps=s)
                        ),
                    },
                )
            )
    print(f"robust accuracy (%), mean +- sd over seeds {args.seeds}; ta = torchattacks, random start everywhere")
    for label, attacks in rows:
        cells = []
        for name, run in attacks.items():
            accs = [robust(model, run(seed), y) for seed in args.seeds]
            cells.append(f"{name} {statistics.fmean(accs):5.2f} +- {spread(accs):4.2f}")
        print(f"{label:<24} " + " | ".join(cells), flush=True)


def same_start(model: nn.Module, x: Tensor, y: Tensor, args: argparse.Namespace) -> None:
    """Ours against torchattacks.PGD at the same fixed step, from the same random start."""
    import torchattacks

    from attacks.pgd import PGD

    steps = args.steps[0]
    print(f"L-inf PGD, {steps} steps, step 2.5 * eps / steps, random start; seeds {args.seeds}")
    for eps255 in args.eps:
        eps = eps255 / 255
        alpha = 2.5 * eps / steps
        ours_acc, ref_acc, only_ref_total = [], [], 0
        for seed in args.seeds:
            # The two starts, drawn the way each implementation draws them, to show they coincide.
            torch.manual_seed(seed)
            start_ref = torch.empty_like(x).uniform_(-eps, eps)
            start_ours = (2.0 * torch.rand(x.shape, generator=torch.Generator().manual_seed(seed)) - 1.0) * eps
            start_gap = float((start_ref - start_ours).abs().max())
            attack = PGD(eps=eps, steps=steps, abs_stepsize=alpha)
            ours = attack(model, x, y, generator=torch.Generator().manual_seed(seed))
            torch.manual_seed(seed)  # torchattacks draws its random start from the global generator
            ref = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)(x, y)
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


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eps", type=float, nargs="+", default=[1.0, 2.0, 8.0], help="L-inf eps in 1/255 units")
    parser.add_argument("--l2-eps", type=float, nargs="*", default=[0.25], help="L2 eps (none: skip L2)")
    parser.add_argument("--steps", type=int, nargs="+", default=[10, 20, 50])
    parser.add_argument("--n", type=int, default=256, help="number of test images")
    parser.add_argument("--model", default=None, help="a registered pretrained model (default: public ResNet-20)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--same-start", action="store_true", help="the same-start check at the first --steps")
    args = parser.parse_args(argv)
    try:
        import torchattacks  # noqa: F401
    except ImportError:
        sys.exit("needs torchattacks: pip install torchattacks")
    torch.set_num_threads(args.threads)
    model, x, y = resnet20_and_images(args.n, args.model)
    clean = correct(model, x, y)
    name = args.model or "public ResNet-20"
    print(f"{name}, {len(x)} lossless CIFAR-10 test images, clean accuracy {clean.float().mean():.2%}")
    if args.same_start:
        same_start(model, x, y, args)
    else:
        strength_table(model, x, y, args)


if __name__ == "__main__":
    main()
