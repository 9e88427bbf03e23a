"""Tests for defenses.filters: low/high-pass input layers on bandlimit.spectral."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bandlimit.spectral import fft2c, frequency_mask, highpass, ifft2c, lowpass
from defenses.filters import HighPassFilter, LowPassFilter, with_input_filter

SETTINGS = [
    {"bandwidth": 8},
    {"bandwidth": 5, "shape": "disc"},
    {"radius": 3.0, "shape": "disc"},
    {"radius": 2.5, "shape": "gaussian"},
    {"radius": 4.0, "shape": "butterworth", "order": 3},
]


def _images(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


def _cosine(h: int, w: int, a: int, b: int) -> torch.Tensor:
    """cos(2π(a i / h + b j / w)): energy only at the frequencies (±a, ±b)."""
    i = torch.arange(h, dtype=torch.float64).view(-1, 1)
    j = torch.arange(w, dtype=torch.float64).view(1, -1)
    return torch.cos(2 * math.pi * (a * i / h + b * j / w))


class TestModuleEqualsFunction:
    @pytest.mark.parametrize("kw", SETTINGS)
    def test_lowpass(self, kw: dict) -> None:
        x = _images(2, 3, 16, 16, dtype=torch.float64)
        torch.testing.assert_close(LowPassFilter(**kw)(x), lowpass(x, **kw), atol=1e-12, rtol=0)

    @pytest.mark.parametrize("kw", SETTINGS)
    def test_highpass(self, kw: dict) -> None:
        x = _images(2, 3, 16, 16, dtype=torch.float64)
        torch.testing.assert_close(HighPassFilter(**kw)(x), highpass(x, **kw), atol=1e-12, rtol=0)

    @pytest.mark.parametrize("kw", SETTINGS)
    def test_equals_full_complex_fft_with_centred_mask(self, kw: dict) -> None:
        # Independent path: full centred FFT, the public mask, real part of the inverse.
        x = _images(2, 3, 15, 16, dtype=torch.float64)
        mask = frequency_mask(15, 16, dtype=torch.float64, **kw)
        ref = ifft2c(fft2c(x) * mask).real
        torch.testing.assert_close(LowPassFilter(**kw)(x), ref, atol=1e-12, rtol=0)
        torch.testing.assert_close(HighPassFilter(**kw)(x), x - ref, atol=1e-12, rtol=0)

    @pytest.mark.parametrize("kw", SETTINGS)
    def test_low_plus_high_is_identity(self, kw: dict) -> None:
        x = _images(2, 3, 12, 12, dtype=torch.float64)
        torch.testing.assert_close(LowPassFilter(**kw)(x) + HighPassFilter(**kw)(x), x, atol=1e-12, rtol=0)

    def test_spectral_mask(self) -> None:
        low = LowPassFilter(bandwidth=6).spectral_mask(16, 16)
        assert torch.equal(low, frequency_mask(16, 16, bandwidth=6))
        assert torch.equal(HighPassFilter(bandwidth=6).spectral_mask(16, 16), 1 - low)


class TestAnalytic:
    def test_cosine_inside_band_passes_outside_is_removed(self) -> None:
        x = _cosine(16, 16, 2, 1).expand(1, 3, 16, 16)
        torch.testing.assert_close(LowPassFilter(bandwidth=4)(x), x, atol=1e-12, rtol=0)
        torch.testing.assert_close(LowPassFilter(bandwidth=2)(x), torch.zeros_like(x), atol=1e-12, rtol=0)
        torch.testing.assert_close(HighPassFilter(bandwidth=2)(x), x, atol=1e-12, rtol=0)

    def test_constant_image(self) -> None:
        x = torch.full((1, 3, 8, 8), 0.3, dtype=torch.float64)
        torch.testing.assert_close(LowPassFilter(radius=1.0, shape="gaussian")(x), x, atol=1e-12, rtol=0)
        torch.testing.assert_close(HighPassFilter(bandwidth=1)(x), torch.zeros_like(x), atol=1e-12, rtol=0)

    @pytest.mark.parametrize("kw", [{"bandwidth": 6}, {"radius": 4.0, "shape": "disc"}])
    def test_ideal_lowpass_is_idempotent(self, kw: dict) -> None:
        f = LowPassFilter(**kw)
        y = f(_images(2, 3, 16, 16, dtype=torch.float64))
        torch.testing.assert_close(f(y), y, atol=1e-12, rtol=0)

    def test_gaussian_is_not_idempotent(self) -> None:
        f = LowPassFilter(radius=2.0, shape="gaussian")
        y = f(_images(1, 3, 16, 16, dtype=torch.float64))
        assert (f(y) - y).abs().max() > 1e-3

    @pytest.mark.parametrize("kw", SETTINGS)
    def test_self_adjoint(self, kw: dict) -> None:
        # Real conjugate-symmetric mask: <P x, y> = <x, P y>.
        f = HighPassFilter(**kw)
        x, y = _images(2, 3, 10, 10, dtype=torch.float64), _images(2, 3, 10, 10, dtype=torch.float64).flip(0)
        torch.testing.assert_close((f(x) * y).sum(), (x * f(y)).sum(), atol=1e-10, rtol=0)


class TestBuffersAndDevices:
    def test_mask_buffer_is_not_persistent(self) -> None:
        f = LowPassFilter(bandwidth=4)
        f(_images(1, 3, 8, 8))
        assert f.mask is not None
        assert dict(f.state_dict()) == {}
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
        seq = nn.Sequential(f, model)
        assert set(seq.state_dict()) == {f"1.{k}" for k in model.state_dict()}
        LowPassFilter(bandwidth=4).load_state_dict({})  # strict load of an empty state works

    def test_mask_rebuilt_for_new_size_and_dtype(self) -> None:
        f = LowPassFilter(bandwidth=5, shape="disc")
        for shape, dtype in [((1, 3, 8, 8), torch.float32), ((2, 1, 12, 9), torch.float32),
                             ((2, 1, 12, 10), torch.float32), ((1, 3, 8, 8), torch.float64)]:  # fmt: skip
            x = _images(*shape, dtype=dtype)
            out = f(x)
            assert out.dtype == dtype and out.shape == x.shape
            torch.testing.assert_close(out, lowpass(x, bandwidth=5, shape="disc"))

    def test_any_leading_dims(self) -> None:
        x = _images(2, 2, 3, 8, 8, dtype=torch.float64)
        torch.testing.assert_close(LowPassFilter(bandwidth=3)(x), lowpass(x, bandwidth=3), atol=1e-12, rtol=0)

    @pytest.mark.parametrize("cls", [LowPassFilter, HighPassFilter])
    @pytest.mark.parametrize("shape", ["square", "butterworth"])
    def test_gradcheck(self, cls: type, shape: str) -> None:
        x = _images(1, 2, 6, 5, dtype=torch.float64).requires_grad_(True)
        assert torch.autograd.gradcheck(cls(radius=1.5, shape=shape), (x,))

    def test_built_under_inference_mode_then_differentiated(self) -> None:
        f = LowPassFilter(bandwidth=4)
        with torch.inference_mode():
            f(_images(1, 3, 8, 8))
        x = _images(1, 3, 8, 8).requires_grad_(True)
        f(x).sum().backward()
        assert x.grad is not None

    def test_clamp(self) -> None:
        # A sharp edge rings under an ideal low-pass and overshoots [0, 1].
        x = torch.zeros(1, 1, 16, 16)
        x[..., :, :8] = 1.0
        free = LowPassFilter(bandwidth=5)(x)
        assert free.min() < -0.01 and free.max() > 1.01
        clamped = LowPassFilter(bandwidth=5, clamp=True)(x)
        assert clamped.min() >= 0 and clamped.max() <= 1
        torch.testing.assert_close(clamped, free.clamp(0, 1))

    @pytest.mark.gpu
    def test_cuda(self) -> None:
        x = _images(2, 3, 16, 16)
        f = LowPassFilter(bandwidth=6, shape="disc")
        cpu = f(x)
        gpu = f(x.cuda())
        assert gpu.is_cuda and f.mask.is_cuda
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)
        xg = x.cuda().requires_grad_(True)
        HighPassFilter(bandwidth=6)(xg).pow(2).sum().backward()
        assert xg.grad is not None and torch.isfinite(xg.grad).all()


class TestWithInputFilter:
    def test_composition_and_metadata(self) -> None:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 4))
        model.bandlimit_meta = {"architecture": "linear"}
        layer = LowPassFilter(bandwidth=4, shape="disc")
        defended = with_input_filter(model, layer)
        x = _images(2, 3, 8, 8)
        torch.testing.assert_close(defended(x), model(lowpass(x, bandwidth=4, shape="disc")))
        assert defended.bandlimit_meta["architecture"] == "linear"
        assert defended.bandlimit_meta["defense"]["name"] == "LowPassFilter"
        assert defended.bandlimit_meta["defense"]["shape"] == "disc"

    def test_gradient_sees_through_the_filter(self) -> None:
        # d/dx sum(w * P x) = P w: the attack gradient is exactly the filtered model gradient.
        w = _images(1, 3, 8, 8, dtype=torch.float64)
        layer = LowPassFilter(bandwidth=3)
        x = _images(1, 3, 8, 8, dtype=torch.float64).flip(-1).requires_grad_(True)
        (layer(x) * w).sum().backward()
        torch.testing.assert_close(x.grad, layer(w), atol=1e-12, rtol=0)

    def test_errors(self) -> None:
        with pytest.raises(TypeError, match="model"):
            with_input_filter(lambda x: x, LowPassFilter(bandwidth=2))  # type: ignore[arg-type]


class TestErrors:
    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            ({}, ValueError, "exactly one of bandwidth"),
            ({"bandwidth": 4, "radius": 2}, ValueError, "exactly one of bandwidth"),
            ({"bandwidth": 0}, ValueError, "bandwidth: expected a value > 0"),
            ({"bandwidth": -3}, ValueError, "bandwidth"),
            ({"radius": math.nan}, ValueError, "radius: expected a finite number"),
            ({"radius": math.inf}, ValueError, "radius: expected a finite number"),
            ({"bandwidth": 4, "shape": "hexagon"}, ValueError, "shape: expected one of"),
            ({"bandwidth": 4, "order": 0}, ValueError, "order"),
            ({"bandwidth": 4, "clamp": 1}, TypeError, "clamp"),
        ],
    )
    def test_bad_settings(self, kwargs: dict, exc: type, match: str) -> None:
        with pytest.raises(exc, match=match):
            LowPassFilter(**kwargs)

    def test_bandwidth_too_large_for_image(self) -> None:
        f = HighPassFilter(bandwidth=40)
        with pytest.raises(ValueError, match=r"bandwidth: expected a value in \(0, 32\]"):
            f(_images(1, 3, 32, 32))
        f(_images(1, 3, 64, 64))  # fits a larger image

    def test_bad_input(self) -> None:
        with pytest.raises(TypeError, match="floating"):
            LowPassFilter(bandwidth=4)(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
        with pytest.raises(ValueError, match="at least 2 dims"):
            LowPassFilter(bandwidth=4)(torch.zeros(8))


class TestWrapping:
    """Issue 15: a filter wraps a model the way PostAveraging does: ``LowPassFilter(model, bandwidth=16)``."""

    @pytest.mark.parametrize("layer", [LowPassFilter, HighPassFilter])
    def test_wrapped_equals_the_layer_then_the_model(self, layer: type) -> None:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 4)).double()
        x = torch.rand(5, 3, 8, 8, dtype=torch.float64)
        wrapped = layer(model, bandwidth=4)
        torch.testing.assert_close(wrapped(x), model(layer(bandwidth=4)(x)), rtol=0, atol=1e-12)
        assert wrapped.model is model and wrapped.config == layer(bandwidth=4).config
        assert set(wrapped.state_dict()) == {f"model.{k}" for k in model.state_dict()}  # the mask is not saved

    def test_an_unknown_key_names_the_valid_ones_and_no_private_class(self) -> None:
        with pytest.raises(
            TypeError, match=r"^LowPassFilter: unknown setting\(s\) \['bw'\]; valid settings: bandwidth, radius"
        ):
            LowPassFilter(bw=16)

    def test_settings_are_keywords_and_a_non_model_is_named(self) -> None:
        with pytest.raises(TypeError, match=r"model: expected a torch.nn.Module.*LowPassFilter\(model, bandwidth=16\)"):
            LowPassFilter(16)  # type: ignore[arg-type]

    def test_metadata_records_the_defence(self) -> None:
        model = torch.nn.Flatten()
        model.bandlimit_meta = {"name": "tiny"}  # type: ignore[assignment]
        wrapped = LowPassFilter(model, radius=2.0)
        assert wrapped.bandlimit_meta["name"] == "tiny"
        assert wrapped.bandlimit_meta["defense"]["name"] == "LowPassFilter"
        assert wrapped.bandlimit_meta["defense"]["radius"] == 2.0
