"""Tests for perturbation spectra and filtered-input accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _doubles import FGSM, Net, Overshoot
from torch import Tensor, nn

from bandlimit.evaluation import (
    BudgetViolation,
    FilteredResult,
    SpectrumReport,
    SpectrumResult,
    filtered_accuracy,
    perturbation_spectrum,
)
from bandlimit.evaluation.filtered import default_bandwidths, default_radii, split_components
from bandlimit.spectral import band_energy, fourier_basis, mean_spectrum


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Net().eval()


@pytest.fixture
def data(model) -> tuple[Tensor, Tensor]:
    x = torch.rand(16, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        y = model(x).argmax(1)
    y[:4] = (y[:4] + 1) % 4
    return x, y


class TestPerturbationSpectrum:
    def test_matches_numpy(self):
        g = torch.Generator().manual_seed(0)
        x = torch.rand(5, 3, 8, 8, generator=g, dtype=torch.float64) * 0.5
        x_adv = x + torch.rand(5, 3, 8, 8, generator=g, dtype=torch.float64) * 0.5
        res = perturbation_spectrum(x, x_adv)
        delta = (x_adv - x).numpy()
        ref = np.abs(np.fft.fftshift(np.fft.fft2(delta, norm="ortho"), axes=(-2, -1))).mean(axis=(0, 1))
        assert np.allclose(res.spectrum.numpy(), ref, atol=1e-6)
        assert torch.allclose(res.spectrum.double(), mean_spectrum(x_adv - x), atol=1e-6)
        expected = band_energy(x_adv - x)
        for band in ("low", "mid", "high"):
            assert res.band_energy[band] == pytest.approx(expected[band], abs=1e-9)
        assert sum(res.band_energy.values()) == pytest.approx(1.0)
        assert res.n == 5 and res.success_rate is None and res.radii.shape == res.profile.shape

    def test_single_basis_image(self):
        x = torch.full((2, 1, 16, 16), 0.5, dtype=torch.float64)
        basis = fourier_basis(16, 16, 8, 15, dtype=torch.float64)  # k = (0, 7): high frequency
        res = perturbation_spectrum(x, x + 0.1 * basis)
        peak = res.spectrum.flatten().topk(2).indices.sort().values.tolist()
        assert peak == [8 * 16 + 1, 8 * 16 + 15]  # the cell and its partner
        assert res.band_energy["high"] == pytest.approx(1.0)

    def test_zero_perturbation_has_nan_fractions(self):
        x = torch.rand(2, 1, 8, 8)
        res = perturbation_spectrum(x, x.clone())
        assert all(np.isnan(v) for v in res.band_energy.values())

    def test_model_form(self, model, data):
        single = perturbation_spectrum(model, data, FGSM(eps=0.03), batch_size=6)
        assert isinstance(single, SpectrumResult) and single.n == 12  # clean-correct only
        assert 0 <= single.success_rate <= 1 and single.label == "fgsm/linf/0.03"
        x, y = data
        with torch.no_grad():
            keep = model(x).argmax(1) == y
        x_adv = FGSM(eps=0.03)(model, x[keep], y[keep])
        direct = perturbation_spectrum(x[keep], x_adv)
        assert torch.allclose(single.spectrum, direct.spectrum, atol=1e-6)
        report = perturbation_spectrum(model, data, [FGSM(eps=0.03), FGSM(eps=0.06)])
        assert isinstance(report, SpectrumReport) and len(report.spectra) == 2
        assert report["fgsm/linf/0.06"].spectrum.sum() > report["fgsm/linf/0.03"].spectrum.sum()

    def test_model_form_verifies(self, model, data):
        with pytest.raises(BudgetViolation, match="overshoot"):
            perturbation_spectrum(model, data, Overshoot(eps=0.03))

    def test_bad_arguments(self, model, data):
        x = torch.rand(2, 1, 8, 8)
        with pytest.raises(ValueError, match="shape"):
            perturbation_spectrum(x, x[:1])
        with pytest.raises(ValueError, match="low <= high"):
            perturbation_spectrum(x, x, low=0.6, high=0.5)
        with pytest.raises(TypeError, match="attacks"):
            perturbation_spectrum(model, data)

    def test_json_round_trip(self, model, data, tmp_path):
        report = perturbation_spectrum(model, data, [FGSM(eps=0.03)])
        back = SpectrumReport.load(report.save(tmp_path / "s.json"))
        assert torch.allclose(back.spectra[0].spectrum, report.spectra[0].spectrum)
        assert back.spectra[0].band_energy == report.spectra[0].band_energy


class TestFilteredAccuracy:
    def test_full_bandwidth_equals_clean(self, model, data):
        res = filtered_accuracy(model, data, bandwidths=[3, 16], radii=[4, 12])
        assert res.clean_accuracy == pytest.approx(0.75)
        assert res.lowpass_accuracy[-1] == res.clean_accuracy
        assert res.n == 16 and len(res.highpass_accuracy) == 2 and len(res.low_accuracy) == 2

    def test_matches_direct_computation(self, model, data):
        from bandlimit.spectral import frequency_split, highpass, lowpass

        x, y = data
        res = filtered_accuracy(model, data, bandwidths=[5], radii=[6], batch_size=5)

        def acc(images):
            with torch.no_grad():
                return float((model(images).argmax(1) == y).double().mean())

        low, high = frequency_split(x, 6)
        assert res.lowpass_accuracy[0] == pytest.approx(acc(lowpass(x, bandwidth=5)))
        assert res.highpass_accuracy[0] == pytest.approx(acc(highpass(x, bandwidth=5)))
        assert res.low_accuracy[0] == pytest.approx(acc(low))
        assert res.high_accuracy[0] == pytest.approx(acc(high))

    def test_split_sums_to_input_and_rescale(self, data):
        x = data[0].double()
        low, high = split_components(x, 5.0)
        assert torch.allclose(low + high, x, atol=1e-12)
        lo_r, hi_r = split_components(x, 5.0, rescale=True)
        assert torch.allclose(lo_r.flatten(1).amax(1), torch.ones(16, dtype=torch.float64))
        assert torch.allclose(hi_r.flatten(1).amax(1), torch.ones(16, dtype=torch.float64))
        assert bool((hi_r < 0).any())  # HFC keeps its negative values

    def test_defaults(self, model, data):
        res = filtered_accuracy(model, data)
        assert res.bandwidths == default_bandwidths(16) and res.bandwidths[-1] == 16
        assert res.radii == default_radii(16, 16) == [2.0, 4.0, 6.0, 8.0, 10.0, 12.0]
        assert default_radii(32, 32) == [4.0, 8.0, 12.0, 16.0, 20.0]

    def test_bad_arguments(self, model, data):
        with pytest.raises(ValueError, match="shape"):
            filtered_accuracy(model, data, shape="hexagon")
        with pytest.raises(ValueError, match="bandwidths"):
            filtered_accuracy(model, data, bandwidths=[0])

    def test_json_round_trip(self, model, data, tmp_path):
        res = filtered_accuracy(model, data, bandwidths=[3, 16], radii=[4], rescale=True)
        back = FilteredResult.load(res.save(tmp_path / "f.json"))
        assert back.to_dict() == res.to_dict()


class TestAccuracyFigures:
    """Issue 15: coinciding lines stay visible, and one eps gives bars instead of lone dots."""

    @staticmethod
    def _figure(monkeypatch: pytest.MonkeyPatch, curves: dict, tmp_path: Path) -> Any:
        from bandlimit.reports import figures

        kept = []
        monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig) or Path(path))
        figures.plot_accuracy_vs_eps(curves, tmp_path / "f.png")
        return kept[0].axes[0]

    def test_coinciding_lines_have_distinct_markers_and_dashes(self, monkeypatch, tmp_path) -> None:
        same = ([2 / 255, 8 / 255], [0.5, 0.1])
        ax = self._figure(
            monkeypatch, {"PGD": same, "worst case": same, "Square": ([2 / 255, 8 / 255], [0.6, 0.3])}, tmp_path
        )
        lines = ax.get_lines()
        assert len(lines) == 3
        looks = {(ln.get_marker(), ln.get_linestyle()) for ln in lines}
        assert len(looks) == 3  # no line hides another one drawn with the same look
        assert lines[0].get_markersize() > lines[1].get_markersize()

    def test_one_eps_draws_labelled_bars(self, monkeypatch, tmp_path) -> None:
        ax = self._figure(monkeypatch, {"PGD": ([8 / 255], [0.25]), "worst case": ([8 / 255], [0.2])}, tmp_path)
        assert not ax.get_lines()
        widths = [p.get_width() for p in ax.patches]
        assert widths == pytest.approx([25.0, 20.0])
        assert [t.get_text() for t in ax.get_yticklabels()] == ["PGD", "worst case"]
        assert "8" in ax.get_xlabel()  # the eps the bars are at
