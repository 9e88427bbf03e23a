"""One epoch of the training loop and the clean accuracy it reports.

:func:`train_epoch` runs the steps of one epoch (shuffle shared by all ranks, this rank's
shard, on-device augmentation, the recipe's loss under optional bfloat16 autocast, the
learning rate of every step) and returns the epoch's record; :func:`evaluate_accuracy` is the
clean top-1 accuracy the loop records after an epoch, sharded and summed across ranks.
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._progress import Progress, notify
from bandlimit._torch import eval_mode
from bandlimit.data.base import as_float_images
from bandlimit.training.augment import augment_batch
from bandlimit.training.config import TrainConfig, learning_rate
from bandlimit.training.distributed import DistInfo, all_reduce_sum, shard_indices

__all__ = ["evaluate_accuracy", "format_record", "train_epoch"]

#: Seconds between two progress updates (each one syncs the device to read the running sums).
_PROGRESS_EVERY_S = 0.5


def _autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def _to_float(xb: Tensor, channels_last: bool) -> Tensor:
    x = as_float_images(xb)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def evaluate_accuracy(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    *,
    batch_size: int = 1024,
    bf16: bool = False,
    channels_last: bool = False,
    info: DistInfo | None = None,
) -> float:
    """Clean top-1 accuracy of ``model`` on ``(x, y)`` (sharded and summed across ranks).

    ``x`` may be ``uint8`` (0..255) or float in [0, 1]; it is batched on its own device.
    The model is put in eval mode for the call and every submodule's own mode restored afterwards.
    """
    info = info or DistInfo()
    device = x.device
    idx = torch.arange(info.rank, x.shape[0], info.world_size, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    # Each submodule gets its own flag back: a frozen (eval-mode) BatchNorm inside the training
    # model stays frozen, where model.train(was_training) would switch it to training.
    with eval_mode(model):
        for start in range(0, idx.numel(), batch_size):
            bi = idx[start : start + batch_size]
            with _autocast(device, bf16):
                logits = model(_to_float(x[bi], channels_last))
            correct += (logits.argmax(1) == y[bi]).sum()
    totals = all_reduce_sum(
        torch.stack([correct, torch.tensor(float(idx.numel()), device=device, dtype=torch.float64)]), info
    )
    return float(totals[0] / totals[1].clamp_min(1))


def train_epoch(
    net: nn.Module,
    x_train: Tensor,
    y_train: Tensor,
    recipe: Any,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    *,
    epoch: int,
    steps_per_epoch: int,
    local_bs: int,
    info: DistInfo,
    gens: tuple[torch.Generator, torch.Generator, torch.Generator],
    progress: Progress | None,
) -> dict[str, Any]:
    """Run epoch ``epoch`` (0-based) and return its record (loss, accuracy, lr, time, img/s).

    Args:
        net: The model (DDP-wrapped under torchrun).
        x_train: All training images on the device (uint8 or float).
        y_train: Their labels.
        recipe: The loss (``recipe.loss(model, x, y, *, generator)``).
        optimizer: The optimizer; its learning rate is set before every step.
        config: The run's settings.
        epoch: The epoch index.
        steps_per_epoch: Optimizer steps per epoch.
        local_bs: This rank's batch size.
        info: This rank's place in the job.
        gens: The shuffle, augmentation and recipe generators.
        progress: Progress callback (description with the running loss, accuracy and img/s).

    Raises:
        FloatingPointError: the epoch's loss is NaN or infinite.
    """
    shuffle_gen, aug_gen, recipe_gen = gens
    device = x_train.device
    net.train()
    perm = torch.randperm(x_train.shape[0], generator=shuffle_gen)
    idx = shard_indices(perm, info).to(device)
    # Sums stay on the device; the host only syncs for the progress bar and at epoch end.
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss * n, correct, n
    title = f"epoch {epoch + 1}/{config.epochs}"
    notify(progress, title, 0, steps_per_epoch)
    t0 = time.perf_counter()
    last_shown = t0
    lr = 0.0
    for step in range(steps_per_epoch):
        bi = idx[step * local_bs : (step + 1) * local_bs]
        xb, yb = x_train[bi], y_train[bi]
        if config.augment:
            xb = augment_batch(xb, crop_padding=config.crop_padding, generator=aug_gen)
        xb = _to_float(xb, config.channels_last)
        lr = learning_rate(config, epoch * steps_per_epoch + step, steps_per_epoch)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with _autocast(device, config.bf16):
            loss, logits = recipe.loss(net, xb, yb, generator=recipe_gen)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        n = yb.shape[0]
        sums += torch.stack(
            [
                loss.detach().double() * n,
                (logits.detach().argmax(1) == yb).sum().double(),
                torch.tensor(float(n), dtype=torch.float64, device=device),
            ]
        )
        now = time.perf_counter()
        if progress is not None and (now - last_shown > _PROGRESS_EVERY_S or step + 1 == steps_per_epoch):
            last_shown = now
            s = sums.tolist()
            ips = s[2] * info.world_size / (now - t0)
            stats = f"loss {s[0] / s[2]:.4f} acc {s[1] / s[2]:.3f} {ips:,.0f} img/s"
            progress(f"{title} {stats}", step + 1, steps_per_epoch)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elapsed = time.perf_counter() - t0
    totals = all_reduce_sum(sums, info).tolist()
    train_loss = totals[0] / totals[2]
    if not math.isfinite(train_loss):
        raise FloatingPointError(
            f"training diverged: loss is {train_loss} in epoch {epoch + 1}; lower the learning rate "
            "(the last checkpoint, if any, was left untouched)"
        )
    return {
        "epoch": epoch + 1,
        "train_loss": train_loss,
        "train_acc": totals[1] / totals[2],
        "lr": lr,
        "time_s": elapsed,
        "images_per_s": totals[2] / elapsed,
    }


def format_record(record: dict[str, Any]) -> str:
    """One log line for an epoch's record."""
    parts = [f"loss {record['train_loss']:.4f}", f"train acc {record['train_acc']:.4f}"]
    if "test_acc" in record:
        parts.append(f"test acc {record['test_acc']:.4f}")
    parts += [f"lr {record['lr']:.4g}", f"{record['images_per_s']:,.0f} img/s", f"{record['time_s']:.1f}s"]
    return " | ".join(parts)
