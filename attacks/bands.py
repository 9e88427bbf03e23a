"""Frequency bands inside a norm ball, for the one PGD loop, and :func:`make_constraint`.

A band-limited perturbation must lie in three sets at once: the band (a linear subspace: the
DCT or Fourier coefficients outside the band are zero), the norm ball, and the box that keeps
``x + delta`` in [0, 1]. Their intersection has no closed-form projection, so
:meth:`BandConstraint.project` computes it numerically:

1. ``w``, the band projection of ``delta`` (linear and orthogonal);
2. unless ``w`` is already within ``tol`` of the box: the projection of ``w`` onto band ∩ box
   (for L∞ the box includes the ball: ``[max(-eps, -x), min(eps, 1 - x)]``), by FISTA on its
   dual (:meth:`BandConstraint._fista`), each sample until its band-limited point is within
   ``tol / 2`` of the box, so rounds are spent only where needed;
3. for L2, a radial scaling into the ball (it keeps the point in the band and near the box);
4. clipping into the box, which makes the result exactly feasible in ball and box. Clipping
   moves the band-limited point by its distance to the box, so the part of the result outside
   the band is at most ``tol`` (default 1e-4) times its L2 norm: relative out-of-band energy
   at most 1e-8 (measured on real images: below 3e-9).

Why not band projection followed by scaling (the earlier rule): images have saturated pixels
(``x_i`` = 0 or 1; about half of the CIFAR-10 test images), where the box only lets a
perturbation move inwards. The slightest outward value of a band-projected perturbation there
made the largest feasible scale 0, and PGD returned an exactly zero perturbation although
non-zero in-band ones existed (13 of 64 images over the six DCT/Fourier low/mid/high bands on
the public ResNet-20 at L∞ 8/255; 6 of the 6 "robust" images in the high DCT band). The
projection onto the intersection is 0 only when no feasible perturbation makes an acute angle
with ``delta``. Plain alternating projections (POCS, Dykstra) converge to it too, but need
thousands of rounds where many pixels sit on the box; the accelerated dual needs tens to
hundreds (``benchmarks/bench_band_projection.py`` measures all of this).

A sample that the solver cannot bring within ``tol`` in ``max_rounds`` falls back to the
earlier rule (exactly in the band, possibly shrunk); none did in those measurements. Some
image/band pairs admit no useful perturbation at all (an all-black image and a band without
DC only allow ``delta = 0``), and there the attack honestly returns (nearly) nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from attacks.constraints import _TINY, Constraint, L2Ball, LinfBall, _per_sample
from bandlimit._checks import check_choice, check_nonnegative, check_positive, check_positive_int
from bandlimit.attack import NORMS, distance
from bandlimit.spectral import band_mask, dct2, fourier_partner_index, idct2

__all__ = ["BANDS", "BAND_SPACES", "BandConstraint", "make_constraint"]

BANDS = frozenset({"low", "mid", "high", "all"})
BAND_SPACES = frozenset({"dct", "fourier"})

# On an accelerator the solver checks for finished samples only every few rounds: each check
# is a host sync that stalls the queue (on the CPU it is free).
_CHECK_EVERY = 8


class BandConstraint(Constraint):
    """A norm ball whose perturbations are confined to a DCT or Fourier frequency band.

    The band is a 0/1 mask over the coefficients of the orthonormal 2-D DCT
    (:func:`bandlimit.spectral.dct2`, index (0, 0) = DC) or the centred orthonormal FFT
    (:func:`bandlimit.spectral.fft2c`), applied per channel. Projecting onto the band is
    ``idct2(dct2(delta) * mask)`` (or ``ifft2c(fft2c(delta) * mask).real``), an orthogonal
    projection. Named bands come from :func:`bandlimit.spectral.band_mask` with thresholds
    ``low`` and ``high`` (fractions of the Nyquist frequency). A Fourier mask is made
    conjugate-symmetric by keeping a frequency only when its partner ``-k`` is kept too, so
    band-limited images stay real and the projection stays orthogonal.

    Args:
        ball: The norm ball, a :class:`LinfBall` or :class:`L2Ball`.
        band: ``"low"``, ``"mid"``, ``"high"``, ``"all"``, or a 0/1 mask tensor ``(H, W)``.
        space: ``"dct"`` or ``"fourier"``: which transform's coefficients ``band`` selects.
        low: Upper edge of the low band (fraction of Nyquist), for named bands.
        high: Lower edge of the high band (fraction of Nyquist), for named bands.
        max_rounds: Most solver rounds per projection (each one band projection); a sample
            that needs more falls back to an exactly band-limited, possibly shrunk, point.
        tol: Relative accuracy of the projection: the out-of-band part of a projected
            perturbation is at most ``tol`` times its L2 norm.

    Raises:
        TypeError: ``ball`` is not a norm ball, or ``band`` is neither a string nor a tensor.
        ValueError: unknown band or space, a mask that is not 2-D and 0/1, or bad thresholds.
    """

    def __init__(
        self,
        ball: LinfBall | L2Ball,
        band: str | Tensor = "low",
        *,
        space: str = "dct",
        low: float = 0.25,
        high: float = 0.5,
        max_rounds: int = 1000,
        tol: float = 1e-4,
    ) -> None:
        if not isinstance(ball, (LinfBall, L2Ball)):
            raise TypeError(f"ball: expected a LinfBall or L2Ball, got {type(ball).__name__}")
        self.ball_constraint = ball
        self.norm = ball.norm
        self.eps = ball.eps
        self.space = check_choice(space, "space", BAND_SPACES)
        self.low = check_nonnegative(low, "low")
        self.high = check_nonnegative(high, "high")
        if self.low > self.high:
            raise ValueError(f"low, high: expected 0 <= low <= high, got low={self.low:g}, high={self.high:g}")
        self.max_rounds = check_positive_int(max_rounds, "max_rounds", minimum=0)
        self.tol = check_positive(tol, "tol")
        if isinstance(band, str):
            self.band: str | Tensor = check_choice(band, "band", BANDS)
        elif isinstance(band, Tensor):
            self.band = _check_mask(band)
        else:
            raise TypeError(f"band: expected one of {sorted(BANDS)} or a 0/1 mask tensor (H, W), got {band!r}")
        self._cache: dict[tuple[Any, ...], Tensor] = {}

    def __repr__(self) -> str:
        band = self.band if isinstance(self.band, str) else f"mask{tuple(self.band.shape)}"
        ball = self.ball_constraint
        return f"BandConstraint({ball!r}, {band!r}, space={self.space!r}, low={self.low}, high={self.high})"

    # ----------------------------------------------------------------------------- masks
    def check_input(self, x: Tensor) -> None:
        """Raise if a user-given mask does not match the images' spatial size."""
        if isinstance(self.band, Tensor) and tuple(self.band.shape) != tuple(x.shape[-2:]):
            raise ValueError(
                f"band: expected a mask of the images' spatial size {tuple(x.shape[-2:])}, got {tuple(self.band.shape)}"
            )

    def mask(self, h: int, w: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The 0/1 band mask ``(h, w)`` over DCT indices or the centred Fourier spectrum."""
        key = ("full", h, w, dtype, device)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if isinstance(self.band, Tensor):
            mask = self.band.to(dtype=dtype, device=device)
            if self.space == "fourier":
                # Keep a frequency only with its conjugate partner -k (the one partner rule).
                rows, cols = fourier_partner_index(h, device=device), fourier_partner_index(w, device=device)
                mask = mask * mask[rows][:, cols]
        else:
            mask = band_mask(
                h, w, self.band, space=self.space, low=self.low, high=self.high, dtype=dtype, device=device
            )
        self._cache[key] = mask
        return mask

    def band_project(self, delta: Tensor) -> Tensor:
        """Orthogonal projection of ``delta`` onto the band subspace (per channel)."""
        mask = self.mask(delta.shape[-2], delta.shape[-1], dtype=delta.dtype, device=delta.device)
        if self.space == "dct":
            return idct2(dct2(delta) * mask)
        # The mask is conjugate-symmetric, so the real FFT's half spectrum suffices: equal to
        # ifft2c(fft2c(delta) * mask).real, about 4x faster (this runs in every solver round).
        h, w = delta.shape[-2:]
        half = self.half_mask(h, w, dtype=delta.dtype, device=delta.device)
        return torch.fft.irfft2(torch.fft.rfft2(delta, norm="ortho") * half, s=(h, w), norm="ortho")

    def half_mask(self, h: int, w: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
        """The Fourier mask un-centred and cut to the real FFT's ``w // 2 + 1`` columns."""
        key = ("half", h, w, dtype, device)
        cached = self._cache.get(key)
        if cached is None:
            full = self.mask(h, w, dtype=dtype, device=device)
            cached = torch.fft.ifftshift(full, dim=(-2, -1))[:, : w // 2 + 1].contiguous()
            self._cache[key] = cached
        return cached

    def out_of_band_energy(self, delta: Tensor) -> Tensor:
        """Per-sample squared L2 norm of the part of ``delta`` outside the band, ``(N,)``."""
        return (delta - self.band_project(delta)).flatten(1).pow(2).sum(dim=1)

    # ------------------------------------------------------------------------ operations
    def step(self, delta: Tensor, grad: Tensor, step_size: float) -> Tensor:
        """Ascent step along the band-limited gradient, kept in the band.

        L2: the normalised band-projected gradient. L∞: the band projection of the sign of
        the band-projected gradient (the sign alone would leave the band); its inner product
        with the gradient is ``||P grad||_1 >= 0``, so it is an ascent direction.
        """
        g = self.band_project(grad)
        if self.norm == "linf":
            return delta + step_size * self.band_project(g.sign())
        norms = distance(g, "l2").clamp_min(_TINY)
        return delta + g * _per_sample(step_size / norms)

    def box(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Per-pixel bounds ``(lo, hi)`` on ``delta``: [0, 1] for ``x + delta``, and the L∞ ball.

        ``0`` always lies in ``[lo, hi]``; at a saturated pixel it is an endpoint.
        """
        if self.norm == "linf":
            return (-x).clamp_min(-self.eps), (1.0 - x).clamp_max(self.eps)
        return -x, 1.0 - x

    def project(self, delta: Tensor, x: Tensor) -> Tensor:
        """The nearest point of band ∩ ball ∩ box to ``delta``, to ``tol``; exactly in ball and box.

        The result is in the box and the ball exactly, and its out-of-band part is at most
        ``tol`` times its L2 norm (see the module docstring). A ``delta`` that already is
        (every result of this method) is returned unchanged: ``project`` is idempotent.
        """
        lo, hi = self.box(x)
        w = self.band_project(delta)
        size = delta.flatten(1).norm(dim=1)
        feasible = ((delta >= lo) & (delta <= hi)).flatten(1).all(dim=1)
        feasible &= (delta - w).flatten(1).norm(dim=1) <= self.tol * size
        if self.norm == "l2":
            feasible &= size <= self.eps
        point = w.clone()
        # A band-limited target within tol of the box is its own solution: no rounds.
        clipped = torch.clamp(w, lo, hi)
        todo = ((w - clipped).flatten(1).norm(dim=1) > self.tol * clipped.flatten(1).norm(dim=1)) & ~feasible
        todo = todo.nonzero().squeeze(1)
        if todo.numel() > 0:
            point[todo] = self._fista(w[todo], lo[todo], hi[todo])
        if self.norm == "l2":
            # Scaling towards 0 (a point of the box) keeps the point in the band and near the box.
            point = point * _per_sample((self.eps / distance(point, "l2").clamp_min(_TINY)).clamp(max=1.0))
        # Clipping moves the band-limited point by its distance to the box: its out-of-band part.
        out = torch.clamp(point, lo, hi)
        far = (out - point).flatten(1).norm(dim=1) > self.tol * out.flatten(1).norm(dim=1)
        if bool(far.any()):
            # Out of rounds: exactly in the band instead, possibly shrunk towards 0.
            out = torch.where(_per_sample(far), torch.clamp(self.scale_feasible(point, x), lo, hi), out)
        return torch.where(_per_sample(feasible), delta, out)

    def _fista(self, w: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
        """Project the band-limited targets ``w`` onto band ∩ box, to within ``tol`` of the box.

        The projection ``u`` of ``w`` onto band ∩ box is ``clip(w + r)`` for the ``r``
        orthogonal to the band that minimises the convex ``h(w + r)``, ``h(a) = 1/2 ||a||² -
        1/2 dist(a, box)²`` (the dual problem; at its minimum ``clip(w + r)`` lies in the
        band). Its gradient, the out-of-band part of ``clip(w + r)``, is 1-Lipschitz; FISTA
        (Beck & Teboulle 2009) with gradient restarts (O'Donoghue & Candès 2015) minimises
        it. Plain alternating projections (POCS, Dykstra) are the unaccelerated version and
        are far slower when many pixels sit on the box (saturated pixels, the L∞ ball's
        faces). Each sample stops at the first round where the out-of-band part of its
        clipped point is at most ``tol / 2`` of its norm (or the point is negligible next to
        ``w``), so rounds are spent only where needed.
        """
        point = torch.empty_like(w)
        ids = torch.arange(w.shape[0], device=w.device)
        dual = dual_prev = torch.zeros_like(w)
        theta = torch.ones(w.shape[0], dtype=w.dtype, device=w.device)
        w_size = w.flatten(1).norm(dim=1)
        every = 1 if w.device.type == "cpu" else _CHECK_EVERY
        for k in range(self.max_rounds + 1):
            theta_next = 0.5 * (1.0 + torch.sqrt(1.0 + 4.0 * theta * theta))
            y = torch.addcmul(dual, _per_sample((theta - 1.0) / theta_next), dual - dual_prev)
            c = torch.clamp(w + y, lo, hi)
            u = self.band_project(c)
            grad = c - u
            dual_next = y - grad
            if k % every == 0 or k == self.max_rounds:
                # Clipping u moves it by its distance to the box, at most ||grad|| and often far less.
                clipped = torch.clamp(u, lo, hi)
                size = clipped.flatten(1).norm(dim=1)
                done = ((u - clipped).flatten(1).norm(dim=1) <= 0.5 * self.tol * size) | (size <= self.tol * w_size)
                if k == self.max_rounds:
                    done = torch.ones_like(done)
                if bool(done.any()):
                    point[ids[done]] = u[done]
                    keep = ~done
                    if not bool(keep.any()):
                        break
                    ids, w, lo, hi, w_size = ids[keep], w[keep], lo[keep], hi[keep], w_size[keep]
                    grad, dual, dual_next, theta_next = grad[keep], dual[keep], dual_next[keep], theta_next[keep]
            # Restart the momentum of samples whose extrapolation went uphill.
            restart = (grad * (dual_next - dual)).flatten(1).sum(dim=1) > 0
            theta = torch.where(restart, torch.ones_like(theta_next), theta_next)
            dual_prev, dual = dual, dual_next
        return point

    def scale_feasible(self, delta: Tensor, x: Tensor) -> Tensor:
        """Scale each sample by the largest ``t <= 1`` keeping it in the ball and ``x + t·delta`` in [0, 1]."""
        t = (self.eps / self.distance(delta).clamp_min(_TINY)).clamp(max=1.0)
        up = torch.where(delta > 0, (1.0 - x).clamp_min(0.0) / delta, torch.full_like(delta, math.inf))
        down = torch.where(delta < 0, x.clamp_min(0.0) / -delta, torch.full_like(delta, math.inf))
        t_box = torch.minimum(up, down).flatten(1).amin(dim=1)
        return delta * _per_sample(torch.minimum(t, t_box))

    def random_init(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """The ball's random start, projected onto band ∩ ball ∩ box."""
        return self.project(self.ball_constraint.random_init(x, generator), x)


def _check_mask(mask: Tensor) -> Tensor:
    if mask.dim() != 2:
        raise ValueError(f"band: expected a 2-D 0/1 mask (H, W), got shape {tuple(mask.shape)}")
    values = mask.detach().to(torch.float64)
    if not bool(((values == 0) | (values == 1)).all()):
        raise ValueError("band: expected a mask of 0s and 1s (a band is a set of coefficients), got other values")
    if not bool(values.any()):
        raise ValueError("band: expected a mask that keeps at least one coefficient, got all zeros")
    return values.cpu()


def make_constraint(
    norm: str,
    eps: float,
    *,
    band: str | Tensor | None = None,
    space: str = "dct",
    low: float = 0.25,
    high: float = 0.5,
) -> Constraint:
    """Build the constraint of a threat model: an L∞/L2 ball, optionally band-limited.

    Args:
        norm: ``"linf"`` or ``"l2"``.
        eps: Ball radius (>= 0).
        band: None for the plain ball, else a band name or a 0/1 mask (see :class:`BandConstraint`).
        space: ``"dct"`` or ``"fourier"`` (band only).
        low: Low-band edge as a fraction of Nyquist (band only).
        high: High-band edge as a fraction of Nyquist (band only).

    Raises:
        ValueError: unknown norm, band or space, or a bad eps.
    """
    check_choice(norm, "norm", NORMS)
    ball: LinfBall | L2Ball = LinfBall(eps) if norm == "linf" else L2Ball(eps)
    if band is None:
        return ball
    return BandConstraint(ball, band, space=space, low=low, high=high)
