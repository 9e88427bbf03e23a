"""Sharded evaluation (``bandlimit evaluate`` under torchrun) reproduces the single-process run.

No processes are started: a shard is ``evaluate(data[a:b], index_offset=a)``, exactly what each
rank runs, and the merge is :meth:`~bandlimit.evaluation.EvaluationResult.merge`, as in the CLI.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch
from _doubles import Overshoot, model_labelled
from torch import Tensor, nn

from attacks.pgd import PGD
from bandlimit.cli._dist import shard
from bandlimit.evaluation import BudgetViolation, EvaluationResult, evaluate
from bandlimit.training.distributed import DistInfo

BATCH = 8


class Exploding(nn.Module):
    """A model that fails if the harness ever runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)

    def forward(self, x: Tensor) -> Tensor:
        raise AssertionError("the model ran before the arguments were checked")


@pytest.fixture
def data(tiny_model: nn.Module) -> tuple[Tensor, Tensor]:
    """40 images 3x8x8 (five batches of 8); labels = predictions except a few (clean acc < 1)."""
    x, y = model_labelled(tiny_model, 40, seed=2)
    y[::7] = (y[::7] + 1) % 10
    return x, y


def _randomised_attacks() -> list[Any]:
    # L2 distances depend on the random start, so a wrong generator shows in every attacked row.
    return [
        PGD(eps=0.03, steps=2, random_start=True),
        PGD(eps=0.3, norm="l2", steps=2, random_start=True, early_stop=False),
    ]


def _same(a: Tensor, b: Tensor) -> bool:
    """Bitwise equal, NaN (not attacked) matching NaN."""
    return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(-1.0), b.nan_to_num(-1.0))


def _rows_equal(part: Any, whole: Any, rows: slice) -> None:
    assert torch.equal(part.samples.index, whole.samples.index[rows])
    assert torch.equal(part.samples.label, whole.samples.label[rows])
    assert torch.equal(part.samples.clean_pred, whole.samples.clean_pred[rows])
    for key, pred in whole.samples.pred.items():
        assert torch.equal(part.samples.pred[key], pred[rows]), key
        assert _same(part.samples.distance[key], whole.samples.distance[key][rows]), key
    for key, robust in whole.samples.robust.items():
        assert torch.equal(part.samples.robust[key], robust[rows]), key


# ------------------------------------------------------------------------- index_offset
@pytest.mark.parametrize(("a", "b"), [(16, 40), (8, 24)])
def test_offset_slice_equals_rows_of_full_run(tiny_model, data, a, b):
    x, y = data
    attacks = _randomised_attacks()
    whole = evaluate(tiny_model, data, attacks, batch_size=BATCH, seed=5, checks=False)
    part = evaluate(tiny_model, (x[a:b], y[a:b]), attacks, batch_size=BATCH, seed=5, checks=False, index_offset=a)
    _rows_equal(part, whole, slice(a, b))
    # The property is not vacuous: without the offset the random starts differ.
    local = evaluate(tiny_model, (x[a:b], y[a:b]), attacks, batch_size=BATCH, seed=5, checks=False)
    l2 = whole.attacks[1].key
    assert torch.equal(local.samples.index, torch.arange(b - a))
    assert not _same(local.samples.distance[l2], whole.samples.distance[l2][a:b])


def test_budget_violation_names_global_sample(tiny_model, data):
    x, _ = data
    with torch.no_grad():
        y = tiny_model(x).argmax(1)  # every sample correct: the first attacked one is the first of the slice
    with pytest.raises(BudgetViolation, match=r"sample 24 "):
        evaluate(tiny_model, (x[24:], y[24:]), [Overshoot(eps=0.03)], batch_size=BATCH, checks=False, index_offset=24)


@pytest.mark.parametrize(("offset", "error"), [(-1, ValueError), (1.5, TypeError), (True, TypeError), ("8", TypeError)])
def test_bad_index_offset_fails_before_any_work(data, offset, error):
    with pytest.raises(error, match="index_offset: expected an int"):
        evaluate(Exploding(), data, _randomised_attacks(), index_offset=offset)


def test_state_records_offset(tiny_model, data, tmp_path):
    x, y = data
    state = tmp_path / "state.pt"
    attacks = _randomised_attacks()[:1]
    first = evaluate(
        tiny_model, (x[8:], y[8:]), attacks, batch_size=BATCH, checks=False, index_offset=8, state_path=state
    )
    again = evaluate(
        tiny_model, (x[8:], y[8:]), attacks, batch_size=BATCH, checks=False, index_offset=8, state_path=state
    )
    assert again.to_dict()["samples"] == first.to_dict()["samples"]
    with pytest.raises(ValueError, match=r"differs in \['index_offset'\]"):
        evaluate(tiny_model, (x[8:], y[8:]), attacks, batch_size=BATCH, checks=False, state_path=state)


# -------------------------------------------------------------------------- shard sizes
@pytest.mark.parametrize(
    ("total", "world", "batch"), [(40, 2, 8), (37, 3, 8), (41, 4, 8), (10, 2, 5), (128, 3, 7), (9, 1, 4)]
)
def test_shards_are_whole_batches_covering_every_sample_once(total, world, batch):
    ds = torch.utils.data.TensorDataset(torch.arange(total))
    covered: list[int] = []
    for rank in range(world):
        part, offset = shard(ds, DistInfo(rank=rank, world_size=world), batch)
        if world == 1:  # not distributed: the data itself
            assert part is ds and offset == 0
            return
        positions = list(part.indices)
        assert positions == list(range(offset, offset + len(positions)))
        assert offset % batch == 0 and len(positions) > 0
        if rank < world - 1:  # only the last shard may end in a partial batch
            assert len(positions) % batch == 0
        covered += positions
    assert covered == list(range(total))


def test_too_few_batches_for_the_processes():
    ds = torch.utils.data.TensorDataset(torch.arange(20))  # 3 batches of 8
    with pytest.raises(ValueError, match=r"3 batch\(es\).*fewer than the 4 processes.*at most 3 processes"):
        shard(ds, DistInfo(rank=0, world_size=4), 8)


# ------------------------------------------------------------------ merged shards = one run
@pytest.mark.parametrize(("n", "world"), [(40, 2), (37, 3)])
def test_merged_shards_equal_single_process(tiny_model, data, n, world):
    ds = torch.utils.data.TensorDataset(data[0][:n], data[1][:n])
    attacks = _randomised_attacks()
    whole = evaluate(tiny_model, ds, attacks, batch_size=BATCH, seed=1)
    parts = []
    for rank in range(world):
        part, offset = shard(ds, DistInfo(rank=rank, world_size=world), BATCH)
        parts.append(evaluate(tiny_model, part, attacks, batch_size=BATCH, seed=1, index_offset=offset))
    merged = EvaluationResult.merge(parts, tuple(data[0].shape[1:]))
    assert merged.n == whole.n == n
    assert merged.clean_accuracy == whole.clean_accuracy
    assert merged.robust_accuracy == whole.robust_accuracy
    assert [a.robust_accuracy for a in merged.attacks] == [a.robust_accuracy for a in whole.attacks]
    _rows_equal(merged, whole, slice(0, n))
    assert [f.code for f in merged.findings] == [f.code for f in whole.findings]
