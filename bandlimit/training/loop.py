"""The training loop: recipes supply the loss, the loop does everything else.

Design (after airbench): the whole training set lives on the device as one compact tensor
(``uint8`` when the images are 8-bit, which CIFAR is), batches are gathered, augmented and
converted to float on the device, and forward/backward run under bfloat16 autocast with
channels-last tensors. The loop knows nothing of attacks: a *recipe* (see
:class:`Recipe`; implementations live in ``defenses.recipes``) maps a batch to a loss.

Every epoch ends with an atomic training-state file (``state.pt``) that continues the run
bit-exactly, a model checkpoint (``last.pt``, plus ``best.pt`` when the test accuracy
improves) and a JSON metrics log (``metrics.json``); the final model goes to ``model.pt``.
These files are written and checked by :mod:`bandlimit.training.checkpointing`; the steps of
one epoch are :func:`bandlimit.training.epoch.train_epoch`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from bandlimit._progress import progress_bar
from bandlimit._torch import resolve_device
from bandlimit.training.checkpointing import check_resume, prepare_out_dir, write_epoch
from bandlimit.training.config import TrainConfig, run_id
from bandlimit.training.data import as_tensors
from bandlimit.training.distributed import all_gather_objects, broadcast_buffers, setup
from bandlimit.training.epoch import evaluate_accuracy, format_record, train_epoch
from bandlimit.training.state import capture_global_rng, read_training_state, restore_global_rng

__all__ = ["Recipe", "TrainResult", "evaluate_accuracy", "train"]

logger = logging.getLogger(__name__)


@runtime_checkable
class Recipe(Protocol):
    """What the loop needs from a training recipe.

    ``loss`` receives the model in train mode and a float batch in [0, 1] (already
    augmented) and returns the scalar loss to minimise and the logits used for the
    training accuracy. Recipes may also expose ``config: dict`` (recorded in checkpoints).
    """

    name: str

    def loss(
        self, model: nn.Module, x: Tensor, y: Tensor, *, generator: torch.Generator | None
    ) -> tuple[Tensor, Tensor]:
        """Return ``(loss, logits)`` for one batch."""
        ...


@dataclass
class TrainResult:
    """What :func:`train` returns (the model itself is trained in place).

    Attributes:
        history: One record per epoch (train loss/accuracy, test accuracy, lr, time, img/s).
        run_id: Hash of the configuration, recipe and architecture.
        out_dir: Where files were written, or None.
        files: Paths of the files written (``state``, ``last``, ``best``, ``model``, ``metrics``).
    """

    history: list[dict[str, Any]]
    run_id: str
    out_dir: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's record."""
        return self.history[-1] if self.history else {}


def _check_recipe(recipe: Any) -> dict[str, Any]:
    if not isinstance(getattr(recipe, "name", None), str) or not callable(getattr(recipe, "loss", None)):
        raise TypeError(
            "recipe: expected an object with a `name` string and a `loss(model, x, y, *, generator)` "
            f"method (see defenses.recipes), got {type(recipe).__name__}"
        )
    config = getattr(recipe, "config", {})
    return {"name": recipe.name, **(dict(config) if isinstance(config, dict) else {})}


def train(
    model: nn.Module,
    train_data: Any,
    recipe: Recipe,
    config: TrainConfig | None = None,
    *,
    test_data: Any = None,
    metadata: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``model`` in place with ``recipe`` under ``config``.

    Args:
        model: An ``nn.Module`` from [0, 1] images to logits (normalisation inside).
        train_data: An ``(x, y)`` pair of tensors (``x`` uint8 0..255 or float in [0, 1],
            ``(N, C, H, W)``) or a Dataset of ``(image, label)``; held on the device.
        recipe: The loss to minimise (``defenses.recipes``).
        config: Every hyperparameter; defaults to ``TrainConfig()``.
        test_data: Optional held-out data (same forms) for clean test accuracy.
        metadata: Extra metadata for the model checkpoints (e.g. ``{"dataset": ...}``).

    Returns:
        A :class:`TrainResult` with the per-epoch history.

    Raises:
        TypeError: ``model``, ``recipe`` or the data have the wrong type.
        ValueError: bad data shapes, a batch larger than the data, a resume file from another
            run, or an out dir that already holds a run.
        PermissionError: ``config.out_dir`` cannot be written.
        FloatingPointError: the loss became NaN/inf (nothing is written for that epoch).
    """
    config = config or TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    recipe_cfg = _check_recipe(recipe)
    device = resolve_device(config.device)
    info = setup(device)
    if device.type == "cuda" and info.enabled:
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)

    x_train, y_train = as_tensors(train_data, "train_data", device)
    test = as_tensors(test_data, "test_data", device) if test_data is not None else None
    local_bs = config.batch_size // info.world_size
    if config.batch_size % info.world_size:
        raise ValueError(
            f"batch_size: expected a multiple of the world size {info.world_size}, got {config.batch_size}"
        )
    per_rank = -(-x_train.shape[0] // info.world_size)
    steps_per_epoch = per_rank // local_bs
    if steps_per_epoch == 0:
        raise ValueError(
            f"batch_size: expected at most {per_rank * info.world_size} (the training set size), "
            f"got {config.batch_size}; lower --batch-size"
        )

    meta = dict(getattr(model, "bandlimit_meta", {}) or {})
    architecture = str(meta.get("architecture", type(model).__name__))
    ident = {"config": config.identity(), "recipe": recipe_cfg, "architecture": architecture}
    rid = run_id(config, recipe_cfg, architecture)
    out = prepare_out_dir(config) if info.is_main else (Path(config.out_dir) if config.out_dir else None)

    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model.to(device=device, memory_format=memory_format)
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=config.lr,
        momentum=config.momentum,
        nesterov=config.nesterov and config.momentum > 0,
        weight_decay=config.weight_decay,
    )
    # Three generators: the shuffle is shared by all ranks (same permutation, then sharded);
    # augmentation and recipe noise differ per rank so that shards do not get equal draws.
    shuffle_gen = torch.Generator().manual_seed(config.seed)
    aug_gen = torch.Generator().manual_seed(config.seed + 7919 * (info.rank + 1))
    recipe_gen = torch.Generator(device=device).manual_seed(config.seed + 104729 * (info.rank + 1))

    history: list[dict[str, Any]] = []
    best_acc = -math.inf
    start_epoch = 0
    if config.resume is not None:
        state = read_training_state(config.resume)
        check_resume(state, rid, ident, info, config.resume)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        shuffle_gen.set_state(state["shuffle_rng"])
        ranks = state["rank_rng"][info.rank]
        aug_gen.set_state(ranks["aug"])
        recipe_gen.set_state(ranks["recipe"])
        restore_global_rng(ranks["global"])
        history = list(state["history"])
        best_acc = float(state.get("best_acc", -math.inf))
        start_epoch = int(state["epoch"])
        logger.info("resumed %s at epoch %d/%d", config.resume, start_epoch, config.epochs)

    net: nn.Module = model
    if info.enabled:
        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    files: dict[str, Path] = {}
    ckpt_meta = {
        **meta,
        **(metadata or {}),
        "architecture": architecture,
        "recipe": recipe_cfg,
        "train_config": config.to_dict(),
        "run_id": rid,
    }
    # A bar on a terminal, plain progress lines in a log (bandlimit._progress.progress_bar).
    show = info.is_main and not config.quiet

    with progress_bar("train", enabled=show, transient=False) as progress:
        for epoch in range(start_epoch, config.epochs):
            record = train_epoch(
                net,
                x_train,
                y_train,
                recipe,
                optimizer,
                config,
                epoch=epoch,
                steps_per_epoch=steps_per_epoch,
                local_bs=local_bs,
                info=info,
                gens=(shuffle_gen, aug_gen, recipe_gen),
                progress=progress,
            )
            broadcast_buffers(model, info)
            last = epoch + 1 == config.epochs
            if test is not None and ((epoch + 1) % config.eval_every == 0 or last):
                record["test_acc"] = evaluate_accuracy(
                    model,
                    *test,
                    batch_size=config.eval_batch_size,
                    bf16=config.bf16,
                    channels_last=config.channels_last,
                    info=info,
                )
            history.append(record)
            if info.is_main:
                logger.info("epoch %d/%d %s", epoch + 1, config.epochs, format_record(record))
            improved = record.get("test_acc", -math.inf) > best_acc
            best_acc = max(best_acc, record.get("test_acc", -math.inf))
            # Every rank takes part in the gather; only rank 0 writes.
            rank_rng = all_gather_objects(
                {"aug": aug_gen.get_state(), "recipe": recipe_gen.get_state().cpu(), "global": capture_global_rng()},
                info,
            )
            if out is not None and info.is_main:
                files.update(
                    write_epoch(
                        out,
                        model,
                        optimizer,
                        shuffle_gen,
                        rank_rng,
                        history,
                        best_acc,
                        rid,
                        ident,
                        info,
                        ckpt_meta,
                        improved=improved,
                        last=last,
                    )
                )
    return TrainResult(history=history, run_id=rid, out_dir=out, files=files)
