"""Fine-tune the public lossless-trained ResNet-20 on the lossless CIFAR-10 training images.

The frequency experiments need models that never saw JPEG: JPEG (quality 75) removes exactly the
high frequencies they measure. The only lossless CIFAR-10 training images available offline are
the 4,660 of ``../shared/data/cifar10/train_lossless_4660.npz`` (932 per official training batch),
too few to train a ResNet-20 from scratch to a useful accuracy, so the robust and noise-trained
models start from the public natural ResNet-20 (``../shared/weights/resnet20-12fca82f.th``,
trained by its authors on the full lossless training set) and are fine-tuned here with a
library recipe on those 4,660 images, evaluated on the 1,028 lossless test images.

Usage (from the repository root, with ``../shared`` beside it)::

    python tools/train_lossless_models.py gaussian   # -> runs/resnet20-gaussian-lossless/
    python tools/train_lossless_models.py pgd_at     # -> runs/resnet20-pgdat-lossless/

then ``python tools/ship_models.py --run runs/<name> --name <name> --data npz:...`` writes the
checkpoint and model card. Every hyperparameter is in :data:`RUNS`.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import torch

from bandlimit.data import load_dataset
from bandlimit.models import create_model, load_checkpoint
from bandlimit.training import TrainConfig, train
from defenses.recipes import create_recipe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
TRAIN = SHARED / "data" / "cifar10" / "train_lossless_4660.npz"
TEST = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"

#: name -> (recipe name, recipe settings, TrainConfig settings). Fine-tuning from converged
#: weights: a short one-cycle schedule with a peak rate a tenth of from-scratch training.
RUNS: dict[str, tuple[str, dict[str, object], dict[str, object]]] = {
    "gaussian": (
        "gaussian",
        {"sigma": 0.1, "mode": "fixed"},
        {"epochs": 20, "batch_size": 128, "lr": 0.02, "schedule": "onecycle", "warmup": 2.0},
    ),
    "pgd_at": (
        "pgd_at",
        {"eps": 8 / 255, "steps": 7, "step_size": 2 / 255},
        {"epochs": 30, "batch_size": 128, "lr": 0.05, "schedule": "onecycle", "warmup": 3.0},
    ),
}
NAMES = {"gaussian": "resnet20-gaussian-lossless", "pgd_at": "resnet20-pgdat-lossless"}


def main(argv: list[str] | None = None) -> int:
    """Fine-tune one model and write ``runs/<name>/`` (checkpoints, metrics.json, model.pt)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", choices=sorted(RUNS))
    parser.add_argument("--out", type=Path, default=None, help="default runs/<name>")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue from runs/<name>/state.pt")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in (WEIGHTS, TRAIN, TEST):
        if not path.is_file():
            raise SystemExit(f"missing {path}: this tool needs the team's offline data in ../shared")
    torch.set_num_threads(args.threads)
    recipe_name, recipe_settings, config_settings = RUNS[args.run]
    out = args.out or ROOT / "runs" / NAMES[args.run]
    model = load_checkpoint(WEIGHTS, create_model("resnet20"))
    resume = str(out / "state.pt") if args.resume else None
    config = TrainConfig(
        **config_settings, seed=args.seed, device="cpu", out_dir=str(out), quiet=True, weight_decay=5e-4, resume=resume
    )
    start = time.perf_counter()
    result = train(
        model,
        load_dataset(f"npz:{TRAIN}"),
        create_recipe(recipe_name, **recipe_settings),
        config,
        test_data=load_dataset(f"npz:{TEST}"),
        metadata={"dataset": "cifar10-lossless-4660", "init": WEIGHTS.name},
    )
    logging.info("%s: %.0f s, final %s", NAMES[args.run], time.perf_counter() - start, result.final)
    return 0


if __name__ == "__main__":
    sys.exit(main())
