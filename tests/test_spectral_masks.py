"""Tests for bandlimit.spectral's frequency masks, filters and spectrum statistics."""

from __future__ import annotations

import math

import pytest
import torch
from _spectral_helpers import LEADING, SIZES, _cosine, _rand

from bandlimit.spectral import (
    apply_frequency_mask,
    band_energy,
    dct2,
    dct_band_mask,
    fft2c,
    fourier_band_mask,
    fourier_partner,
    frequency_mask,
    frequency_split,
    high_frequency_fraction,
    highpass,
    idct2,
    ifft2c,
    lowpass,
    mean_spectrum,
    radial_profile,
)


class TestFrequencyMask:
    @pytest.mark.parametrize(("bandwidth", "side"), [(1, 1), (3, 3), (7, 7), (2, 3), (8, 9), (31, 31), (32, 32)])
    def test_square_size(self, bandwidth: int, side: int) -> None:
        mask = frequency_mask(32, 32, bandwidth=bandwidth)
        assert int(mask.sum()) == side * side
        c, half = 16, side // 2
        assert bool(mask[c - half : c - half + side, c - half : c - half + side].eq(1).all())

    def test_radius_equals_half_bandwidth(self) -> None:
        for shape in ("square", "disc", "gaussian", "butterworth"):
            torch.testing.assert_close(
                frequency_mask(16, 16, shape=shape, bandwidth=6), frequency_mask(16, 16, shape=shape, radius=3)
            )

    def test_disc_strict(self) -> None:
        assert int(frequency_mask(32, 32, shape="disc", radius=1).sum()) == 1
        assert int(frequency_mask(32, 32, shape="disc", radius=1.01).sum()) == 5
        assert int(frequency_mask(32, 32, shape="disc", radius=2).sum()) == 9  # d in {0, 1, sqrt 2}

    def test_smooth_shapes(self) -> None:
        g = frequency_mask(9, 9, shape="gaussian", radius=2.0, dtype=torch.float64)
        assert g[4, 4] == 1.0 and math.isclose(float(g[4, 6]), math.exp(-0.5))
        b = frequency_mask(9, 9, shape="butterworth", radius=2.0, order=3, dtype=torch.float64)
        assert b[4, 4] == 1.0 and math.isclose(float(b[4, 6]), 0.5)

    @pytest.mark.parametrize(("h", "w"), [(8, 8), (7, 7), (6, 9)])
    @pytest.mark.parametrize("shape", ["square", "disc", "gaussian", "butterworth"])
    def test_conjugate_symmetric(self, h: int, w: int, shape: str) -> None:
        mask = frequency_mask(h, w, shape=shape, radius=2.5)
        for i in range(h):
            for j in range(w):
                assert mask[i, j] == mask[fourier_partner(h, w, i, j)]

    def test_returns_copy(self) -> None:
        frequency_mask(8, 8, bandwidth=3).zero_()
        dct_band_mask(8, 8, "low").zero_()
        assert int(frequency_mask(8, 8, bandwidth=3).sum()) == 9
        assert int(dct_band_mask(8, 8, "low").sum()) == 4
        x = _rand(8, 8)
        torch.testing.assert_close(lowpass(x, bandwidth=8), x)

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match="expected one of"):
            frequency_mask(8, 8, shape="box", bandwidth=2)
        with pytest.raises(ValueError, match="exactly one of bandwidth"):
            frequency_mask(8, 8)
        with pytest.raises(ValueError, match="exactly one of bandwidth"):
            frequency_mask(8, 8, bandwidth=2, radius=1)
        with pytest.raises(ValueError, match=r"bandwidth: expected a value in \(0, 8\]"):
            frequency_mask(8, 8, bandwidth=9)
        with pytest.raises(ValueError, match="bandwidth: expected a value > 0"):
            frequency_mask(8, 8, bandwidth=0)
        with pytest.raises(ValueError, match="radius: expected a value in"):
            frequency_mask(8, 8, shape="disc", radius=100)
        with pytest.raises(ValueError, match="order: expected an integer >= 1"):
            frequency_mask(8, 8, shape="butterworth", radius=2, order=0)


class TestLowpass:
    @pytest.mark.parametrize("leading", LEADING)
    @pytest.mark.parametrize(("h", "w"), SIZES)
    @pytest.mark.parametrize("shape", ["square", "disc", "gaussian", "butterworth"])
    def test_matches_centred_reference(self, leading: tuple[int, ...], h: int, w: int, shape: str) -> None:
        x = _rand(*leading, h, w)
        mask = frequency_mask(h, w, shape=shape, radius=1.5, dtype=torch.float64)
        ref = ifft2c(fft2c(x) * mask).real
        out = lowpass(x, radius=1.5, shape=shape)
        assert out.shape == x.shape and out.dtype == x.dtype
        torch.testing.assert_close(out, ref)

    @pytest.mark.parametrize("shape", ["square", "disc"])
    def test_idempotent(self, shape: str) -> None:
        x = _rand(2, 3, 16, 16)
        once = lowpass(x, bandwidth=6, shape=shape)
        torch.testing.assert_close(lowpass(once, bandwidth=6, shape=shape), once)

    def test_removes_high_keeps_low(self) -> None:
        low, high = _cosine(32, 32, 2, 1), _cosine(32, 32, 0, 12)
        out = lowpass(low + high, bandwidth=8)
        torch.testing.assert_close(out, low)
        torch.testing.assert_close(highpass(low + high, bandwidth=8), high)

    @pytest.mark.parametrize("shape", ["square", "disc", "gaussian", "butterworth"])
    def test_low_plus_high_is_identity(self, shape: str) -> None:
        x = _rand(2, 3, 9, 10)
        torch.testing.assert_close(lowpass(x, radius=2, shape=shape) + highpass(x, radius=2, shape=shape), x)

    def test_full_bandwidth_is_identity(self) -> None:
        x = _rand(2, 8, 8)
        torch.testing.assert_close(lowpass(x, bandwidth=8), x)

    def test_highpass_removes_mean(self) -> None:
        out = highpass(_rand(3, 16, 16), bandwidth=1)
        torch.testing.assert_close(out.mean(dim=(-2, -1)), torch.zeros(3, dtype=torch.float64))

    def test_float32(self) -> None:
        x = _rand(2, 3, 32, 32, dtype=torch.float32)
        out = lowpass(x, bandwidth=8)
        assert out.dtype == torch.float32
        torch.testing.assert_close(out.double(), lowpass(x.double(), bandwidth=8), atol=1e-5, rtol=0)

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="floating-point"):
            lowpass(torch.ones(4, 4, dtype=torch.int64), bandwidth=2)
        with pytest.raises(ValueError, match="expected one of"):
            highpass(_rand(4, 4), bandwidth=2, shape="ring")

    def test_gradcheck(self) -> None:
        x = _rand(2, 6, 5).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: lowpass(t, bandwidth=3), (x,))
        assert torch.autograd.gradcheck(lambda t: highpass(t, radius=1.5, shape="gaussian"), (x,))


class TestApplyFrequencyMask:
    def test_matches_lowpass(self) -> None:
        x = _rand(2, 3, 9, 8)
        mask = frequency_mask(9, 8, shape="butterworth", radius=2.0)
        torch.testing.assert_close(apply_frequency_mask(x, mask), lowpass(x, radius=2.0, shape="butterworth"))

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match=r"mask: expected spatial size \(9, 8\)"):
            apply_frequency_mask(_rand(9, 8), torch.ones(8, 8))
        with pytest.raises(TypeError, match="floating-point"):
            apply_frequency_mask(_rand(8, 8), torch.ones(8, 8, dtype=torch.bool))


class TestFrequencySplit:
    def test_strict_radius(self) -> None:
        # A cosine at frequency (0, 4) lies exactly at distance 4: it belongs to the high part.
        x = _cosine(32, 32, 0, 4) + _cosine(32, 32, 2, 2)
        low, high = frequency_split(x, 4)
        torch.testing.assert_close(low, _cosine(32, 32, 2, 2))
        torch.testing.assert_close(high, _cosine(32, 32, 0, 4))
        low, high = frequency_split(x, 4.01)
        torch.testing.assert_close(low, x)

    def test_sum(self) -> None:
        x = _rand(2, 3, 12, 12)
        low, high = frequency_split(x, 3)
        torch.testing.assert_close(low + high, x)


class TestDctBandMask:
    @pytest.mark.parametrize(("h", "w", "low", "high"), [(32, 32, 0.25, 0.5), (7, 9, 0.3, 0.6), (8, 8, 0.0, 1.0)])
    def test_partition(self, h: int, w: int, low: float, high: float) -> None:
        masks = [dct_band_mask(h, w, b, low=low, high=high) for b in ("low", "mid", "high")]
        torch.testing.assert_close(sum(masks), torch.ones(h, w))
        torch.testing.assert_close(dct_band_mask(h, w, "all"), torch.ones(h, w))

    def test_low_block(self) -> None:
        mask = dct_band_mask(32, 32, "low")
        expected = torch.zeros(32, 32)
        expected[:8, :8] = 1
        torch.testing.assert_close(mask, expected)
        high = dct_band_mask(32, 32, "high")
        assert int(high.sum()) == 32 * 32 - 16 * 16 and high[16, 0] == 1 and high[15, 15] == 0

    def test_band_limited_signal(self) -> None:
        mask = dct_band_mask(16, 16, "mid", dtype=torch.float64)
        x = idct2(dct2(_rand(3, 16, 16)) * mask)
        torch.testing.assert_close(dct2(x) * (1 - mask), torch.zeros(3, 16, 16, dtype=torch.float64))

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match="expected one of"):
            dct_band_mask(8, 8, "random")
        with pytest.raises(ValueError, match="0 <= low <= high"):
            dct_band_mask(8, 8, "low", low=0.6, high=0.5)


class TestFourierBandMask:
    @pytest.mark.parametrize(("h", "w"), [(32, 32), (7, 9)])
    def test_partition_and_symmetry(self, h: int, w: int) -> None:
        masks = [fourier_band_mask(h, w, b) for b in ("low", "mid", "high")]
        torch.testing.assert_close(sum(masks), torch.ones(h, w))
        for mask in masks:
            for i in range(h):
                for j in range(w):
                    assert mask[i, j] == mask[fourier_partner(h, w, i, j)]

    def test_low_is_disc(self) -> None:
        # low=0.25 of Nyquist on 32x32 is a radius of 4 bins (strict).
        torch.testing.assert_close(fourier_band_mask(32, 32, "low"), frequency_mask(32, 32, shape="disc", radius=4))

    def test_band_limited_image_is_real(self) -> None:
        mask = fourier_band_mask(9, 8, "mid", dtype=torch.float64)
        out = ifft2c(fft2c(_rand(2, 9, 8)) * mask)
        assert out.imag.abs().max() < 1e-12

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="expected one of"):
            fourier_band_mask(8, 8, 1)
        with pytest.raises(ValueError, match="0 <= low <= high"):
            fourier_band_mask(8, 8, "high", low=-0.1)


class TestMeanSpectrum:
    def test_constant(self) -> None:
        x = torch.full((4, 3, 8, 8), 0.5, dtype=torch.float64)
        spec = mean_spectrum(x)
        expected = torch.zeros(8, 8, dtype=torch.float64)
        expected[4, 4] = 0.5 * 8
        torch.testing.assert_close(spec, expected)

    def test_per_channel(self) -> None:
        x = _rand(5, 3, 6, 7)
        spec = mean_spectrum(x, per_channel=True)
        assert spec.shape == (3, 6, 7)
        torch.testing.assert_close(spec[1], fft2c(x[:, 1]).abs().mean(0))
        torch.testing.assert_close(mean_spectrum(x), spec.mean(0))

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match="at least 3 dims"):
            mean_spectrum(_rand(6, 6), per_channel=True)


class TestRadialProfile:
    def test_known_spectrum(self) -> None:
        kh = torch.arange(16, dtype=torch.float64).view(-1, 1) - 8
        kw = torch.arange(16, dtype=torch.float64) - 8
        ring = torch.floor(torch.sqrt(kh**2 + kw**2) + 0.5)
        radii, profile = radial_profile(ring**2)
        torch.testing.assert_close(radii, torch.arange(12, dtype=torch.float64))
        torch.testing.assert_close(profile, radii**2)

    def test_leading_dims_and_bins(self) -> None:
        spec = _rand(2, 3, 10, 10)
        radii, profile = radial_profile(spec, bins=5)
        assert radii.shape == (5,) and profile.shape == (2, 3, 5)
        assert bool((radii[1:] > radii[:-1]).all())
        # Flat spectrum -> flat profile.
        _, flat = radial_profile(torch.ones(10, 10, dtype=torch.float64), bins=5)
        torch.testing.assert_close(flat, torch.ones(5, dtype=torch.float64))

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match=r"spectrum.abs\(\)"):
            radial_profile(fft2c(_rand(4, 4)))
        with pytest.raises(ValueError, match="integer >= 1"):
            radial_profile(_rand(4, 4), bins=0)


class TestBandEnergy:
    def test_sums_to_one(self) -> None:
        out = band_energy(_rand(2, 3, 16, 16) - 0.5)
        assert set(out) == {"low", "mid", "high"}
        assert math.isclose(sum(out.values()), 1.0, rel_tol=1e-12)

    def test_pure_cosines(self) -> None:
        assert math.isclose(band_energy(_cosine(32, 32, 1, 1))["low"], 1.0, rel_tol=1e-9)
        assert math.isclose(band_energy(_cosine(32, 32, 0, 6))["mid"], 1.0, rel_tol=1e-9)
        assert math.isclose(band_energy(_cosine(32, 32, 12, 3))["high"], 1.0, rel_tol=1e-9)

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match="non-zero"):
            band_energy(torch.zeros(8, 8))
        with pytest.raises(ValueError, match="0 <= low <= high"):
            band_energy(_rand(8, 8), low=0.7)


class TestHighFrequencyFraction:
    def test_cosines(self) -> None:
        assert high_frequency_fraction(_cosine(32, 32, 4, 4)) == pytest.approx(0.0, abs=1e-12)
        assert high_frequency_fraction(_cosine(32, 32, 5, 0)) == pytest.approx(1.0)
        mix = _cosine(32, 32, 1, 0) + _cosine(32, 32, 10, 0)
        assert high_frequency_fraction(mix) == pytest.approx(0.5)
        assert high_frequency_fraction(mix, bandwidth=32) == pytest.approx(0.0, abs=1e-12)

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match=r"bandwidth: expected a value in \(0, 8\]"):
            high_frequency_fraction(_rand(8, 8), bandwidth=10)
