"""Tests for bandlimit.spectral's transforms: the centred FFT and its inverse, the orthonormal DCT, on CPU and CUDA."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch
from _spectral_helpers import LEADING, SIZES, _rand

import bandlimit.spectral.transforms as transforms_module
from bandlimit.spectral import (
    band_energy,
    dct2,
    dct_matrix,
    fft2c,
    fourier_basis_pairs,
    fourier_basis_stack,
    idct2,
    ifft2c,
    lowpass,
    mean_spectrum,
)


class TestFft2c:
    def test_smoke(self) -> None:
        out = fft2c(_rand(2, 3, 8, 8))
        assert out.shape == (2, 3, 8, 8) and out.is_complex()

    @pytest.mark.parametrize("leading", LEADING)
    @pytest.mark.parametrize(("h", "w"), SIZES)
    def test_matches_numpy(self, leading: tuple[int, ...], h: int, w: int) -> None:
        x = _rand(*leading, h, w)
        ref = np.fft.fftshift(np.fft.fft2(x.numpy(), norm="ortho"), axes=(-2, -1))
        np.testing.assert_allclose(fft2c(x).numpy(), ref, atol=1e-12)

    @pytest.mark.parametrize(("dtype", "out"), [(torch.float32, torch.complex64), (torch.float64, torch.complex128)])
    def test_dtype(self, dtype: torch.dtype, out: torch.dtype) -> None:
        assert fft2c(_rand(4, 4, dtype=dtype)).dtype == out

    @pytest.mark.parametrize(("h", "w"), SIZES)
    def test_dc_is_centred(self, h: int, w: int) -> None:
        spec = fft2c(torch.ones(h, w, dtype=torch.float64))
        expected = torch.zeros(h, w, dtype=torch.complex128)
        expected[h // 2, w // 2] = math.sqrt(h * w)
        torch.testing.assert_close(spec, expected)

    def test_parseval(self) -> None:
        x = _rand(2, 3, 9, 8)
        torch.testing.assert_close(fft2c(x).abs().square().sum(), x.square().sum())

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="floating-point"):
            fft2c(torch.ones(4, 4, dtype=torch.int64))
        with pytest.raises(ValueError, match="at least 2 dims"):
            fft2c(torch.ones(4))
        with pytest.raises(TypeError, match=r"torch\.Tensor"):
            fft2c(np.ones((4, 4)))

    def test_gradcheck(self) -> None:
        x = _rand(2, 5, 4).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: torch.view_as_real(fft2c(t)), (x,))


class TestIfft2c:
    @pytest.mark.parametrize(("h", "w"), SIZES)
    def test_round_trip(self, h: int, w: int) -> None:
        x = _rand(2, h, w)
        back = ifft2c(fft2c(x))
        torch.testing.assert_close(back.real, x)
        assert back.imag.abs().max() < 1e-12

    def test_matches_numpy(self) -> None:
        spec = torch.complex(_rand(3, 5, 6, seed=1), _rand(3, 5, 6, seed=2))
        ref = np.fft.ifft2(np.fft.ifftshift(spec.numpy(), axes=(-2, -1)), norm="ortho")
        np.testing.assert_allclose(ifft2c(spec).numpy(), ref, atol=1e-12)

    def test_accepts_real(self) -> None:
        assert ifft2c(_rand(4, 4)).dtype == torch.complex128

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="complex or floating-point"):
            ifft2c(torch.ones(4, 4, dtype=torch.int32))
        with pytest.raises(ValueError, match="at least 2 dims"):
            ifft2c(torch.ones(4, dtype=torch.complex64))

    def test_gradcheck(self) -> None:
        spec = torch.complex(_rand(4, 5, seed=1), _rand(4, 5, seed=2)).requires_grad_()
        assert torch.autograd.gradcheck(lambda s: torch.view_as_real(ifft2c(s)), (spec,))


class TestDct2:
    @pytest.mark.parametrize("leading", LEADING)
    @pytest.mark.parametrize(("h", "w"), [*SIZES, (1, 3)])
    def test_matches_scipy(self, leading: tuple[int, ...], h: int, w: int) -> None:
        x = _rand(*leading, h, w)
        ref = scipy.fft.dctn(x.numpy(), axes=(-2, -1), norm="ortho")
        np.testing.assert_allclose(dct2(x).numpy(), ref, atol=1e-12)
        np.testing.assert_allclose(
            idct2(x).numpy(), scipy.fft.idctn(x.numpy(), axes=(-2, -1), norm="ortho"), atol=1e-12
        )

    def test_float32(self) -> None:
        x = _rand(2, 3, 32, 32, dtype=torch.float32)
        out = dct2(x)
        assert out.dtype == torch.float32
        ref = scipy.fft.dctn(x.double().numpy(), axes=(-2, -1), norm="ortho")
        np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)

    def test_parseval_and_round_trip(self) -> None:
        x = _rand(2, 3, 7, 10)
        coeffs = dct2(x)
        torch.testing.assert_close(coeffs.square().sum(), x.square().sum())
        torch.testing.assert_close(idct2(coeffs), x)
        torch.testing.assert_close(dct2(idct2(x)), x)

    def test_constant_is_dc(self) -> None:
        out = dct2(torch.full((4, 6), 2.0, dtype=torch.float64))
        expected = torch.zeros(4, 6, dtype=torch.float64)
        expected[0, 0] = 2.0 * math.sqrt(24)
        torch.testing.assert_close(out, expected)

    def test_matrix_orthogonal(self) -> None:
        c = dct_matrix(13, dtype=torch.float64)
        torch.testing.assert_close(c @ c.T, torch.eye(13, dtype=torch.float64))
        with pytest.raises(ValueError, match="integer >= 1"):
            dct_matrix(0)

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="floating-point"):
            dct2(torch.ones(4, 4, dtype=torch.uint8))
        with pytest.raises(ValueError, match="at least 2 dims"):
            idct2(torch.ones(4))

    def test_gradcheck(self) -> None:
        x = _rand(2, 5, 4).requires_grad_()
        assert torch.autograd.gradcheck(dct2, (x,))
        assert torch.autograd.gradcheck(idct2, (x,))

    def test_fft_path_used_under_tf32(self, monkeypatch: pytest.MonkeyPatch) -> None:
        # CUDA float32 with TF32 matmuls switches to the FFT-based DCT: check that path on CPU.
        monkeypatch.setattr(transforms_module, "_matmul_may_lose_precision", lambda t: True)
        for h, w in [*SIZES, (1, 3)]:
            x = _rand(2, h, w)
            np.testing.assert_allclose(
                dct2(x).numpy(), scipy.fft.dctn(x.numpy(), axes=(-2, -1), norm="ortho"), atol=1e-12
            )
            np.testing.assert_allclose(
                idct2(x).numpy(), scipy.fft.idctn(x.numpy(), axes=(-2, -1), norm="ortho"), atol=1e-12
            )
        x = _rand(2, 5, 4).requires_grad_()
        assert torch.autograd.gradcheck(dct2, (x,))
        assert torch.autograd.gradcheck(idct2, (x,))

    def test_tf32_predicate(self) -> None:
        assert not transforms_module._matmul_may_lose_precision(torch.zeros(2, 2))

    def test_cache_built_in_inference_mode_still_differentiable(self) -> None:
        # A constant first built under inference_mode must not poison later autograd use.
        with torch.inference_mode():
            dct2(torch.rand(11, 13))
            lowpass(torch.rand(11, 13), bandwidth=3)
        x = torch.rand(11, 13, requires_grad=True)
        (dct2(x).sum() + lowpass(x, bandwidth=3).sum()).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


@pytest.mark.gpu
class TestDevice:
    def test_cuda_matches_cpu(self) -> None:
        x = _rand(2, 3, 32, 32, dtype=torch.float32)
        xc = x.cuda()
        torch.testing.assert_close(fft2c(xc).cpu(), fft2c(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(dct2(xc).cpu(), dct2(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(idct2(xc).cpu(), idct2(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(lowpass(xc, bandwidth=8).cpu(), lowpass(x, bandwidth=8), atol=1e-5, rtol=1e-5)
        cells = fourier_basis_pairs(32, 32)
        torch.testing.assert_close(fourier_basis_stack(32, 32, cells.cuda()).cpu(), fourier_basis_stack(32, 32, cells))
        assert mean_spectrum(xc).device.type == "cuda"
        assert band_energy(xc) == pytest.approx(band_energy(x), abs=1e-5)
