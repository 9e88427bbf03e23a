"""Resumable evaluation state: per-batch, per-attack records written atomically.

The state file is a ``torch.save`` of plain dicts, tensors and numbers (loaded with
``weights_only=True``). It holds the resolved configuration and a fingerprint of it and of
the model's weights; a file from another configuration is refused with the keys that differ.
Each batch entry keeps a checksum of its images and labels, so resuming with different data
(another order, another subset) is refused too.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._io import atomic_write

__all__ = [
    "STATE_VERSION",
    "batch_checksum",
    "fingerprint",
    "load_state",
    "model_checksum",
    "new_state",
    "save_state",
]

STATE_VERSION = 1


@torch.no_grad()
def model_checksum(model: nn.Module) -> str:
    """A cheap fingerprint of the model's weights and buffers (count and weighted sums)."""
    total, count = 0.0, 0
    for i, t in enumerate(list(model.parameters()) + list(model.buffers())):
        if not t.is_complex():
            total += (i + 1) * float(t.detach().double().sum())
            count += t.numel()
    return f"{count}:{total:.12e}"


@torch.no_grad()
def batch_checksum(x: Tensor, y: Tensor) -> float:
    """A position-sensitive checksum of one batch (detects reordering and other data)."""
    w = torch.arange(1, x.shape[0] + 1, device=x.device, dtype=torch.float64)
    per_image = x.flatten(1).double().sum(dim=1)
    return float((per_image * w).sum() + (y.double() * w).sum() * 1e-3)


def fingerprint(config: dict[str, Any]) -> str:
    """SHA-256 of the JSON of ``config`` (sorted keys)."""
    text = json.dumps(config, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def load_state(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The saved state for ``config``, or None if ``path`` does not exist.

    Raises:
        ValueError: the file was written by an evaluation with another configuration.
    """
    if not path.exists():
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise ValueError(
            f"state_path: expected an evaluation state file (version {STATE_VERSION}), got "
            f"{path}; delete it or choose another state_path"
        )
    if state.get("fingerprint") != fingerprint(config):
        saved = json.loads(state.get("config_json", "{}"))
        now = json.loads(json.dumps(config, sort_keys=True, default=repr))
        differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        raise ValueError(
            f"state_path: {path} was written by a different evaluation (differs in {differ}); "
            "resume with the same model, data, attacks and settings, or delete the file / "
            "choose another state_path to start afresh"
        )
    return state


def new_state(config: dict[str, Any]) -> dict[str, Any]:
    """An empty state for ``config``."""
    return {
        "version": STATE_VERSION,
        "fingerprint": fingerprint(config),
        "config_json": json.dumps(config, sort_keys=True, default=repr),
        "batches": {},
    }


def save_state(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` atomically (temporary file in the same folder, then rename)."""
    atomic_write(path, lambda tmp: torch.save(state, tmp))
