"""Tests for attacks.constraints: norm balls and band-limited balls used by the PGD loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.fft import dctn, idctn

from attacks.bands import BandConstraint, make_constraint
from attacks.constraints import L2Ball, LinfBall

FAST = settings(max_examples=12, deadline=None)


def idctn_t(coeffs: torch.Tensor) -> torch.Tensor:
    """The image of a DCT coefficient array (scipy's orthonormal inverse DCT)."""
    return torch.from_numpy(idctn(coeffs.numpy(), norm="ortho"))


def _images(n: int, c: int, h: int, w: int, seed: int, *, saturate: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, c, h, w, generator=g, dtype=torch.float64)
    if saturate:  # real images have pixels at exactly 0 and 1; the box constraint binds there
        x[:, :, : h // 3] = 0.0
        x[:, :, -(h // 4) :, : w // 2] = 1.0
    return x


def _noise(x: torch.Tensor, scale: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(x.shape, generator=g, dtype=x.dtype)


def _assert_feasible(c, delta: torch.Tensor, x: torch.Tensor, tol: float = 1e-9) -> None:
    assert torch.all(c.distance(delta) <= c.eps + tol)
    x_adv = x + delta
    assert float(x_adv.min()) >= -tol and float(x_adv.max()) <= 1 + tol
    if isinstance(c, BandConstraint):
        # The documented bound: the out-of-band part is at most tol (1e-4) of the norm.
        rel = c.out_of_band_energy(delta).sqrt() / delta.flatten(1).norm(dim=1).clamp_min(1e-300)
        assert float(rel.max()) <= c.tol


BANDED = st.tuples(st.sampled_from(["low", "mid", "high", "all"]), st.sampled_from(["dct", "fourier"]))


class TestBalls:
    def test_linf_projection_is_exact_interval_clip(self) -> None:
        x = _images(3, 3, 8, 8, 0)
        d = _noise(x, 0.2, 1)
        out = LinfBall(0.05).project(d, x)
        lo = np.maximum(-0.05, -x.numpy())
        hi = np.minimum(0.05, 1 - x.numpy())
        np.testing.assert_allclose(out.numpy(), np.clip(d.numpy(), lo, hi), atol=1e-12)

    def test_l2_projection_scales_radially(self) -> None:
        x = torch.full((2, 1, 4, 4), 0.5, dtype=torch.float64)
        d = torch.zeros_like(x)
        d[0, 0, 0, 0], d[0, 0, 1, 1] = 0.3, 0.4  # norm 0.5 -> scaled to 0.25
        d[1, 0, 2, 2] = 0.1  # inside: unchanged
        out = L2Ball(0.25).project(d, x)
        assert out[0, 0, 0, 0].item() == pytest.approx(0.15) and out[0, 0, 1, 1].item() == pytest.approx(0.2)
        assert torch.equal(out[1], d[1])

    def test_steps_are_steepest_ascent(self) -> None:
        g = torch.tensor([[[[3.0, -4.0], [0.0, 0.0]]]], dtype=torch.float64)
        zero = torch.zeros_like(g)
        assert torch.equal(LinfBall(1.0).step(zero, g, 0.1), 0.1 * g.sign())
        torch.testing.assert_close(L2Ball(1.0).step(zero, g, 0.5), 0.5 * g / 5.0)
        assert torch.equal(L2Ball(1.0).step(zero, zero, 0.5), zero)  # zero gradient: no NaN

    @FAST
    @given(norm=st.sampled_from(["linf", "l2"]), eps=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
    def test_projection_feasible_and_idempotent(self, norm: str, eps: float, seed: int) -> None:
        x = _images(2, 3, 6, 5, seed)
        c = make_constraint(norm, eps)
        p = c.project(_noise(x, 1.0, seed + 1), x)
        _assert_feasible(c, p, x)
        torch.testing.assert_close(c.project(p, x), p, rtol=0, atol=1e-12)

    @FAST
    @given(norm=st.sampled_from(["linf", "l2"]), eps=st.floats(0.0, 1.0), seed=st.integers(0, 2**16))
    def test_random_init_feasible_and_reproducible(self, norm: str, eps: float, seed: int) -> None:
        x = _images(3, 3, 6, 6, seed)
        c = make_constraint(norm, eps)
        a = c.random_init(x, torch.Generator().manual_seed(seed))
        b = c.random_init(x, torch.Generator().manual_seed(seed))
        assert torch.equal(a, b)
        _assert_feasible(c, a, x)

    def test_l2_random_init_fills_the_ball(self) -> None:
        x = torch.full((64, 1, 2, 2), 0.5, dtype=torch.float64)
        norms = L2Ball(0.3).random_init(x, torch.Generator().manual_seed(0)).flatten(1).norm(dim=1)
        # uniform in a 4-d ball: P(r < 0.3 * 0.5) = 0.5**4; the radii must spread below eps
        assert float(norms.max()) <= 0.3 + 1e-12 and float(norms.min()) < 0.2

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="eps: expected a value >= 0"):
            LinfBall(-1.0)
        with pytest.raises(ValueError, match="eps: expected a finite number"):
            L2Ball(math.nan)
        with pytest.raises(ValueError, match="norm: expected one of"):
            make_constraint("l1", 0.1)


class TestBand:
    @pytest.mark.parametrize("band", ["low", "mid", "high"])
    def test_dct_projection_matches_scipy(self, band: str) -> None:
        x = _images(2, 3, 8, 8, 3, saturate=False)
        c = BandConstraint(LinfBall(0.1), band, space="dct")
        mask = c.mask(8, 8, dtype=torch.float64, device=torch.device("cpu")).numpy()
        expected = idctn(dctn(x.numpy(), axes=(-2, -1), norm="ortho") * mask, axes=(-2, -1), norm="ortho")
        np.testing.assert_allclose(c.band_project(x).numpy(), expected, atol=1e-12)

    @pytest.mark.parametrize("space", ["dct", "fourier"])
    @pytest.mark.parametrize("band", ["low", "mid", "high"])
    def test_band_projection_is_orthogonal(self, space: str, band: str) -> None:
        c = BandConstraint(L2Ball(1.0), band, space=space)
        a = _noise(torch.zeros(2, 3, 8, 9, dtype=torch.float64), 1.0, 0)
        b = _noise(a, 1.0, 1)
        pa = c.band_project(a)
        torch.testing.assert_close(c.band_project(pa), pa, rtol=0, atol=1e-12)  # idempotent
        assert (pa * b).sum().item() == pytest.approx((a * c.band_project(b)).sum().item(), abs=1e-10)  # symmetric

    def test_bands_partition_the_energy(self) -> None:
        d = _noise(torch.zeros(1, 3, 16, 16, dtype=torch.float64), 1.0, 2)
        for space in ("dct", "fourier"):
            parts = [BandConstraint(LinfBall(1.0), b, space=space).band_project(d) for b in ("low", "mid", "high")]
            torch.testing.assert_close(sum(parts), d, rtol=0, atol=1e-12)

    @FAST
    @given(band=BANDED, norm=st.sampled_from(["linf", "l2"]), eps=st.floats(0.001, 1.0), seed=st.integers(0, 2**16))
    def test_projection_exactly_feasible_and_idempotent(
        self, band: tuple[str, str], norm: str, eps: float, seed: int
    ) -> None:
        x = _images(3, 3, 8, 8, seed)
        c = make_constraint(norm, eps, band=band[0], space=band[1])
        state = c.iterate(_noise(x, eps, seed + 1), x)
        p = c.project(state, x)
        _assert_feasible(c, p, x)
        torch.testing.assert_close(c.project(p, x), p, rtol=0, atol=1e-12)
        _assert_feasible(c, c.finish(state, x), x)
        _assert_feasible(c, c.random_init(x, torch.Generator().manual_seed(seed)), x)

    def test_steps_keep_saturated_images_perturbed(self) -> None:
        # The projection must not collapse to 0 just because some pixels sit at 0 or 1.
        x = _images(4, 3, 16, 16, 5)
        c = BandConstraint(LinfBall(8 / 255), "low")
        state = torch.zeros_like(x)
        for k in range(10):
            state = c.iterate(c.step(state, _noise(x, 1.0, 10 + k), 2.5 / 255), x)
        out = c.finish(state, x)
        _assert_feasible(c, out, x)
        assert float(c.distance(out).min()) > 0.5 * 8 / 255

    @pytest.mark.parametrize("ball", [LinfBall(8 / 255), L2Ball(1.0)])
    def test_saturated_pixels_do_not_zero_a_feasible_direction(self, ball: LinfBall | L2Ball) -> None:
        # Dark rows on top, a bright block at the bottom left: the box only lets a
        # perturbation move inwards there. d0, the lowest vertical DCT basis image (positive on
        # top, negative at the bottom), is feasible and in the low band. delta adds a
        # horizontal basis image that pushes some dark pixels outwards, so band projection
        # followed by scaling (the earlier rule) returned exactly 0, although delta points
        # into the feasible set (<delta, d0> > 0) and so its projection cannot be 0.
        x = torch.full((1, 3, 16, 16), 0.5, dtype=torch.float64)
        x[:, :, :5], x[:, :, -4:, :8] = 0.0, 1.0
        b10, b01 = torch.zeros(16, 16, dtype=torch.float64), torch.zeros(16, 16, dtype=torch.float64)
        b10[1, 0], b01[0, 1] = 1.0, 1.0
        b10, b01 = idctn_t(b10), idctn_t(b01)
        eps = 8 / 255
        d0 = (eps / b10.abs().max()) * b10.expand_as(x)
        c = BandConstraint(ball, "low")
        _assert_feasible(c, d0, x)
        delta = d0 - 2 * (eps / b01.abs().max()) * b01.expand_as(x)
        assert float((x + delta).min()) < 0 and float((delta * d0).sum()) > 0
        p = c.project(delta * (1 if ball.norm == "linf" else 20), x)
        _assert_feasible(c, p, x)
        assert float(c.distance(p).min()) > 0.5 * ball.eps
        assert float((p * d0).sum()) > 0

    def test_step_stays_in_band(self) -> None:
        for norm in ("linf", "l2"):
            c = make_constraint(norm, 0.1, band="mid", space="fourier")
            g = _noise(torch.zeros(2, 3, 8, 8, dtype=torch.float64), 1.0, 4)
            s = c.step(torch.zeros_like(g), g, 0.05)
            assert float(c.out_of_band_energy(s).max()) < 1e-24
            assert float((s * g).sum()) > 0  # ascent

    def test_user_mask_and_fourier_symmetrisation(self) -> None:
        mask = torch.zeros(8, 8)
        mask[4, 5] = 1.0  # frequency (0, +1) without its partner (0, -1)
        mask[4, 4] = 1.0  # DC
        c = BandConstraint(L2Ball(1.0), mask, space="fourier")
        kept = c.mask(8, 8, dtype=torch.float64, device=torch.device("cpu"))
        assert kept[4, 5].item() == 0.0 and kept[4, 4].item() == 1.0
        d = _noise(torch.zeros(1, 1, 8, 8, dtype=torch.float64), 1.0, 0)
        p = c.band_project(d)
        torch.testing.assert_close(p, torch.full_like(p, p.mean().item()), rtol=0, atol=1e-12)  # only DC left
        mask[3, 4], mask[5, 4] = 1.0, 1.0  # a symmetric pair survives
        c2 = BandConstraint(L2Ball(1.0), mask, space="fourier")
        assert c2.mask(8, 8, dtype=torch.float64, device=torch.device("cpu")).sum().item() == 3

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="band: expected one of"):
            make_constraint("linf", 0.1, band="ultra")
        with pytest.raises(ValueError, match="space: expected one of"):
            make_constraint("linf", 0.1, band="low", space="wavelet")
        with pytest.raises(ValueError, match="0s and 1s"):
            BandConstraint(LinfBall(0.1), torch.full((4, 4), 0.5))
        with pytest.raises(ValueError, match="2-D 0/1 mask"):
            BandConstraint(LinfBall(0.1), torch.ones(3, 4, 4))
        with pytest.raises(TypeError, match="LinfBall or L2Ball"):
            BandConstraint(BandConstraint(LinfBall(0.1)), "low")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="low <= high"):
            BandConstraint(LinfBall(0.1), "mid", low=0.6, high=0.5)
        c = BandConstraint(LinfBall(0.1), torch.ones(4, 4))
        with pytest.raises(ValueError, match="spatial size"):
            c.check_input(torch.zeros(1, 3, 8, 8))
