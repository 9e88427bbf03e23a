"""Distributed training: two gloo processes on CPU (DDP, sharded tensor data, reduced metrics)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bandlimit.training import DistInfo, TrainConfig, evaluate_accuracy, train
from bandlimit.training.distributed import shard_indices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_training import fresh_model, toy_data

WORLD = 2


def _worker(rank: int, tmp: str, recipe_name: str) -> None:
    from defenses.recipes import create_recipe

    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank, world_size=WORLD)
    try:
        x, y = toy_data(96)
        model = fresh_model()
        config = TrainConfig(
            epochs=2, batch_size=16, lr=0.05, device="cpu", quiet=True, out_dir=f"{tmp}/out", eval_batch_size=8
        )
        recipe = create_recipe(recipe_name)
        result = train(model, (x, y), recipe, config, test_data=(x[:50], y[:50]))
        torch.save(model.state_dict(), f"{tmp}/rank{rank}.pt")
        Path(f"{tmp}/history{rank}.json").write_text(json.dumps(result.history))
        # Both ranks are done communicating before either tears gloo down: a rank that exits
        # while its peer still talks to it can abort ("terminate called without an active
        # exception"). On an error the barrier is skipped so that the test cannot hang.
        dist.barrier()
    finally:
        dist.destroy_process_group()


def test_two_gloo_ranks_agree(tmp_path: Path) -> None:
    # FGSM-RS exercises the hard case: attack forwards through the DDP wrapper in eval mode.
    mp.spawn(_worker, args=(str(tmp_path), "fast_fgsm_rs"), nprocs=WORLD, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k in w0:  # DDP keeps the replicas identical (gradients averaged, buffers broadcast)
        assert torch.equal(w0[k], w1[k]), k
    h0 = json.loads((tmp_path / "history0.json").read_text())
    h1 = json.loads((tmp_path / "history1.json").read_text())
    for a, b in zip(h0, h1, strict=True):  # reduced metrics are the same on every rank
        for key in ("train_loss", "train_acc", "test_acc"):
            assert a[key] == b[key], key
    # The all-reduced test accuracy equals a single-process evaluation of the final weights
    # (the shards of 50 images, 25 per rank, cover the set exactly once).
    model = fresh_model()
    model.load_state_dict(w0)
    x, y = toy_data(96)
    assert h0[-1]["test_acc"] == pytest.approx(evaluate_accuracy(model, x[:50], y[:50], bf16=True))
    # Rank 0 alone wrote the files, and they record the world size for resume checks.
    state = torch.load(tmp_path / "out" / "state.pt", weights_only=True)
    assert state["world_size"] == WORLD and len(state["rank_rng"]) == WORLD


def test_shards_cover_the_permutation_like_distributed_sampler() -> None:
    perm = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    shards = [shard_indices(perm, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert all(s.numel() == 4 for s in shards)  # ceil(11 / 3), padded with the permutation's head
    joined = torch.cat(shards)
    assert set(joined.tolist()) == set(range(11)) and joined.numel() == 12
    sampler = torch.utils.data.DistributedSampler(range(11), num_replicas=3, rank=1, shuffle=False)
    assert [int(perm[i]) for i in sampler] == shards[1].tolist()
