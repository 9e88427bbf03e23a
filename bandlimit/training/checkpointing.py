"""The files of a training run: the out-dir check, the per-epoch writes and the resume check.

Every epoch :func:`write_epoch` writes the model checkpoints (``last.pt``, ``best.pt`` when the
test accuracy improves, ``model.pt`` after the last epoch), the JSON metrics log
(``metrics.json``) and, last, the atomic training state (``state.pt``) that
:func:`bandlimit.training.train` continues bit-exactly; :func:`check_resume` refuses a state
written by another run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from bandlimit._io import write_json
from bandlimit.training.config import TrainConfig
from bandlimit.training.distributed import DistInfo
from bandlimit.training.state import STATE_FORMAT, write_training_state

__all__ = ["STATE_FILE", "check_resume", "prepare_out_dir", "write_epoch"]

STATE_FILE = "state.pt"


def prepare_out_dir(config: TrainConfig) -> Path | None:
    """Create ``config.out_dir`` and check it is writable and holds no other run.

    Returns:
        The folder, or None when ``config.out_dir`` is None.

    Raises:
        PermissionError: the folder cannot be created or written.
        ValueError: it already holds a training state and ``config.resume`` is not set.
    """
    if config.out_dir is None:
        return None
    out = Path(config.out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(f"out_dir: cannot write to {out} ({exc}); choose another --out") from exc
    state = out / STATE_FILE
    if state.exists() and config.resume is None:
        raise ValueError(
            f"out_dir: {out} already holds a training state ({state}); pass --resume {state} to "
            "continue that run, or choose another --out"
        )
    return out


def check_resume(state: dict[str, Any], rid: str, ident: dict[str, Any], info: DistInfo, path: str) -> None:
    """Check that a training state read from ``path`` was written by this run.

    Args:
        state: The training state (:func:`bandlimit.training.read_training_state`).
        rid: The current run id (hash of the configuration, recipe and architecture).
        ident: The current run identity: ``config``, ``recipe`` and ``architecture``.
        info: The current distributed layout (the world size must match the file's).
        path: Where the state was read from, for the message.

    Raises:
        ValueError: the state belongs to another run; the message lists what differs.
    """
    if state.get("run_id") == rid and state.get("world_size", 1) == info.world_size:
        return
    diffs = []
    for key in ("architecture", "recipe"):
        if state.get(key) != ident[key]:
            diffs.append(f"{key}: file {state.get(key)!r} vs now {ident[key]!r}")
    old = state.get("config", {})
    for key, value in ident["config"].items():
        if old.get(key) != value:
            diffs.append(f"{key}: file {old.get(key)!r} vs now {value!r}")
    if state.get("world_size", 1) != info.world_size:
        diffs.append(f"world_size: file {state.get('world_size')} vs now {info.world_size}")
    raise ValueError(
        f"resume: {path} was written by another run ({'; '.join(diffs) or 'different run id'}); "
        "resume with the same model, recipe and settings, or start a new run in another --out"
    )


def _save_model(path: Path, model: nn.Module, metadata: dict[str, Any]) -> None:
    from bandlimit.models import save_checkpoint  # core -> core; imported late to keep import light

    save_checkpoint(path, model, metadata=metadata)


def write_epoch(
    out: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    shuffle_gen: torch.Generator,
    rank_rng: list[Any],
    history: list[dict[str, Any]],
    best_acc: float,
    rid: str,
    ident: dict[str, Any],
    info: DistInfo,
    ckpt_meta: dict[str, Any],
    *,
    improved: bool,
    last: bool,
) -> dict[str, Path]:
    """Write the files of the epoch that ``history[-1]`` records (rank 0 only).

    Args:
        out: The run folder (:func:`prepare_out_dir`).
        model: The trained model (unwrapped from DDP).
        optimizer: Its optimizer (momentum buffers go into the state).
        shuffle_gen: The shuffle generator shared by all ranks.
        rank_rng: Per rank, the augmentation, recipe and global random states.
        history: One record per epoch so far.
        best_acc: The best test accuracy so far (``-inf`` when none).
        rid: The run id.
        ident: The run identity: ``config``, ``recipe`` and ``architecture``.
        info: The distributed layout (its world size is recorded).
        ckpt_meta: Metadata for the model checkpoints.
        improved: Whether this epoch improved the test accuracy (writes ``best.pt``).
        last: Whether this is the last epoch (writes ``model.pt``).

    Returns:
        The paths written, by kind: ``state``, ``last``, ``metrics`` and maybe ``best``, ``model``.
    """
    record = history[-1]
    files = {"state": out / STATE_FILE, "last": out / "last.pt", "metrics": out / "metrics.json"}
    state = {
        "format": STATE_FORMAT,
        "run_id": rid,
        "architecture": ident["architecture"],
        "recipe": ident["recipe"],
        "config": ident["config"],
        "world_size": info.world_size,
        "epoch": record["epoch"],
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "shuffle_rng": shuffle_gen.get_state(),
        "rank_rng": rank_rng,
        "history": history,
        "best_acc": best_acc,
    }
    # Model checkpoints first, the training state last: if the process dies in between,
    # the state still points at the previous epoch and resuming redoes this one.
    metrics = {k: record[k] for k in ("train_acc", "train_loss", "test_acc") if k in record}
    if "test_acc" in record:
        metrics["clean_accuracy"] = record["test_acc"]
    meta = {**ckpt_meta, "epoch": record["epoch"], "metrics": metrics}
    _save_model(files["last"], model, meta)
    if improved:
        files["best"] = out / "best.pt"
        _save_model(files["best"], model, meta)
    if last:
        files["model"] = out / "model.pt"
        _save_model(files["model"], model, meta)
    log = {"run_id": rid, **ident, "history": history}
    write_json(files["metrics"], log)
    write_training_state(state, files["state"])
    return files
