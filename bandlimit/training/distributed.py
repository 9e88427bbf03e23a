"""Scale-out helpers on PyTorch's own engine: torchrun environment, sharding, reductions.

``torchrun`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` initialises the
default process group from them (NCCL on CUDA, gloo on CPU) when it is not initialised yet.
The tensor dataset is sharded the way ``torch.utils.data.DistributedSampler`` shards a
dataset: every rank draws the same permutation from the same seed, the permutation is
padded to a multiple of the world size by repeating its head, and rank ``r`` takes every
``world``-th index starting at ``r``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor

__all__ = [
    "DistInfo",
    "all_gather_objects",
    "all_reduce_sum",
    "broadcast_buffers",
    "dist_info",
    "setup",
    "shard_indices",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the job.

    Attributes:
        rank: Global rank (0 when not distributed).
        world_size: Number of processes (1 when not distributed).
        local_rank: Rank on this node, used to pick the CUDA device.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and draws the progress bar."""
        return self.rank == 0


def dist_info() -> DistInfo:
    """The current process's place in the job (from the process group, else single-process)."""
    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        return DistInfo(dist.get_rank(), dist.get_world_size(), local)
    return DistInfo()


def setup(device: torch.device) -> DistInfo:
    """Initialise the default process group from the torchrun environment if needed.

    Does nothing when ``WORLD_SIZE`` is unset or 1, or when a group already exists (e.g. a
    test that called ``init_process_group`` itself).

    Args:
        device: The training device; CUDA selects NCCL, anything else gloo.

    Returns:
        This process's :class:`DistInfo`.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and dist.is_available() and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return dist_info()


def shard_indices(perm: Tensor, info: DistInfo) -> Tensor:
    """This rank's share of a permutation, DistributedSampler-style (padded, strided).

    Args:
        perm: A 1-D permutation of the dataset indices, identical on every rank.
        info: This rank's place in the job.

    Returns:
        ``ceil(len(perm) / world_size)`` indices for this rank.
    """
    if not info.enabled:
        return perm
    n = perm.numel()
    total = -(-n // info.world_size) * info.world_size
    if total > n:
        # Repeat the head of the permutation so every rank gets the same number of samples.
        perm = torch.cat([perm, perm[: total - n]])
    return perm[info.rank : total : info.world_size]


def all_reduce_sum(values: Tensor, info: DistInfo) -> Tensor:
    """Sum a float64/float32 tensor over all ranks (identity when not distributed)."""
    if info.enabled:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    DDP broadcasts buffers at the start of each forward, so after the last step of an epoch
    every rank holds statistics updated by its own shard only; syncing them before the
    evaluation and the checkpoint makes all ranks evaluate and save the same model.
    """
    if info.enabled:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def all_gather_objects(obj: object, info: DistInfo) -> list[object]:
    """Every rank's ``obj``, in rank order (``[obj]`` when not distributed)."""
    if not info.enabled:
        return [obj]
    out: list[object] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out
