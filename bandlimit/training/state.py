"""Atomic checkpoint files and the complete state of a training run.

A training-state file holds everything needed to continue a run *exactly*: model, optimizer
(momentum buffers), the step count (the schedules are pure functions of it), every random
generator the loop draws from (its own, per rank, plus torch's global CPU and CUDA states,
which dropout layers use), the history and the run identity. Files are written with
:func:`bandlimit._io.atomic_write` (temporary file in the same folder, fsync, ``os.replace``),
so a run killed at any moment leaves either the previous complete file or the new complete
file, never a truncated one.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import torch

from bandlimit._io import atomic_write, load_torch_file

__all__ = [
    "STATE_FORMAT",
    "capture_global_rng",
    "read_training_state",
    "restore_global_rng",
    "write_training_state",
]

#: Format tag of training-state files, checked on resume.
STATE_FORMAT = "bandlimit-training-state/1"


def write_training_state(state: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """``torch.save`` a training state to ``path`` atomically.

    The state is serialised in memory first, so an object that fails to pickle never reaches
    the disk and the previous file at ``path`` stays intact.
    """
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write(path, buffer.getvalue())


def read_training_state(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load and sanity-check a training-state file written by :func:`bandlimit.training.train`.

    Args:
        path: The file (usually ``OUT/state.pt``).

    Returns:
        The state dict.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: ``path`` is a folder, or the file is corrupted or not a bandlimit training state.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"resume: expected a training-state file, got missing path {path}")
    if path.is_dir():
        raise ValueError(f"resume: expected a training-state file such as {path / 'state.pt'}, got the folder {path}")
    try:
        state = load_torch_file(path, what="training state")
    except ValueError as exc:
        raise ValueError(f"resume: {exc}; the file was left untouched") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        if isinstance(state, dict) and "fingerprint" in state and "batches" in state:
            found = "the state of a `bandlimit evaluate` run"
        elif isinstance(state, dict):
            found = f"format {state.get('format')!r}"
        else:
            found = type(state).__name__
        raise ValueError(
            f"resume: expected a bandlimit training state ({STATE_FORMAT}) in {path}, got {found}; "
            "model checkpoints (last.pt, best.pt, model.pt) cannot be resumed, use state.pt"
        )
    return state


def capture_global_rng() -> dict[str, Any]:
    """Torch's global CPU RNG state and, when CUDA is initialised, every device's state."""
    out: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore_global_rng(saved: dict[str, Any]) -> None:
    """Restore what :func:`capture_global_rng` returned (CUDA states only if both have CUDA)."""
    torch.set_rng_state(saved["cpu"])
    if "cuda" in saved and torch.cuda.is_available():
        states = saved["cuda"]
        if len(states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states)
