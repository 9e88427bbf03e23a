"""Tests for bandlimit.corruptions: invariants, severity order, determinism, Yin et al.'s premise."""

from __future__ import annotations

import colorsys
import itertools

import pytest
import torch

from bandlimit.corruptions import (
    CATEGORIES,
    CORRUPTIONS,
    SEVERITIES,
    _box_matrix,
    _hsv_to_rgb,
    _rgb_to_hsv,
    corrupt,
    corruption_parameters,
    plasma_noise,
)
from bandlimit.data import load_dataset, to_tensors
from bandlimit.spectral import high_frequency_fraction

STOCHASTIC = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "fog")
# saturate is not ordered by strength in CIFAR-10-C either: severities 1-2 desaturate (x0.3, x0.1),
# 3-5 oversaturate (x1.5 ...), so its distance from the clean image is not monotone.
MONOTONE = tuple(name for name in CORRUPTIONS if name != "saturate")


def natural_images(n: int = 16, size: int = 32, seed: int = 0) -> torch.Tensor:
    """Synthetic 'natural' images: smooth random fields with a 1/f^2 power spectrum plus colour."""
    gen = torch.Generator().manual_seed(seed)
    fields = plasma_noise(n * 3, size, size, decay=2.0, generator=gen, dtype=torch.float64)
    x = fields.reshape(n, 3, size, size)
    return (0.1 + 0.8 * x).float()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return natural_images()


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


class TestInvariants:
    @pytest.mark.parametrize("name", CORRUPTIONS)
    @pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
    def test_shape_dtype_range(self, images: torch.Tensor, name: str, dtype: torch.dtype) -> None:
        x = images[:4].to(dtype)
        for severity in SEVERITIES:
            out = corrupt(x, name, severity, generator=_gen())
            assert out.shape == x.shape
            assert out.dtype == dtype
            assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
            assert torch.isfinite(out).all()

    @pytest.mark.parametrize("name", CORRUPTIONS)
    def test_input_not_modified(self, images: torch.Tensor, name: str) -> None:
        x = images[:2].clone()
        corrupt(x, name, 5, generator=_gen())
        torch.testing.assert_close(x, images[:2], rtol=0, atol=0)

    @pytest.mark.parametrize("name", [n for n in CORRUPTIONS if n not in ("brightness", "saturate")])
    def test_single_channel_images(self, images: torch.Tensor, name: str) -> None:
        x = images[:2, :1]
        out = corrupt(x, name, 4, generator=_gen())
        assert out.shape == x.shape and not torch.equal(out, x)

    @pytest.mark.parametrize("name", MONOTONE)
    def test_severity_monotone_in_distance(self, images: torch.Tensor, name: str) -> None:
        dist = [float((corrupt(images, name, s, generator=_gen()) - images).square().mean()) for s in SEVERITIES]
        assert all(b > a for a, b in itertools.pairwise(dist)), dist
        assert dist[0] > 0

    @pytest.mark.parametrize("name", CORRUPTIONS)
    def test_deterministic_with_seeded_generator(self, images: torch.Tensor, name: str) -> None:
        a = corrupt(images[:4], name, 3, generator=_gen(7))
        b = corrupt(images[:4], name, 3, generator=_gen(7))
        torch.testing.assert_close(a, b, rtol=0, atol=0)

    @pytest.mark.parametrize("name", STOCHASTIC)
    def test_different_seeds_differ(self, images: torch.Tensor, name: str) -> None:
        a = corrupt(images[:4], name, 3, generator=_gen(1))
        b = corrupt(images[:4], name, 3, generator=_gen(2))
        assert not torch.equal(a, b)

    def test_categories_cover_every_corruption(self) -> None:
        listed = [name for names in CATEGORIES.values() for name in names]
        assert sorted(listed) == sorted(CORRUPTIONS)
        assert all(len(corruption_parameters(name)) == len(SEVERITIES) for name in CORRUPTIONS)


class TestErrors:
    def test_unknown_name_lists_known(self, images: torch.Tensor) -> None:
        with pytest.raises(ValueError, match=r"name: expected one of .*gaussian_noise.*got 'snow'"):
            corrupt(images, "snow", 1)

    @pytest.mark.parametrize("severity", [0, 6, -1])
    def test_bad_severity_value(self, images: torch.Tensor, severity: int) -> None:
        with pytest.raises(ValueError, match=r"severity: expected an integer in 1..5"):
            corrupt(images, "contrast", severity)

    @pytest.mark.parametrize("severity", [2.0, "3", True])
    def test_bad_severity_type(self, images: torch.Tensor, severity: object) -> None:
        with pytest.raises(TypeError, match=r"severity: expected an integer in 1..5"):
            corrupt(images, "contrast", severity)  # type: ignore[arg-type]

    def test_out_of_range_images(self, images: torch.Tensor) -> None:
        with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
            corrupt(images * 255, "fog", 1)

    def test_uint8_images(self) -> None:
        with pytest.raises(TypeError, match="floating-point"):
            corrupt(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), "fog", 1)

    def test_hsv_corruptions_need_rgb(self) -> None:
        with pytest.raises(ValueError, match=r"expected 3 \(RGB\) channels for brightness, got 1"):
            corrupt(torch.rand(2, 1, 8, 8), "brightness", 1)

    def test_plasma_decay(self) -> None:
        with pytest.raises(ValueError, match=r"decay: expected a value > 1"):
            plasma_noise(1, 8, 8, decay=1.0)


class TestAnalytic:
    def test_contrast_is_affine_about_channel_mean(self, images: torch.Tensor) -> None:
        out = corrupt(images, "contrast", 2)  # factor 0.5; this range never clips
        mean = images.mean(dim=(2, 3), keepdim=True)
        torch.testing.assert_close(out, (images - mean) * 0.5 + mean)

    def test_gaussian_noise_std(self) -> None:
        x = torch.full((64, 3, 32, 32), 0.5)
        out = corrupt(x, "gaussian_noise", 5, generator=_gen())  # std 0.10, far from the clip
        assert abs(float((out - x).std()) - 0.10) < 0.002
        assert abs(float((out - x).mean())) < 0.002

    def test_impulse_noise_fraction(self) -> None:
        x = torch.full((64, 3, 32, 32), 0.5)
        out = corrupt(x, "impulse_noise", 5, generator=_gen())  # amount 0.07
        changed = (out != x).double().mean()
        assert abs(float(changed) - 0.07) < 0.005
        assert set(out[out != x].unique().tolist()) == {0.0, 1.0}

    def test_blurs_keep_constant_images(self) -> None:
        x = torch.full((2, 3, 16, 16), 0.3)
        for name in ("gaussian_blur", "defocus_blur", "pixelate"):
            torch.testing.assert_close(corrupt(x, name, 5), x)

    def test_box_matrix_integer_factor_is_average_pooling(self) -> None:
        x = torch.rand(2, 3, 16, 16, generator=_gen(), dtype=torch.float64)
        m = _box_matrix(16, 8, torch.float64, torch.device("cpu"))
        torch.testing.assert_close(m @ x @ m.T, torch.nn.functional.avg_pool2d(x, 2))
        up = _box_matrix(8, 16, torch.float64, torch.device("cpu"))
        small = torch.rand(1, 1, 8, 8, generator=_gen(), dtype=torch.float64)
        torch.testing.assert_close(up @ small @ up.T, small.repeat_interleave(2, -1).repeat_interleave(2, -2))

    def test_hsv_round_trip_and_colorsys(self) -> None:
        x = torch.rand(3, 3, 5, 5, generator=_gen(), dtype=torch.float64)
        h, s, v = _rgb_to_hsv(x)
        torch.testing.assert_close(_hsv_to_rgb(h, s, v), x)
        for idx in [(0, 1, 2), (1, 4, 0), (2, 3, 3)]:
            n, i, j = idx
            expected = colorsys.rgb_to_hsv(*x[n, :, i, j].tolist())
            got = (float(h[n, i, j]), float(s[n, i, j]), float(v[n, i, j]))
            assert got == pytest.approx(expected, abs=1e-12)

    def test_brightness_raises_value_keeps_hue(self, images: torch.Tensor) -> None:
        out = corrupt(images, "brightness", 1)  # V + 0.05
        h0, _, v0 = _rgb_to_hsv(images)
        h1, _, v1 = _rgb_to_hsv(out)
        torch.testing.assert_close(v1, (v0 + 0.05).clamp(max=1.0))
        torch.testing.assert_close(h1, h0, atol=1e-4, rtol=0)

    def test_jpeg_lower_quality_removes_more(self, images: torch.Tensor) -> None:
        err = [float((corrupt(images, "jpeg_compression", s) - images).abs().mean()) for s in (1, 5)]
        assert 0 < err[0] < err[1] < 0.1

    def test_plasma_is_normalised_low_frequency(self) -> None:
        field = plasma_noise(8, 32, 32, decay=3.0, generator=_gen(), dtype=torch.float64)
        assert field.shape == (8, 32, 32)
        assert torch.allclose(field.amin(dim=(1, 2)), torch.zeros(8, dtype=torch.float64))
        assert torch.allclose(field.amax(dim=(1, 2)), torch.ones(8, dtype=torch.float64))
        assert high_frequency_fraction(field - field.mean(dim=(1, 2), keepdim=True)) < 0.15


class TestYinPremise:
    """Noise and blur differences are high-frequency; contrast and fog are low-frequency."""

    @pytest.mark.parametrize("name", ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"))
    def test_noise_is_high_frequency(self, images: torch.Tensor, name: str) -> None:
        diff = corrupt(images, name, 3, generator=_gen()) - images
        # White noise puts 1 - 81/1024 = 92% of its energy outside the |k| <= 4 square.
        assert high_frequency_fraction(diff) > 0.85

    def test_fog_is_low_frequency(self, images: torch.Tensor) -> None:
        diff = corrupt(images, "fog", 3, generator=_gen()) - images
        assert high_frequency_fraction(diff) < 0.3

    def test_contrast_difference_has_the_image_spectrum(self, images: torch.Tensor) -> None:
        # C(x) - x = (c - 1)(x - mean): the spectrum of the image itself, minus its DC term.
        diff = corrupt(images, "contrast", 3) - images
        centred = images - images.mean(dim=(2, 3), keepdim=True)
        assert high_frequency_fraction(diff) == pytest.approx(high_frequency_fraction(centred), abs=1e-6)
        noise = corrupt(images, "gaussian_noise", 3, generator=_gen()) - images
        assert high_frequency_fraction(diff) < high_frequency_fraction(noise) - 0.3

    def test_on_real_cifar_images(self) -> None:
        x, _ = to_tensors(load_dataset("cifar10-sample"), n=64)
        hf = {
            name: high_frequency_fraction(corrupt(x, name, 3, generator=_gen()) - x)
            for name in ("gaussian_noise", "impulse_noise", "contrast", "fog")
        }
        assert min(hf["gaussian_noise"], hf["impulse_noise"]) > 0.85
        assert max(hf["contrast"], hf["fog"]) < 0.4
