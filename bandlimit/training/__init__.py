"""The training loop (core): recipes supply the loss, the loop does everything else.

``train(model, data, recipe, TrainConfig(...))`` keeps the data on the device, augments
whole batches there, runs under bf16 autocast with channels-last tensors, checkpoints
atomically every epoch (exact resume), logs metrics as JSON and scales out under
``torchrun``. Recipes (natural, Gaussian, PGD-AT, fast FGSM-RS, TRADES) live in
``defenses.recipes``; this package never imports ``attacks`` or ``defenses``.
"""

from __future__ import annotations

from bandlimit.training.augment import augment_batch, random_crop, random_flip
from bandlimit.training.config import SCHEDULES, TrainConfig, learning_rate
from bandlimit.training.distributed import DistInfo, dist_info
from bandlimit.training.loop import Recipe, TrainResult, evaluate_accuracy, train
from bandlimit.training.state import read_training_state

__all__ = [
    "SCHEDULES",
    "DistInfo",
    "Recipe",
    "TrainConfig",
    "TrainResult",
    "augment_batch",
    "dist_info",
    "evaluate_accuracy",
    "learning_rate",
    "random_crop",
    "random_flip",
    "read_training_state",
    "train",
]
