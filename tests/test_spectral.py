"""Tests for bandlimit.spectral: transforms, Yin et al.'s Fourier basis, masks and spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.fft
import torch

import bandlimit.spectral.basis as basis_module
import bandlimit.spectral.transforms as transforms_module
from bandlimit.spectral import (
    apply_frequency_mask,
    band_energy,
    dct2,
    dct_band_mask,
    dct_matrix,
    fft2c,
    fourier_band_mask,
    fourier_basis,
    fourier_basis_pairs,
    fourier_basis_stack,
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

SIZES = [(8, 8), (5, 5), (6, 7), (7, 4)]
LEADING = [(), (3,), (2, 3)]


def _rand(*shape: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(*shape, generator=g, dtype=dtype)


def _cosine(h: int, w: int, kh: int, kw: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    u = torch.arange(h, dtype=dtype).view(-1, 1)
    v = torch.arange(w, dtype=dtype).view(1, -1)
    return torch.cos(2 * math.pi * (kh * u / h + kw * v / w))


def _yin_reference(h: int, w: int) -> np.ndarray:
    """Independent numpy construction following the steps of Yin et al.'s released code."""

    def partner(i: int, j: int) -> tuple[int, int]:
        dims, pos = np.array([h, w]), np.array([i, j])
        sym = np.where(dims % 2 == 0, np.mod(dims - pos, dims), dims - 1 - pos)
        return int(sym[0]), int(sym[1])

    done = np.zeros((h, w), dtype=bool)
    out = np.zeros((h, w, h, w))
    for i in range(h):
        for j in range(w):
            if done[i, j]:
                continue
            freq = np.zeros((h, w), dtype=complex)
            si, sj = partner(i, j)
            if (si, sj) == (i, j):
                freq[i, j] = 1.0
            else:
                freq[i, j] = 0.5 + 0.5j
                freq[si, sj] = 0.5 - 0.5j
            basis = np.sqrt(h * w) * np.real(np.fft.ifft2(np.fft.ifftshift(freq)))
            out[i, j] = basis
            out[si, sj] = basis
            done[i, j] = done[si, sj] = True
    return out


def _all_cells(h: int, w: int) -> torch.Tensor:
    return torch.stack(torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij"), -1).reshape(-1, 2)


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


class TestFourierPartner:
    @pytest.mark.parametrize(
        ("h", "w", "i", "j", "expected"),
        [
            (32, 32, 16, 16, (16, 16)),  # DC
            (32, 32, 0, 0, (0, 0)),  # Nyquist corner
            (32, 32, 16, 17, (16, 15)),
            (32, 32, 3, 30, (29, 2)),
            (5, 5, 2, 2, (2, 2)),  # odd: DC at 2
            (5, 5, 0, 4, (4, 0)),
            (3, 4, 0, 1, (2, 3)),
        ],
    )
    def test_examples(self, h: int, w: int, i: int, j: int, expected: tuple[int, int]) -> None:
        assert fourier_partner(h, w, i, j) == expected

    @pytest.mark.parametrize(("h", "w"), [(32, 32), (5, 5), (4, 7)])
    def test_negates_frequency_and_is_involution(self, h: int, w: int) -> None:
        for i in range(h):
            for j in range(w):
                pi, pj = fourier_partner(h, w, i, j)
                assert fourier_partner(h, w, pi, pj) == (i, j)
                # -(i - h//2) == pi - h//2 modulo h (frequencies are periodic)
                assert (pi - h // 2 + i - h // 2) % h == 0
                assert (pj - w // 2 + j - w // 2) % w == 0

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match=r"row index in \[0, 31\]"):
            fourier_partner(32, 32, 32, 0)
        with pytest.raises(ValueError, match=r"column index in \[0, 4\]"):
            fourier_partner(5, 5, 0, -1)
        with pytest.raises(TypeError, match="integer"):
            fourier_partner(5, 5, 1.0, 0)
        with pytest.raises(ValueError, match="integer >= 1"):
            fourier_partner(0, 5, 0, 0)


class TestFourierBasis:
    @pytest.mark.parametrize(("h", "w"), [(32, 32), (5, 5), (3, 3), (4, 5), (6, 3)])
    def test_matches_released_code_steps(self, h: int, w: int) -> None:
        ref = _yin_reference(h, w)
        stack = fourier_basis_stack(h, w, _all_cells(h, w), dtype=torch.float64)
        np.testing.assert_allclose(stack.reshape(h, w, h, w).numpy(), ref, atol=1e-12)

    @pytest.mark.parametrize(("i", "j"), [(3, 30), (16, 17), (0, 5), (16, 16), (0, 16)])
    def test_hand_formula(self, i: int, j: int) -> None:
        h = w = 32
        # The representative of the pair (first in row-major order) carries +0.5j.
        ri, rj = min((i, j), fourier_partner(h, w, i, j), key=lambda c: c[0] * w + c[1])
        u = torch.arange(h, dtype=torch.float64).view(-1, 1)
        v = torch.arange(w, dtype=torch.float64)
        theta = 2 * math.pi * ((ri - h // 2) * u / h + (rj - w // 2) * v / w)
        expected = (torch.cos(theta) - torch.sin(theta)) / math.sqrt(h * w)
        torch.testing.assert_close(fourier_basis(h, w, i, j, dtype=torch.float64), expected)

    def test_toy_3x3(self) -> None:
        # Centre (1, 1) is DC: a constant 1/3 image. (0, 0) pairs with (2, 2), frequency (-1, -1).
        torch.testing.assert_close(fourier_basis(3, 3, 1, 1, dtype=torch.float64), torch.full((3, 3), 1 / 3).double())
        u = torch.arange(3.0, dtype=torch.float64)
        theta = 2 * math.pi * (-u.view(-1, 1) / 3 - u / 3)
        torch.testing.assert_close(fourier_basis(3, 3, 0, 0, dtype=torch.float64), (theta.cos() - theta.sin()) / 3)

    @pytest.mark.parametrize(("h", "w"), [(32, 32), (5, 5), (4, 7)])
    def test_unit_norm_and_partner_identity(self, h: int, w: int) -> None:
        stack = fourier_basis_stack(h, w, _all_cells(h, w), dtype=torch.float64)
        torch.testing.assert_close(stack.flatten(1).norm(dim=1), torch.ones(h * w, dtype=torch.float64))
        partners = torch.tensor([fourier_partner(h, w, int(i), int(j)) for i, j in _all_cells(h, w)])
        torch.testing.assert_close(stack, fourier_basis_stack(h, w, partners, dtype=torch.float64))

    def test_spectrum_support(self) -> None:
        spec = fft2c(fourier_basis(32, 32, 5, 20, dtype=torch.float64)).abs()
        support = (spec > 1e-9).nonzero().tolist()
        assert sorted(support) == sorted([[5, 20], list(fourier_partner(32, 32, 5, 20))])

    def test_dtype_device(self) -> None:
        assert fourier_basis(8, 8, 1, 2).dtype == torch.get_default_dtype()
        assert fourier_basis(8, 8, 1, 2, dtype=torch.float64).dtype == torch.float64
        assert fourier_basis(8, 8, 1, 2, device="cpu").device.type == "cpu"

    def test_exception(self) -> None:
        with pytest.raises(ValueError, match=r"row index in \[0, 7\]"):
            fourier_basis(8, 8, 8, 0)
        with pytest.raises(TypeError, match="floating dtype"):
            fourier_basis(8, 8, 1, 1, dtype=torch.int64)


class TestFourierBasisPairs:
    def test_cifar_count_and_rank(self) -> None:
        pairs = fourier_basis_pairs(32, 32)
        assert pairs.shape == (514, 2) and pairs.dtype == torch.long
        assert len({tuple(p) for p in pairs.tolist()}) == 514
        stack = fourier_basis_stack(32, 32, pairs, dtype=torch.float64)
        assert torch.linalg.matrix_rank(stack.flatten(1)) == 514
        # Distinct pairs -> orthonormal images.
        gram = stack.flatten(1) @ stack.flatten(1).T
        torch.testing.assert_close(gram, torch.eye(514, dtype=torch.float64), atol=1e-10, rtol=0)

    @pytest.mark.parametrize(("h", "w", "count"), [(5, 5, 13), (3, 3, 5), (4, 5, 11), (2, 2, 4), (1, 1, 1)])
    def test_counts_cover_grid(self, h: int, w: int, count: int) -> None:
        pairs = fourier_basis_pairs(h, w)
        assert pairs.shape == (count, 2)
        covered = {tuple(p) for p in pairs.tolist()} | {fourier_partner(h, w, *p) for p in pairs.tolist()}
        assert covered == {(i, j) for i in range(h) for j in range(w)}

    def test_returns_copy(self) -> None:
        fourier_basis_pairs(6, 6).zero_()
        assert fourier_basis_pairs(6, 6).abs().sum() > 0


class TestFourierBasisStack:
    def test_matches_single(self) -> None:
        cells = torch.tensor([[0, 0], [3, 7], [10, 2], [16, 16]])
        stack = fourier_basis_stack(32, 32, cells)
        for k, (i, j) in enumerate(cells.tolist()):
            torch.testing.assert_close(stack[k], fourier_basis(32, 32, i, j))

    def test_elementwise_path_under_tf32(self, monkeypatch: pytest.MonkeyPatch) -> None:
        cells = _all_cells(6, 5)
        expected = fourier_basis_stack(6, 5, cells, dtype=torch.float64)
        monkeypatch.setattr(basis_module, "_matmul_may_lose_precision", lambda t: True)
        torch.testing.assert_close(fourier_basis_stack(6, 5, cells, dtype=torch.float64), expected)

    def test_empty(self) -> None:
        assert fourier_basis_stack(4, 4, torch.zeros(0, 2, dtype=torch.long)).shape == (0, 4, 4)

    def test_exception(self) -> None:
        with pytest.raises(TypeError, match="integer tensor"):
            fourier_basis_stack(4, 4, torch.zeros(1, 2))
        with pytest.raises(ValueError, match=r"shape \(P, 2\)"):
            fourier_basis_stack(4, 4, torch.zeros(3, dtype=torch.long))
        with pytest.raises(ValueError, match=r"i in \[0, 3\] and j in \[0, 3\], got \(0, 4\)"):
            fourier_basis_stack(4, 4, torch.tensor([[1, 1], [0, 4]]))


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
