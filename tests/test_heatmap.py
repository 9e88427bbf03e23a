"""Tests for the Fourier heat map: half-plane batching == brute force == hand computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from _doubles import Net
from torch import Tensor, nn

from bandlimit._torch import CPU_PASS_SIZE
from bandlimit.evaluation import HeatmapResult, fourier_heatmap, heatmap_cells
from bandlimit.spectral import fourier_basis, fourier_partner


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval().double()


@pytest.fixture
def data(model) -> tuple[Tensor, Tensor]:
    # float64 so that a different batching cannot flip an argmax through rounding
    x = torch.rand(10, 3, 8, 8, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    with torch.no_grad():
        y = model(x).argmax(1)
    y[0] = (y[0] + 1) % 4
    return x, y


def error_with(model: nn.Module, x: Tensor, y: Tensor, basis: Tensor, norm: float, clip: bool = True) -> float:
    pert = x + norm * basis
    if clip:
        pert = pert.clamp(0, 1)
    with torch.no_grad():
        return float((model(pert).argmax(1) != y).double().mean())


def yin_basis(h: int, w: int, i: int, j: int) -> np.ndarray:
    """U[u, v] = (cos t - sin t) / sqrt(hw), t = 2 pi (k1 u / h + k2 v / w), k = (i - h/2, j - w/2)."""
    k1, k2 = i - h // 2, j - w // 2
    u, v = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    t = 2 * np.pi * (k1 * u / h + k2 * v / w)
    return (np.cos(t) - np.sin(t)) / np.sqrt(h * w)


class TestHeatmap:
    def test_half_plane_equals_brute_force(self, model, data):
        x, y = data
        norm = 3.0
        res = fourier_heatmap(model, data, norm=norm, random_sign=False, batch_size=16)
        brute = torch.empty(8, 8, dtype=torch.float64)
        for i in range(8):
            for j in range(8):
                brute[i, j] = error_with(model, x, y, fourier_basis(8, 8, i, j, dtype=torch.float64), norm)
        assert torch.equal(res.error, brute)
        assert res.cells_evaluated == 34  # (64 + 4 self-partnered) / 2
        assert torch.allclose(res.accuracy, 1 - brute)
        assert res.clean_accuracy == pytest.approx(0.9)
        assert float(brute.std()) > 0  # the map is not trivially constant

    def test_hand_computation_with_yin_basis(self, model, data):
        x, y = data
        res = fourier_heatmap(model, data, norm=3.0, random_sign=False, clip=False)
        for i, j in [(4, 4), (4, 5), (1, 6), (0, 3), (6, 2)]:
            # The pair's representative is the member visited first in row-major order.
            i2, j2 = fourier_partner(8, 8, i, j)
            ri, rj = min((i, j), (i2, j2), key=lambda c: c[0] * 8 + c[1])
            basis = torch.from_numpy(yin_basis(8, 8, ri, rj))
            assert float(basis.norm()) == pytest.approx(1.0)
            expected = error_with(model, x, y, basis, 3.0, clip=False)
            assert res.error[i, j].item() == pytest.approx(expected, abs=1e-12)
            assert res.error[i2, j2].item() == pytest.approx(expected, abs=1e-12)

    def test_point_symmetric(self, model, data):
        res = fourier_heatmap(model, data, norm=3.0, seed=4)
        for i in range(8):
            for j in range(8):
                i2, j2 = fourier_partner(8, 8, i, j)
                assert res.error[i, j] == res.error[i2, j2]

    def test_central_subset(self, model, data):
        full = fourier_heatmap(model, data, norm=3.0, random_sign=False)
        sub = fourier_heatmap(model, data, norm=3.0, random_sign=False, cells="central:3")
        inside = torch.zeros(8, 8, dtype=torch.bool)
        inside[3:6, 3:6] = True
        assert torch.equal(sub.error[inside], full.error[inside])
        assert bool(sub.error[~inside].isnan().all())
        assert sub.cells_evaluated == 5

    def test_explicit_cells(self, model, data):
        full = fourier_heatmap(model, data, norm=3.0, random_sign=False)
        sub = fourier_heatmap(model, data, norm=3.0, random_sign=False, cells=torch.tensor([[1, 2]]))
        assert sub.cells_evaluated == 1
        assert sub.error[1, 2] == full.error[1, 2] and sub.error[7, 6] == full.error[7, 6]
        assert int((~sub.error.isnan()).sum()) == 2

    def test_random_sign_seeded(self, model, data):
        a = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=20)
        b = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=20)
        c = fourier_heatmap(model, data, norm=6.0, seed=2, batch_size=20)
        assert torch.equal(a.error, b.error)
        assert not torch.equal(a.error, c.error)

    @pytest.mark.parametrize("pass_size", [None, 1, 3, 7, 10_000])
    def test_pass_size_bounds_the_passes_and_changes_nothing(self, model, data, pass_size):
        sizes: list[int] = []
        hook = model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
        try:
            res = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5, pass_size=pass_size)
        finally:
            hook.remove()
        ref = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5, pass_size=5)
        torch.testing.assert_close(res.error, ref.error, rtol=0, atol=0)
        bound = CPU_PASS_SIZE if pass_size is None else pass_size
        over = [s for s in sizes if s > bound]
        # Only the clean pass of each data batch (2 batches of 5 images) may exceed the bound.
        assert len(over) <= 2 and all(s == 5 for s in over) and len(sizes) > 2
        if pass_size is None:  # on the CPU several cells share a pass: 6 cells x 5 images
            assert max(sizes) == (CPU_PASS_SIZE // 5) * 5

    def test_zero_norm_gives_clean_error(self, model, data):
        res = fourier_heatmap(model, data, norm=0.0)
        assert torch.allclose(res.error, torch.full((8, 8), 0.1, dtype=torch.float64))

    def test_cells_counts(self):
        assert heatmap_cells(32, 32).shape == (514, 2)
        assert heatmap_cells(224, 224, "central:63").shape[0] == (63 * 63 + 1) // 2

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"norm": -1.0}, ValueError, "norm"),
            ({"norm": 1.0, "cells": "middle:3"}, ValueError, "central:K"),
            ({"norm": 1.0, "cells": torch.tensor([[9, 0]])}, ValueError, "centred indices"),
            ({"norm": 1.0, "random_sign": 1}, TypeError, "random_sign"),
            ({"norm": 1.0, "pass_size": 0}, ValueError, "pass_size: expected an integer >= 1"),
        ],
    )
    def test_bad_arguments(self, model, data, kwargs, error, match):
        with pytest.raises(error, match=match):
            fourier_heatmap(model, data, **kwargs)

    def test_json_round_trip(self, model, data, tmp_path):
        res = fourier_heatmap(model, data, norm=3.0, cells="central:3")
        back = HeatmapResult.load(res.save(tmp_path / "h.json"))
        assert torch.equal(back.error.isnan(), res.error.isnan())
        assert torch.allclose(back.error.nan_to_num(-1).double(), res.error.nan_to_num(-1))
        assert back.config["cells"] == "central:3" and back.seed == 0 and not math.isnan(back.clean_accuracy)


class TestProgressOption:
    """``progress=True`` (a rich bar), ``False`` and bad values, shared by the evaluation functions."""

    def test_true_drives_a_bar_and_changes_nothing(self, model, data, monkeypatch):
        import contextlib

        from bandlimit import _progress

        calls: list[tuple[str, int, int]] = []
        titles: list[str] = []

        @contextlib.contextmanager
        def recording_bar(title):
            titles.append(title)
            yield lambda d, c, t: calls.append((d, c, t))

        plain = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5)
        monkeypatch.setattr(_progress, "progress_bar", recording_bar)
        barred = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5, progress=True)
        assert titles == ["heat map"] and calls and calls[-1][1] == calls[-1][2]  # the bar reaches its total
        torch.testing.assert_close(barred.error, plain.error, rtol=0, atol=0)
        off = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5, progress=False)
        torch.testing.assert_close(off.error, plain.error, rtol=0, atol=0)
        assert titles == ["heat map"]  # False draws nothing

    def test_real_rich_bar_runs(self, model, data):
        res = fourier_heatmap(model, data, norm=6.0, seed=1, batch_size=5, cells="central:3", progress=True)
        assert res.cells_evaluated > 0

    def test_bad_value_raises_before_any_work(self, model, data):
        calls: list[int] = []
        hook = model.register_forward_pre_hook(lambda _m, args: calls.append(1))
        try:
            with pytest.raises(TypeError, match="progress: expected True"):
                fourier_heatmap(model, data, norm=6.0, progress="yes")
        finally:
            hook.remove()
        assert calls == []
