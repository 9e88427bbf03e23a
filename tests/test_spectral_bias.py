"""Tests for bandlimit.analysis.spectral_bias: 1-D spectra, F-principle errors, filtering method."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bandlimit.analysis import (
    FilteringProbe,
    dft_peaks,
    filtered_errors,
    fit_full_batch,
    fourier_amplitudes,
    frequency_relative_error,
    gaussian_filter_matrix,
    low_high_split,
    mlp,
    nearest_neighbor_sq_distances,
    pairwise_sq_distances,
    random_phases,
    sinusoid_target,
    train_with_filtering,
    uniform_grid,
    xu_cnn,
)

K = torch.arange(5, 55, 5)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TestTargets:
    def test_uniform_grid(self) -> None:
        z = uniform_grid(200, dtype=torch.float64)
        assert z.shape == (200,) and float(z[0]) == 0.0 and float(z[-1]) == pytest.approx(199 / 200)

    @pytest.mark.parametrize("amplitudes", [torch.ones(10), 0.1 * torch.arange(1, 11)])
    def test_spectrum_recovers_amplitudes_exactly(self, amplitudes: torch.Tensor) -> None:
        z = uniform_grid(200, dtype=torch.float64)
        amps = amplitudes.double()
        y = sinusoid_target(z, K, amps, random_phases(10, generator=_gen(), dtype=torch.float64))
        torch.testing.assert_close(fourier_amplitudes(y, K), amps, rtol=0, atol=1e-12)
        # The normalised spectrum of the target itself is 1 at every k_i.
        torch.testing.assert_close(fourier_amplitudes(y, K) / amps, torch.ones(10, dtype=torch.float64))

    def test_target_matches_numpy(self) -> None:
        z = uniform_grid(50, dtype=torch.float64)
        phases = [0.3, 1.7]
        expected = 2.0 * np.sin(2 * np.pi * 3 * z.numpy() + 0.3) + 0.5 * np.sin(2 * np.pi * 7 * z.numpy() + 1.7)
        got = sinusoid_target(z, [3, 7], [2.0, 0.5], phases)
        np.testing.assert_allclose(got.numpy(), expected, atol=1e-12)

    def test_batched_amplitudes(self) -> None:
        z = uniform_grid(64, dtype=torch.float64)
        y = torch.stack([sinusoid_target(z, [4], [a]) for a in (1.0, 2.0)])
        torch.testing.assert_close(fourier_amplitudes(y, [4]), torch.tensor([[1.0], [2.0]], dtype=torch.float64))

    def test_phases_in_range_and_seeded(self) -> None:
        a = random_phases(1000, generator=_gen(3))
        assert float(a.min()) >= 0 and float(a.max()) < 2 * math.pi
        torch.testing.assert_close(a, random_phases(1000, generator=_gen(3)), rtol=0, atol=0)

    @pytest.mark.parametrize("freqs", [[0], [100], [2.5], [-1]])
    def test_bad_frequencies(self, freqs: list[float]) -> None:
        with pytest.raises(ValueError, match="frequencies: expected integers"):
            fourier_amplitudes(torch.zeros(200), freqs)

    def test_length_mismatch(self) -> None:
        with pytest.raises(ValueError, match="expected the same length, got 2, 1, 2"):
            sinusoid_target(uniform_grid(10), [1, 2], [1.0])


class TestFPrinciple1D:
    def test_peaks_of_integer_frequencies(self) -> None:
        z = uniform_grid(128, dtype=torch.float64)
        y = sinusoid_target(z, [3, 9, 20], [1.0, 2.0, 0.5])
        assert dft_peaks(y).tolist() == [3, 9, 20]
        assert dft_peaks(y, min_height=0.3).tolist() == [3, 9]

    def test_peaks_with_leakage(self) -> None:
        x = torch.linspace(-5, 5, 101, dtype=torch.float64)
        y = torch.sin(x) + 2 * torch.sin(3 * x) + 3 * torch.sin(5 * x)
        # Angular frequency w sits at bin w * span / (2 pi) with span = 10.1: 1.6, 4.8, 8.0.
        assert dft_peaks(y).tolist() == [2, 5, 8]

    @pytest.mark.parametrize("kind", ["magnitude", "complex"])
    def test_zero_for_perfect_fit(self, kind: str) -> None:
        y = sinusoid_target(uniform_grid(64, dtype=torch.float64), [2, 5], [1.0, 1.0], [0.4, 2.0])
        err = frequency_relative_error(y, y, dft_peaks(y), kind=kind)
        torch.testing.assert_close(err, torch.zeros(2, dtype=torch.float64))

    def test_zero_output_gives_one(self) -> None:
        y = sinusoid_target(uniform_grid(64, dtype=torch.float64), [2, 5], [1.0, 1.0])
        err = frequency_relative_error(torch.zeros_like(y), y, torch.tensor([2, 5]), eps=0.0)
        torch.testing.assert_close(err, torch.ones(2, dtype=torch.float64))

    def test_phase_error_only_in_complex_form(self) -> None:
        z = uniform_grid(64, dtype=torch.float64)
        y = sinusoid_target(z, [4], [1.0], [0.0])
        h = sinusoid_target(z, [4], [1.0], [math.pi / 2])  # same magnitude, 90 degrees off
        idx = torch.tensor([4])
        assert float(frequency_relative_error(h, y, idx, kind="magnitude", eps=0.0)) == pytest.approx(0.0, abs=1e-12)
        assert float(frequency_relative_error(h, y, idx, kind="complex", eps=0.0)) == pytest.approx(math.sqrt(2))

    def test_bad_kind(self) -> None:
        y = torch.zeros(8)
        with pytest.raises(ValueError, match=r"kind: expected one of \['complex', 'magnitude'\], got 'phase'"):
            frequency_relative_error(y, y, torch.tensor([1]), kind="phase")


def _cloud(n: int = 40, d: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, d, generator=_gen(seed), dtype=torch.float64)


class TestFilteringMethod:
    def test_distances_match_scipy(self) -> None:
        from scipy.spatial.distance import cdist

        x = _cloud()
        expected = cdist(x.numpy(), x.numpy(), "sqeuclidean")
        np.testing.assert_allclose(pairwise_sq_distances(x).numpy(), expected, atol=1e-12)
        np.testing.assert_allclose(
            nearest_neighbor_sq_distances(pairwise_sq_distances(x)).numpy(),
            np.where(np.eye(len(x), dtype=bool), np.inf, expected).min(axis=1),
        )

    def test_kernel_matches_explicit_formula(self) -> None:
        d = pairwise_sq_distances(_cloud())
        g = torch.exp(-d / (2 * 0.3))
        torch.testing.assert_close(gaussian_filter_matrix(d, 0.3), g / g.sum(dim=1, keepdim=True))

    def test_low_plus_high_is_y(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        low, high = low_high_split(gaussian_filter_matrix(pairwise_sq_distances(x), 0.2), y)
        torch.testing.assert_close(low + high, y)

    def test_small_delta_keeps_y(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        low, high = low_high_split(gaussian_filter_matrix(pairwise_sq_distances(x), 1e-4), y)
        torch.testing.assert_close(low, y)
        assert float(high.abs().max()) < 1e-10

    def test_large_delta_gives_mean(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        low, _ = low_high_split(gaussian_filter_matrix(pairwise_sq_distances(x), 1e8), y)
        torch.testing.assert_close(low, y.mean(dim=0, keepdim=True).expand_as(y))

    def test_tiny_delta_does_not_underflow(self) -> None:
        # exp(-D / 2 delta) is 0 for every pair here; the softmax form still gives the identity.
        d = pairwise_sq_distances(_cloud() * 100)
        torch.testing.assert_close(gaussian_filter_matrix(d, 1e-3), torch.eye(40, dtype=torch.float64))

    def test_errors_zero_for_perfect_fit(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        kernel = gaussian_filter_matrix(pairwise_sq_distances(x), 0.2)
        assert filtered_errors(kernel, y, y) == (0.0, 0.0)

    def test_errors_for_pure_low_and_high_errors(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        kernel = gaussian_filter_matrix(pairwise_sq_distances(x), 0.2)
        _, y_high = low_high_split(kernel, y)
        e_low, e_high = filtered_errors(kernel, torch.zeros_like(y), y)
        assert e_low == pytest.approx(1.0) and e_high == pytest.approx(1.0)
        # h = y - y_high = K y misses exactly the high part: e_high = |K y_high - y_high| / |y_high|.
        _, e_high2 = filtered_errors(kernel, y - y_high, y)
        assert e_high2 > 0.5

    def test_probe_matches_functions(self) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        h = _cloud(40, 3, seed=2)
        probe = FilteringProbe(x, y, [0.1, 0.5], dtype=torch.float64)
        e_low, e_high = probe.errors(h)
        for i, delta in enumerate((0.1, 0.5)):
            expected = filtered_errors(gaussian_filter_matrix(pairwise_sq_distances(x), delta), h, y)
            assert (float(e_low[i]), float(e_high[i])) == pytest.approx(expected)
        zero_low, zero_high = probe.errors(y)
        assert float(zero_low.abs().max()) == 0.0 and float(zero_high.abs().max()) == 0.0
        assert 1 / 40 < float(probe.self_weight[1]) < float(probe.self_weight[0]) <= 1.0

    def test_probe_takes_outputs_that_need_grad_or_live_elsewhere(self, device: torch.device) -> None:
        x, y = _cloud(), _cloud(40, 3, seed=1)
        h = _cloud(40, 3, seed=2).float()
        probe = FilteringProbe(x, y, [0.1, 0.5], dtype=torch.float64)  # kernels on the CPU
        expected = probe.errors(h)
        got = probe.errors(h.to(device).requires_grad_())  # a GPU network's softmax, still in a graph
        assert all(t.device.type == "cpu" and t.dtype == torch.float64 and not t.requires_grad for t in got)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])

    def test_zero_high_part_raises(self) -> None:
        y = _cloud(40, 3, seed=1)
        kernel = torch.eye(40, dtype=torch.float64)
        with pytest.raises(ValueError, match="y_high: expected a non-zero filtered target"):
            filtered_errors(kernel, y + 1, y)

    def test_bad_inputs(self) -> None:
        with pytest.raises(ValueError, match=r"delta: expected a value > 0, got 0.0"):
            gaussian_filter_matrix(torch.zeros(3, 3), 0.0)
        with pytest.raises(ValueError, match=r"expected a square \(N, N\) matrix"):
            gaussian_filter_matrix(torch.zeros(3, 4), 1.0)
        with pytest.raises(ValueError, match="deltas: expected at least one"):
            FilteringProbe(_cloud(), _cloud(40, 3), [])
        with pytest.raises(ValueError, match=r"h: expected shape \(40, 3\)"):
            FilteringProbe(_cloud(), _cloud(40, 3), [0.1]).errors(torch.zeros(40, 2))


class TestModelsAndTraining:
    def test_mlp_layout(self) -> None:
        net = mlp(1, [256] * 5, 1)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        assert len(linears) == 6
        assert [m.out_features for m in linears] == [256] * 5 + [1]

    def test_mlp_seeded_init_and_std(self) -> None:
        a = mlp(1, [8, 4], 1, generator=_gen(1))
        b = mlp(1, [8, 4], 1, generator=_gen(1))
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
        wide = mlp(1, [2000], 1, activation="tanh", init_std=0.05, generator=_gen())
        assert float(wide[0].weight.detach().std()) == pytest.approx(0.05, rel=0.1)

    def test_mlp_bad_hidden(self) -> None:
        with pytest.raises(ValueError, match="hidden: expected a non-empty sequence"):
            mlp(1, [], 1)
        with pytest.raises(ValueError, match="activation: expected one of"):
            mlp(1, [4], 1, activation="gelu")

    def test_xu_cnn_shapes(self) -> None:
        net = xu_cnn(generator=_gen())
        assert net(torch.rand(2, 3, 32, 32)).shape == (2, 10)
        assert net[6].in_features == 64 * 14 * 14

    def test_fit_full_batch_learns_low_frequency_first(self) -> None:
        z = uniform_grid(64)
        k = torch.tensor([1, 12])
        y = sinusoid_target(z, k, [1.0, 1.0])
        net = mlp(1, [64, 64, 64], 1, generator=_gen(0))
        steps, rec, losses = fit_full_batch(
            net,
            z[:, None],
            y[:, None],
            steps=300,
            lr=3e-3,
            record_every=100,
            probe=lambda o: fourier_amplitudes(o[:, 0], k),
        )
        assert steps.tolist() == [0, 100, 200, 300]
        assert rec.shape == (4, 2)
        assert float(losses[-1]) < float(losses[0])
        assert float(rec[-1, 0]) > 0.8 and float(rec[-1, 0]) > float(rec[-1, 1]) + 0.3

    def test_train_with_filtering_smoke(self) -> None:
        gen = _gen()
        x = torch.rand(20, 3, 8, 8, generator=gen)
        labels = torch.arange(20) % 2
        onehot = torch.nn.functional.one_hot(labels, 2).float()
        probe = FilteringProbe(x, onehot, [5.0, 20.0])
        net = xu_cnn(2, image_size=8, generator=gen)
        trace = train_with_filtering(net, x, labels, probe, epochs=2, lr=0.05, batch_size=5, generator=gen)
        assert trace.e_low.shape == (3, 2) and trace.e_high.shape == (3, 2)
        assert trace.epochs.tolist() == [0, 1, 2]
        assert torch.isfinite(trace.e_low).all() and torch.isfinite(trace.e_high).all()
        assert 0 <= float(trace.accuracy.min()) <= float(trace.accuracy.max()) <= 1
