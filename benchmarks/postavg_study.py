"""Post-averaging (Lin et al. 2019) around a natural CIFAR-10 ResNet-20: how much does it defend?

Claim checked: post-averaging keeps clean accuracy for moderate radii and "defends" most
adversarial examples made on the *undefended* model (the paper's transfer protocol), but an
adaptive white-box attack on the averaged model itself (PGD with EOT) still breaks it.

Setup: public ResNet-20 (``../shared/weights/resnet20-12fca82f.th``), the first ``--n`` lossless
CIFAR-10 test images (``../shared/data/cifar10/test_lossless_1028.npz``), K = 15 Gaussian
directions, logit averaging. Radii are L2 in [0, 1] pixel units over 3×32×32. Lin et al.'s port
(square-attack ``post_avg/``) uses R = 6 on the *normalised* input (std ≈ 0.226), i.e.
r ≈ 1.35 here. Runs on CPU in a few minutes with the defaults (``--device cuda`` if present).

Usage: ``python benchmarks/postavg_study.py [--n 200] [--adaptive-n 64] [--device cpu]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from defenses.post_averaging import PostAveraging

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
DATA = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
RADII = (0.0, 0.5, 1.0, 1.35, 2.0, 4.0, 6.0)
SAMPLES = 15
EPS_LINF = 8 / 255
EPS_L2 = 0.5


def load_resnet20(device: torch.device) -> nn.Module:
    """The public ResNet-20 through bandlimit.models (a [0, 1]-input model, eval mode)."""
    from bandlimit.models import create_model, load_checkpoint

    model = load_checkpoint(WEIGHTS, create_model("resnet20"))
    return model.to(device).eval()


def load_cifar(n: int, device: torch.device) -> tuple[Tensor, Tensor]:
    """First ``n`` lossless CIFAR-10 test images as ``(N, 3, 32, 32)`` floats in [0, 1]."""
    with np.load(DATA) as data:
        x = torch.from_numpy(data["x"][:n]).permute(0, 3, 1, 2).float().div(255)
        y = torch.from_numpy(data["y"][:n].astype(np.int64))
    return x.to(device), y.to(device)


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, batch: int = 100) -> Tensor:
    """Per-sample correctness (bool ``(N,)``)."""
    return torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)])


def averaged(model: nn.Module, radius: float, seed: int, **kw: object) -> PostAveraging:
    """Fresh-direction post-averaging with a reproducible stream of draws."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    # Chunks of 256 images: large batches are slower per image on CPU (and bound GPU memory).
    return PostAveraging(model, radius=radius, samples=SAMPLES, generator=gen, chunk_size=256, **kw)  # type: ignore[arg-type]


def _attack_classes() -> tuple[type, type]:
    """``attacks.FGSM`` and ``attacks.PGD`` (from their module while the package exports them)."""
    try:
        from attacks import FGSM, PGD
    except ImportError:
        from attacks.pgd import FGSM, PGD
    return FGSM, PGD


def transfer_examples(model: nn.Module, x: Tensor, y: Tensor, seed: int) -> dict[str, Tensor]:
    """Adversarial examples made on the undefended model (the paper's protocol)."""
    FGSM, PGD = _attack_classes()
    gen = torch.Generator(device=x.device).manual_seed(seed)
    # early_stop=False: keep pushing past the boundary (fixed-eps attacks, not minimal ones).
    made = {
        "FGSM linf 8/255": FGSM(eps=EPS_LINF)(model, x, y),
        "PGD-20 linf 8/255": PGD(eps=EPS_LINF, steps=20, early_stop=False)(model, x, y, generator=gen),
        "PGD-20 l2 0.5": PGD(eps=EPS_L2, norm="l2", steps=20, early_stop=False)(model, x, y, generator=gen),
        # Minimal-perturbation attack: stops as soon as the label flips, like DeepFool/C&W.
        "PGD-50 l2 1.0 early-stop": PGD(
            eps=1.0, norm="l2", steps=50, rel_stepsize=0.02, random_start=False, early_stop=True
        )(model, x, y, generator=gen),
    }
    return made


def main() -> None:
    """Run the three measurements and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="images for clean and transfer tables")
    parser.add_argument("--adaptive-n", type=int, default=64, help="images for the PGD-EOT table")
    parser.add_argument("--adaptive-radius", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=10, help="PGD-EOT steps")
    parser.add_argument("--eot", type=int, nargs="+", default=[1, 4], help="EOT samples per step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--parts", nargs="+", choices=["clean", "transfer", "adaptive"], default=["clean", "transfer", "adaptive"]
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t0 = time.perf_counter()
    model = load_resnet20(device)
    x, y = load_cifar(args.n, device)
    print(f"ResNet-20, {args.n} lossless CIFAR-10 test images, K={SAMPLES} gaussian directions, device {device}")

    if "clean" in args.parts:
        clean_table(model, x, y, args.seed)
    if "transfer" in args.parts:
        transfer_table(model, x, y, args.seed)
    if "adaptive" in args.parts:
        adaptive_table(model, x[: args.adaptive_n], y[: args.adaptive_n], args)
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s")


def clean_table(model: nn.Module, x: Tensor, y: Tensor, seed: int) -> None:
    """1. Clean accuracy vs radius (logit and probability averaging)."""
    print("\n| r (L2, [0,1]) | rms/pixel | clean acc (logits) | clean acc (probs) |")
    print("|---|---|---|---|")
    for r in RADII:
        acc_l = accuracy(averaged(model, r, seed), x, y).float().mean().item()
        acc_p = accuracy(averaged(model, r, seed, average="probs"), x, y).float().mean().item()
        print(f"| {r:g} | {r / np.sqrt(3072):.4f} | {acc_l:.1%} | {acc_p:.1%} |")


def transfer_table(model: nn.Module, x: Tensor, y: Tensor, seed: int) -> None:
    """2. Paper's protocol: adversarial examples from the undefended model, classified by f̄."""
    clean_ok = accuracy(model, x, y)
    made = transfer_examples(model, x, y, seed)
    print("\nTransfer protocol. 'defended' = share of successful adversarial examples (clean-correct, fooled")
    print("the base model) that the averaged model classifies correctly; 'acc' = accuracy on all x_adv.")
    print("\n| attack | base acc | " + " | ".join(f"r={r:g} defended / acc" for r in RADII[1:]) + " |")
    print("|---|---|" + "---|" * len(RADII[1:]))
    for name, x_adv in made.items():
        base_ok = accuracy(model, x_adv, y)
        fooled = clean_ok & ~base_ok
        cells = []
        for r in RADII[1:]:
            ok = accuracy(averaged(model, r, seed + 1), x_adv, y)
            cells.append(f"{ok[fooled].float().mean().item():.1%} / {ok.float().mean().item():.1%}")
        print(f"| {name} | {base_ok.float().mean().item():.1%} | " + " | ".join(cells) + " |")
    median_l2 = (made["PGD-50 l2 1.0 early-stop"] - x).flatten(1).norm(dim=1).median().item()
    print(f"(median L2 of the early-stopped PGD perturbations: {median_l2:.3f})")


def adaptive_table(model: nn.Module, xa: Tensor, ya: Tensor, args: argparse.Namespace) -> None:
    """3. Adaptive attack: PGD with EOT on the averaged model itself."""
    _, PGD = _attack_classes()
    n, device, r = len(xa), xa.device, args.adaptive_radius
    print(f"\nAdaptive PGD-EOT on f̄ (r={r:g}, K={SAMPLES}), {n} images, {args.steps} steps, evaluated with fresh draws")
    print("\n| attack | EOT samples | acc of f̄ | acc of base model on the same x_adv |")
    print("|---|---|---|---|")
    defended = averaged(model, r, args.seed + 2)
    print(f"| none | - | {accuracy(defended, xa, ya).float().mean().item():.1%} | "
          f"{accuracy(model, xa, ya).float().mean().item():.1%} |")  # fmt: skip
    for norm, eps in (("linf", EPS_LINF), ("l2", EPS_L2)):
        for eot in args.eot:
            gen = torch.Generator(device=device).manual_seed(args.seed + eot)
            attack = PGD(eps=eps, norm=norm, steps=args.steps, eot_samples=eot, early_stop=False)
            x_adv = attack(defended, xa, ya, generator=gen)
            acc_def = accuracy(averaged(model, r, args.seed + 3), x_adv, ya).float().mean().item()
            acc_base = accuracy(model, x_adv, ya).float().mean().item()
            label = f"PGD-{args.steps} {norm} {'8/255' if norm == 'linf' else eps}"
            print(f"| {label} | {eot} | {acc_def:.1%} | {acc_base:.1%} |")


if __name__ == "__main__":
    main()
