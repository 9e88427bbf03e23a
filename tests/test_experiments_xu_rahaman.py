"""Xu et al.'s and Rahaman et al.'s scripts: tiny end-to-end runs and their pure helpers.

The smoke tests run ``main(cfg)`` at a tiny scale and check the outputs as every script's are
checked (:func:`test_experiments.check_outputs`); the helpers that decide the verdicts (the
order of convergence, Spearman's rho, the batched runs) are checked on hand-made cases, and the
rows are checked to be able to say "disagrees".
"""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import pytest
import torch
from test_experiments import check_outputs, load_script

from bandlimit.analysis import fit_full_batch, mlp


@pytest.fixture(scope="module")
def rahaman():
    return load_script("rahaman_spectral_bias")


@pytest.fixture(scope="module")
def xu():
    return load_script("xu_fprinciple")


def test_rahaman_spectral_bias(rahaman, tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        rahaman.Config(), threads=1, device="cpu", out_dir=str(tmp_path / "r"), runs=2, steps=30, record_every=10
    )
    summary = rahaman.main(cfg)
    check_outputs(tmp_path / "r", summary)
    assert len(summary["table"]) == 3
    assert summary["table"][2]["verdict"].startswith("not tested")  # 30 iterations cannot show the end state


def test_xu_fprinciple(xu, tmp_path: Path) -> None:
    cfg = dataclasses.replace(
        xu.Config(),
        threads=1,
        device="cpu",
        out_dir=str(tmp_path / "x"),
        oned_runs=2,
        oned_steps=30,
        oned_record_every=10,
        images=40,
        epochs=1,
        filter_runs=2,
    )
    summary = xu.main(cfg)
    check_outputs(tmp_path / "x", summary)
    assert len(summary["results"]["filtering"]["relative_gap"][0]) == 2  # one gap per run


def test_stacked_mlp_trains_each_run_as_if_alone(rahaman) -> None:
    """With scale sqrt(R) the batched runs follow their solo trajectories (same gradient, same Adam steps)."""
    g = torch.Generator().manual_seed(0)
    nets = [mlp(1, [16, 16], 1, generator=g) for _ in range(3)]
    x, y = torch.rand(3, 20, 1, generator=g), torch.rand(3, 20, 1, generator=g)
    solo = [
        fit_full_batch(copy.deepcopy(n), x[r], y[r], steps=40, lr=1e-2, record_every=10, probe=lambda o: o[:, 0])[1]
        for r, n in enumerate(nets)
    ]
    scale = math.sqrt(3)
    model = rahaman.StackedMLP(nets, scale)
    _, together, _ = fit_full_batch(
        model, x, y * scale, steps=40, lr=1e-2, record_every=10, probe=lambda o: o[..., 0] / scale
    )
    for r in range(3):
        torch.testing.assert_close(together[:, r], solo[r], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["rahaman", "xu"])
def test_order_holds(name: str, request: pytest.FixtureRequest) -> None:
    order_holds = request.getfixturevalue(name).order_holds
    assert order_holds([100, 300, 300, None, None]) is True  # ties allowed; never-reached come last
    assert order_holds([300, 100, None]) is False
    assert order_holds([100, None, 300]) is False  # a higher frequency learned before a lower one that never is
    assert order_holds([100, None, None]) is None  # one reached: undecided
    assert order_holds([None, None]) is None


def test_spearman_and_ranks(rahaman) -> None:
    assert rahaman.ranks([3.0, 1.0, 2.0, 1.0]) == [4.0, 1.5, 3.0, 1.5]
    assert rahaman.spearman([1, 2, 3, 4], [10.0, 5.0, 2.0, 1.0]) == pytest.approx(-1.0)
    assert rahaman.spearman([1, 2, 3, 4], [1.0, 3.0, 2.0, 4.0]) == pytest.approx(0.8)
    assert math.isnan(rahaman.spearman([1, 2, 3], [1.0, 1.0, 1.0]))


def test_first_crossings_and_medians(rahaman, xu) -> None:
    steps = [0, 100, 200, 300]
    assert rahaman.first_reaching([0.1, 0.4, 0.6, 0.9], steps, 0.5) == 200
    assert rahaman.first_reaching([0.1, 0.2, 0.3, 0.4], steps, 0.5) is None
    assert xu.first_below([1.0, 0.5, 0.1, 0.05], steps, 0.1) == 200
    assert xu.step_gaps([[100, 300, None], [50, 100, 400]]) == [[200.0, 50.0], [300.0]]
    assert rahaman.median_step([300, None, 100]) == 300
    assert xu.median_step([None, None, 100, 200]) == 200


def test_rahaman_rows_can_disagree(rahaman) -> None:
    cfg = rahaman.Config(runs=6, steps=3000)
    res = {
        "order_holds": [False] * 6,
        "spearman_k_vs_gain": [0.9, 0.8, 0.95, 0.85, 0.9, 0.7],
        "first_step_reaching_half": [[2000, 100] + [None] * 8] * 6,
        "final": [[1.0] * 6 for _ in cfg.frequencies],
    }
    row = rahaman.order_row("equal", res, rahaman.summarise(res), cfg)
    assert row.verdict.startswith("disagrees"), row.verdict
    assert "k=5 2,000, k=10 100, k>=15 not within 3,000" in row.ours
    agree = {**res, "order_holds": [True] * 6, "spearman_k_vs_gain": [-v for v in res["spearman_k_vs_gain"]]}
    assert rahaman.order_row("equal", agree, rahaman.summarise(agree), cfg).verdict.startswith("agrees")


def test_rahaman_fitted_row_is_judged_at_paper_length(rahaman) -> None:
    low = {"order_holds": [True] * 5, "spearman_k_vs_gain": [-1.0] * 5, "final": [[0.2, 0.3, 0.25, 0.3, 0.2]] * 10}
    res = {name: low for name in ("equal", "increasing")}
    meas = {name: rahaman.summarise(low) for name in res}
    assert rahaman.fitted_row(res, meas, rahaman.Config()).verdict.startswith("not tested")
    full = rahaman.Config(steps=rahaman.PAPER_STEPS)
    assert rahaman.fitted_row(res, meas, full).verdict.startswith("disagrees")


def test_xu_rows_can_disagree(xu) -> None:
    cfg = xu.Config(oned_runs=6)
    times = [[900, 500, 100]] * 6
    form = {"first_step_converged": times, "order_holds": [False] * 6, "step_gaps": xu.step_gaps(times)}
    res = {"peak_angular_frequency": [1.24, 3.11, 4.98], "magnitude": form}
    assert xu.oned_row("magnitude", res, xu.oned_measures(form), cfg).verdict.startswith("disagrees")
    filtering = {
        "deltas": [10.0, 20.0],
        "relative_gap": [[-0.1, -0.2, -0.15, -0.1, -0.12, -0.2]] * 2,
        "final_relative_e_low": [[0.9] * 6] * 2,
        "final_relative_e_high": [[0.7] * 6] * 2,
        "source": "npz:train_lossless_4660.npz",
        "images": 1000,
    }
    row, stored = xu.filtering_row(filtering, cfg)
    assert row.verdict.startswith("disagrees"), row.verdict
    assert len(stored) == 2
