"""Tests for bandlimit.spectral's Fourier basis: Yin et al.'s partner cells, basis images, pairs and stacks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import bandlimit.spectral.basis as basis_module
from bandlimit.spectral import (
    fft2c,
    fourier_basis,
    fourier_basis_pairs,
    fourier_basis_stack,
    fourier_partner,
)


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


def test_fourier_partner_index_matches_scalar_rule() -> None:
    from bandlimit.spectral import fourier_partner, fourier_partner_index

    for n in (1, 2, 5, 8, 33):
        assert fourier_partner_index(n).tolist() == [fourier_partner(n, 1, i, 0)[0] for i in range(n)]
    idx = fourier_partner_index(6)
    assert torch.equal(idx[idx], torch.arange(6))  # an involution
