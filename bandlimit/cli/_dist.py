"""Where a command runs: the ``--device``, and under torchrun the process group, data shards, shared paths."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import torch

from bandlimit._torch import resolve_device

__all__ = ["broadcast_path", "device_of", "dist_setup", "shard"]


def device_of(spec: str | None, local_rank: int = 0) -> torch.device:
    """The device of ``--device`` (``auto`` or None: this rank's GPU when CUDA is present, else the CPU).

    Raises:
        ValueError: the spec names no device, or CUDA on a machine without it.
    """
    try:
        return resolve_device(spec, local_rank=local_rank)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--{exc}") from exc


def dist_setup(device_spec: str | None) -> tuple[Any, torch.device]:
    """Initialise the process group under torchrun; returns ``(DistInfo, device)``."""
    from bandlimit.training.distributed import setup

    device = device_of(device_spec, int(os.environ.get("LOCAL_RANK", "0")))
    return setup(device), device


def shard(data: Any, info: Any, batch_size: int) -> tuple[Any, int]:
    """This rank's contiguous slice of ``data`` and the position of its first sample.

    The slices are made of whole batches of ``batch_size`` (the evaluation's batches): rank
    ``r`` gets batches ``[r·B/W, (r+1)·B/W)`` of the ``B`` batches (``W`` processes), so every
    slice starts on a single-process batch boundary, sizes differ by at most one batch, and
    with ``index_offset`` set to the returned position the ranks draw exactly the random
    numbers of a single-process run (see :func:`bandlimit.evaluation.evaluate`). Returns
    ``(data, 0)`` when not distributed.

    Raises:
        ValueError: fewer batches than processes (a rank would get no samples; an idle rank
            is refused rather than skipped, so the user can run fewer processes instead).
    """
    if not info.enabled:
        return data, 0
    total = len(data)
    n_batches = math.ceil(total / batch_size)
    if n_batches < info.world_size:
        raise ValueError(
            f"torchrun: {total} samples make {n_batches} batch(es) of --batch-size {batch_size}, fewer than the "
            f"{info.world_size} processes (each needs at least one whole batch); run with at most "
            f"{max(n_batches, 1)} processes (--nproc_per_node), a smaller --batch-size or a larger --n"
        )
    first = info.rank * n_batches // info.world_size * batch_size
    end = min(total, (info.rank + 1) * n_batches // info.world_size * batch_size)
    positions = range(first, end)
    if hasattr(data, "subset"):
        return data.subset(positions), first
    return torch.utils.data.Subset(data, list(positions)), first


def broadcast_path(path: Path, info: Any) -> Path:
    """Rank 0's ``path`` on every rank (default folder names hold a timestamp)."""
    if not info.enabled:
        return path
    import torch.distributed as dist

    box = [str(path)]
    dist.broadcast_object_list(box, src=0)
    return Path(box[0])
