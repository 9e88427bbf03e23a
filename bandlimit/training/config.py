"""Training configuration (one frozen dataclass) and the learning-rate schedules.

Every hyperparameter of a run lives in :class:`TrainConfig`; the recipe (what loss is
minimised) is a separate object with its own settings. The schedules are pure functions of
the optimisation step, so the loop sets the learning rate before every step and a resumed
run needs nothing but the step count to continue the schedule exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bandlimit._checks import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
)

__all__ = ["OPTIMIZERS", "SCHEDULES", "TrainConfig", "learning_rate", "run_id"]

SCHEDULES = ("onecycle", "cosine", "cyclic", "multistep")
OPTIMIZERS = ("sgd",)

#: Fields that do not change the numbers a run produces (where it writes, how it reports);
#: they are left out of the run identity so that a run can be resumed with them changed.
_NON_IDENTITY_FIELDS = frozenset({"out_dir", "resume", "eval_every", "device", "quiet"})


@dataclass(frozen=True)
class TrainConfig:
    """Every hyperparameter of a training run.

    Attributes:
        epochs: Number of passes over the training data.
        batch_size: Global batch size (split evenly across ranks under ``torchrun``).
        optimizer: ``"sgd"`` (heavy-ball momentum, Nesterov by default).
        lr: Peak learning rate.
        momentum: SGD momentum.
        nesterov: Use Nesterov momentum.
        weight_decay: L2 weight decay applied by the optimizer to every parameter.
        schedule: ``"onecycle"`` (linear warm-up to ``lr`` over ``warmup`` epochs, default
            20 % of training, then linear decay to 0), ``"cyclic"`` (Wong et al. 2020:
            triangle 0 -> ``lr`` at mid-training -> 0), ``"cosine"`` (optional linear
            warm-up, then cosine decay to 0) or ``"multistep"`` (optional warm-up, then
            ``lr * gamma**k`` after each milestone). All are updated every iteration.
        warmup: Warm-up length in epochs (may be fractional); ``None`` = schedule default
            (20 % of training for onecycle, 0 for cosine and multistep; ignored by cyclic).
        milestones: Epochs at which ``multistep`` multiplies the rate by ``gamma``;
            empty = at 50 % and 75 % of training.
        gamma: Multistep decay factor.
        seed: Seed of every random draw of the run (shuffling, augmentation, recipe noise).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.
        bf16: Run forward/backward under bfloat16 autocast (CPU and CUDA).
        channels_last: Use the channels-last memory format for model and inputs.
        augment: Random crop (``crop_padding`` px) and horizontal flip, on the device.
        crop_padding: Padding of the random crop.
        eval_every: Evaluate clean test accuracy every this many epochs (and at the end).
        eval_batch_size: Batch size for evaluation.
        out_dir: Folder for checkpoints and logs; ``None`` keeps everything in memory.
        resume: Path of a training-state file to continue from, or ``None``.
        quiet: Disable the progress bar.
    """

    epochs: int = 30
    batch_size: int = 256
    optimizer: str = "sgd"
    lr: float = 0.2
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    schedule: str = "onecycle"
    warmup: float | None = None
    milestones: tuple[float, ...] = field(default_factory=tuple)
    gamma: float = 0.1
    seed: int = 0
    device: str = "auto"
    bf16: bool = True
    channels_last: bool = True
    augment: bool = True
    crop_padding: int = 4
    eval_every: int = 1
    eval_batch_size: int = 1024
    out_dir: str | None = None
    resume: str | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.batch_size, "batch_size")
        check_choice(self.optimizer, "optimizer", OPTIMIZERS)
        check_positive(self.lr, "lr")
        check_nonnegative(self.momentum, "momentum")
        check_nonnegative(self.weight_decay, "weight_decay")
        check_choice(self.schedule, "schedule", SCHEDULES)
        if self.warmup is not None:
            warmup = check_nonnegative(self.warmup, "warmup")
            if warmup > self.epochs:
                raise ValueError(f"warmup: expected at most epochs={self.epochs} epochs, got {warmup}")
        if not isinstance(self.milestones, tuple):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        for m in self.milestones:
            check_nonnegative(m, "milestones")
        check_positive(self.gamma, "gamma")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise TypeError(f"seed: expected an int, got {self.seed!r}")
        if not isinstance(self.device, str):
            raise TypeError(f"device: expected a string such as 'cpu' or 'cuda', got {self.device!r}")
        check_positive_int(self.crop_padding, "crop_padding", minimum=0)
        check_positive_int(self.eval_every, "eval_every")
        check_positive_int(self.eval_batch_size, "eval_batch_size")
        for name in ("out_dir", "resume"):
            value = getattr(self, name)
            if isinstance(value, Path):
                object.__setattr__(self, name, str(value))
            elif value is not None and not isinstance(value, str):
                raise TypeError(f"{name}: expected a path or None, got {type(value).__name__}")

    def to_dict(self) -> dict[str, Any]:
        """The configuration as a JSON-serialisable dict."""
        out = dataclasses.asdict(self)
        out["milestones"] = list(self.milestones)
        return out

    def identity(self) -> dict[str, Any]:
        """The fields that determine the numbers a run produces (see ``run_id``)."""
        return {k: v for k, v in self.to_dict().items() if k not in _NON_IDENTITY_FIELDS}


def run_id(config: TrainConfig, recipe: dict[str, Any], architecture: str) -> str:
    """A short hash naming a run: the config identity, the recipe and the architecture."""
    blob = json.dumps(
        {"config": config.identity(), "recipe": recipe, "architecture": architecture},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def learning_rate(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """The learning rate for optimisation step ``step`` (0-based) of a run.

    The rate is evaluated at the end of the step's interval (``step + 1``) so that the
    first step of a warm-up does not use a rate of exactly 0.

    Args:
        config: The run configuration (schedule, lr, warmup, milestones, gamma, epochs).
        step: Global step index, ``0 <= step < epochs * steps_per_epoch``.
        steps_per_epoch: Optimisation steps in one epoch.

    Returns:
        The learning rate (a float >= 0).
    """
    total = config.epochs * steps_per_epoch
    t = min(step + 1, total) / steps_per_epoch  # progress in epochs, in (0, epochs]
    peak = config.lr
    if config.schedule == "cyclic":
        # Wong et al. 2020: triangular cycle, peak at the middle of training.
        return _triangle(t, config.epochs / 2, config.epochs, peak)
    if config.schedule == "onecycle":
        warm = config.warmup if config.warmup is not None else 0.2 * config.epochs
        return _triangle(t, warm, config.epochs, peak)
    warm = config.warmup or 0.0
    if t < warm:
        return peak * t / warm
    if config.schedule == "cosine":
        span = config.epochs - warm
        frac = (t - warm) / span if span > 0 else 1.0
        return peak * 0.5 * (1.0 + math.cos(math.pi * frac))
    milestones = config.milestones or (0.5 * config.epochs, 0.75 * config.epochs)
    passed = sum(1 for m in milestones if t > m)
    return peak * config.gamma**passed


def _triangle(t: float, top: float, end: float, peak: float) -> float:
    """Piecewise-linear 0 -> ``peak`` at ``top`` -> 0 at ``end``."""
    if t <= top:
        return peak * t / top if top > 0 else peak
    return peak * max(end - t, 0.0) / (end - top) if end > top else 0.0
