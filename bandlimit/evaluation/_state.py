"""Resumable evaluation state: the per-batch, per-attack records, written atomically.

The state file is a ``torch.save`` of plain dicts, tensors and numbers (loaded with
``weights_only=True``): the records of :class:`BatchRecord` and :class:`AttackRecord` as
dicts. It holds the resolved configuration and a fingerprint of it and of the model's
weights; a file from another configuration is refused with the keys that differ, a file of
another state version with the versions. Each batch record keeps a checksum of its images
and labels, so resuming with different data (another order, another subset) is refused too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from bandlimit._io import atomic_write

__all__ = [
    "STATE_VERSION",
    "AttackRecord",
    "BatchRecord",
    "EvaluationState",
    "batch_checksum",
    "fingerprint",
    "model_checksum",
]

#: Version 2: records of ``BatchRecord``/``AttackRecord`` keyed by global batch start.
STATE_VERSION = 2


def _fields(record: Any) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies every tensor on every save.
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


@dataclasses.dataclass(frozen=True)
class AttackRecord:
    """What one attack did on one batch (rows of samples it did not attack hold fill values).

    Attributes:
        pred: Recomputed predictions on the verified outputs ``(B,)``; -1 where not attacked.
        dist: Verified perturbation sizes ``(B,)`` in float64; NaN where not attacked.
        queries: Queries reported by the attack ``(B,)``; -1 where unknown.
        time_s: Wall time of the attack and its verification.
    """

    pred: Tensor
    dist: Tensor
    queries: Tensor
    time_s: float


@dataclasses.dataclass(frozen=True)
class BatchRecord:
    """One batch of the data and the records of the attacks that ran on it so far.

    Attributes:
        start: Index of the batch's first sample in the full data set (``index_offset`` added).
        checksum: :func:`batch_checksum` of the batch, to refuse other data on resume.
        label: Labels ``(B,)``. ``clean_pred``: the model's predictions on the clean images.
        attacks: Per attack key, its record; filled in as the attacks finish.
    """

    start: int
    checksum: float
    label: Tensor
    clean_pred: Tensor
    attacks: dict[str, AttackRecord] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dicts and tensors (what ``torch.load(weights_only=True)`` reads back)."""
        return {**_fields(self), "attacks": {k: _fields(r) for k, r in self.attacks.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BatchRecord:
        """Inverse of :meth:`to_dict`."""
        attacks = {k: AttackRecord(**r) for k, r in data["attacks"].items()}
        return cls(**{**data, "attacks": attacks})


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


class EvaluationState:
    """The batch records of one evaluation, saved after every attack × batch when given a path.

    Args:
        path: The state file (read if it exists), or None to keep the records in memory.
        config: The resolved configuration of the evaluation.

    Raises:
        ValueError: the file is not a state file of this version, or was written by an
            evaluation with another configuration.
    """

    def __init__(self, path: Path | None, config: dict[str, Any]) -> None:
        self.path = path
        self.config_json = json.dumps(config, sort_keys=True, default=repr)
        self.fingerprint = fingerprint(config)
        self.batches: dict[int, BatchRecord] = {}
        if path is None:
            return
        # Checked now, not at the first save after an attack x batch of work.
        if path.is_dir():
            raise ValueError(f"state_path: expected a file, got the folder {path}; use e.g. {path / 'state.pt'}")
        if not path.parent.is_dir():
            raise ValueError(f"state_path: the folder {path.parent} does not exist; create it or choose another path")
        if path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch.load raises many kinds (pickle, zip, EOF) for a foreign file
            raise ValueError(
                f"state_path: cannot read {path} as an evaluation state ({type(err).__name__}); "
                "delete it or choose another state_path"
            ) from err
        version = state.get("version") if isinstance(state, dict) else None
        if version != STATE_VERSION:
            found = f"state version {version}" if isinstance(version, int) else "not an evaluation state file"
            raise ValueError(
                f"state_path: expected an evaluation state file of version {STATE_VERSION}, got {path} "
                f"({found}; files from other bandlimit versions cannot be resumed); delete it or "
                "choose another state_path"
            )
        if state.get("fingerprint") != self.fingerprint:
            saved = json.loads(state.get("config_json", "{}"))
            now = json.loads(self.config_json)
            differ = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
            raise ValueError(
                f"state_path: {path} was written by a different evaluation (differs in {differ}); "
                "resume with the same model, data, attacks and settings, or delete the file / "
                "choose another state_path to start afresh"
            )
        self.batches = {b["start"]: BatchRecord.from_dict(b) for b in state["batches"]}

    def find(self, start: int, checksum: float, size: int) -> BatchRecord | None:
        """The record of the batch starting at global sample ``start``, or None if not yet seen.

        Raises:
            ValueError: the record was made from other data (size or checksum differ).
        """
        batch = self.batches.get(start)
        if batch is not None and (
            batch.label.shape[0] != size or not math.isclose(batch.checksum, checksum, rel_tol=1e-9, abs_tol=1e-6)
        ):
            raise ValueError(
                f"state_path: the data of the batch starting at sample {start} differ from "
                "the state file (other data, order or transform); resume with the same "
                "data in the same order, or delete the state file"
            )
        return batch

    def add_batch(self, batch: BatchRecord) -> BatchRecord:
        """Keep a new batch record (saved with the first attack record)."""
        self.batches[batch.start] = batch
        return batch

    def add(self, batch: BatchRecord, key: str, record: AttackRecord) -> None:
        """Record what attack ``key`` did on ``batch`` and save the state."""
        batch.attacks[key] = record
        if self.path is not None:
            state = {
                "version": STATE_VERSION,
                "fingerprint": self.fingerprint,
                "config_json": self.config_json,
                "batches": [b.to_dict() for b in self.batches.values()],
            }
            atomic_write(self.path, lambda tmp: torch.save(state, tmp))
