"""Frequency bands inside a norm ball, for the one PGD loop, and :func:`make_constraint`.

A band ∩ ball ∩ box has no closed-form projection. :class:`BandConstraint` separates the
optimiser's *state* from the *point* the model sees:

* ``iterate(delta, x)`` runs rounds of alternating projections (band, ball, box shrunk by a
  small margin; POCS) on the state, which converges towards the intersection over the steps;
* ``project(state, x)`` makes it exactly feasible: the band projection (linear and
  orthogonal, so no energy is left outside the band), then a per-sample scaling by
  ``t = min(1, eps / ||delta||, largest t keeping x + t·delta in [0, 1])``, which keeps the
  perturbation in the band subspace. The result meets all three constraints to float
  rounding, and ``project`` is idempotent;
* ``finish(state, x)`` runs many more rounds before ``project``: the returned perturbation.

Why the split and the margin: images have saturated pixels (``x_i`` = 0 or 1; about half of
the CIFAR-10 test images). A band projection almost always pushes some of them slightly out
of range, and then the largest feasible ``t`` is 0. Scaling the state itself would erase the
attack's progress; keeping the state and aiming the box rounds at ``[m, 1 - m]`` lets the
band-projected point clear the real box. On 128 CIFAR-10 images (ResNet-20, L∞ 8/255, DCT
low band) this takes the share of zeroed perturbations from about 50% to none of the 128. Some
image/band pairs admit no useful perturbation at all (an all-black image and a band without
DC only allow ``delta = 0``), and there the attack honestly returns (nearly) nothing.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from attacks.constraints import _TINY, Constraint, L2Ball, LinfBall, _box, _per_sample
from bandlimit._checks import check_choice, check_nonnegative, check_positive_int
from bandlimit.attack import NORMS, distance
from bandlimit.spectral import (
    dct2,
    dct_band_mask,
    fft2c,
    fourier_band_mask,
    fourier_partner_index,
    idct2,
    ifft2c,
)

__all__ = ["BANDS", "BAND_SPACES", "BandConstraint", "make_constraint"]

BANDS = frozenset({"low", "mid", "high", "all"})
BAND_SPACES = frozenset({"dct", "fourier"})

# Largest box margin (in pixel units) used during the alternating projections.
_MAX_MARGIN = 0.01


class BandConstraint(Constraint):
    """A norm ball whose perturbations are confined to a DCT or Fourier frequency band.

    The band is a 0/1 mask over the coefficients of the orthonormal 2-D DCT
    (:func:`bandlimit.spectral.dct2`, index (0, 0) = DC) or the centred orthonormal FFT
    (:func:`bandlimit.spectral.fft2c`), applied per channel. Projecting onto the band is
    ``idct2(dct2(delta) * mask)`` (or ``ifft2c(fft2c(delta) * mask).real``), an orthogonal
    projection. Named bands come from :func:`bandlimit.spectral.dct_band_mask` /
    :func:`bandlimit.spectral.fourier_band_mask` with thresholds ``low`` and ``high``
    (fractions of the Nyquist frequency). A Fourier mask is made conjugate-symmetric by
    keeping a frequency only when its partner ``-k`` is kept too, so band-limited images
    stay real and the projection stays orthogonal.

    Args:
        ball: The norm ball, a :class:`LinfBall` or :class:`L2Ball`.
        band: ``"low"``, ``"mid"``, ``"high"``, ``"all"``, or a 0/1 mask tensor ``(H, W)``.
        space: ``"dct"`` or ``"fourier"``: which transform's coefficients ``band`` selects.
        low: Upper edge of the low band (fraction of Nyquist), for named bands.
        high: Lower edge of the high band (fraction of Nyquist), for named bands.
        rounds: Rounds of alternating projections before the exact final projection.
        margin: Fraction of ``eps`` (L∞) or of ``eps / sqrt(d)`` (L2), at most 0.01, by which
            the box is shrunk during the alternating rounds (never for the final result).

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
        rounds: int = 10,
        finish_rounds: int = 50,
        margin: float = 0.25,
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
        self.rounds = check_positive_int(rounds, "rounds", minimum=0)
        self.finish_rounds = check_positive_int(finish_rounds, "finish_rounds", minimum=0)
        self.margin = check_nonnegative(margin, "margin")
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
        key = (h, w, dtype, device)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if isinstance(self.band, Tensor):
            mask = self.band.to(dtype=dtype, device=device)
            if self.space == "fourier":
                # Keep a frequency only with its conjugate partner -k (the one partner rule).
                rows, cols = fourier_partner_index(h, device=device), fourier_partner_index(w, device=device)
                mask = mask * mask[rows][:, cols]
        elif self.space == "dct":
            mask = dct_band_mask(h, w, self.band, low=self.low, high=self.high, dtype=dtype, device=device)
        else:
            mask = fourier_band_mask(h, w, self.band, low=self.low, high=self.high, dtype=dtype, device=device)
        self._cache[key] = mask
        return mask

    def band_project(self, delta: Tensor) -> Tensor:
        """Orthogonal projection of ``delta`` onto the band subspace (per channel)."""
        mask = self.mask(delta.shape[-2], delta.shape[-1], dtype=delta.dtype, device=delta.device)
        if self.space == "dct":
            return idct2(dct2(delta) * mask)
        return ifft2c(fft2c(delta) * mask).real

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

    exact_iterates = False

    def finish(self, delta: Tensor, x: Tensor) -> Tensor:
        """Many more alternating rounds, then the exact projection: the returned perturbation."""
        return self.project(self.iterate(delta, x, rounds=self.finish_rounds), x)

    def iterate(self, delta: Tensor, x: Tensor, *, rounds: int | None = None) -> Tensor:
        """Rounds of alternating projections (band, ball, box shrunk by the margin).

        The result is the optimiser's state, close to but not exactly in the feasible set.
        PGD evaluates the model at :meth:`project` of the state and keeps stepping the state
        itself, so the alternating projections accumulate over the steps instead of being
        undone by the final scaling (which can be 0 for an image with saturated pixels).
        """
        ball = self.ball_constraint
        # Margin in per-pixel units: eps for L∞, the rms pixel size of an eps-sphere for L2.
        pixel = self.eps if self.norm == "linf" else self.eps / math.sqrt(max(1, x[0].numel()))
        # Capped: a large eps would otherwise squeeze every image into a narrow intensity range.
        m = min(self.margin * pixel, _MAX_MARGIN)
        for _ in range(self.rounds if rounds is None else rounds):
            delta = ball.ball(self.band_project(delta))
            delta = torch.clamp(delta, m - x, (1.0 - m) - x) if m > 0 else _box(delta, x)
        return delta

    def project(self, delta: Tensor, x: Tensor) -> Tensor:
        """Exactly feasible: band projection, then per-sample scaling into the ball and the box.

        Idempotent (up to float rounding): a feasible ``delta`` is in the band and needs ``t = 1``.
        """
        return self.scale_feasible(self.band_project(delta), x)

    def scale_feasible(self, delta: Tensor, x: Tensor) -> Tensor:
        """Scale each sample by the largest ``t <= 1`` keeping it in the ball and ``x + t·delta`` in [0, 1]."""
        t = (self.eps / self.distance(delta).clamp_min(_TINY)).clamp(max=1.0)
        up = torch.where(delta > 0, (1.0 - x).clamp_min(0.0) / delta, torch.full_like(delta, math.inf))
        down = torch.where(delta < 0, x.clamp_min(0.0) / -delta, torch.full_like(delta, math.inf))
        t_box = torch.minimum(up, down).flatten(1).amin(dim=1)
        return delta * _per_sample(torch.minimum(t, t_box))

    def random_state(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """The ball's random start after the alternating projections (an optimiser state)."""
        return self.iterate(self.ball_constraint.random_init(x, generator), x)

    def random_init(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """The ball's random start, projected into the band and made exactly feasible."""
        return self.project(self.random_state(x, generator), x)


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
