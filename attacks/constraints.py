"""Threat-model geometry for the one PGD loop: norm balls (bands inside them: :mod:`attacks.bands`).

A constraint is a small object with three main operations, all on per-sample perturbations
``delta`` of shape ``(N, C, H, W)`` around clean images ``x`` in [0, 1]:

* ``step(delta, grad, step_size)``: one steepest-ascent step in the constraint's norm (the sign
  of the gradient for L∞, the normalised gradient for L2, both restricted to the band for a
  :class:`attacks.bands.BandConstraint`);
* ``project(delta, x)``: map back to a perturbation that is *exactly* feasible: inside the
  norm ball, ``x + delta`` inside [0, 1] and, for a band, (almost) no energy outside the band;
* ``random_init(x, generator)``: a random feasible starting point.

Plain balls (:class:`LinfBall`, :class:`L2Ball`) project onto the ball (clipping for L∞,
radial scaling for L2) and then onto the box by clipping ``x + delta``. Clipping can only
shrink each ``|delta_i|`` (the box interval ``[-x_i, 1 - x_i]`` contains 0), so the result
stays in the ball: one pass is feasible, and for L∞ it is the exact Euclidean projection.
Every constraint here and in :mod:`attacks.bands` keeps the default ``iterate = project``
and ``finish = project``: the optimiser's state is the feasible point itself. The hooks
(``iterate``, ``finish``, ``random_state``, ``exact_iterates``) let a constraint whose exact
projection is too costly per step keep a nearly-feasible state instead and make it feasible
with ``project``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import Tensor

from bandlimit._checks import check_nonnegative
from bandlimit.attack import distance

__all__ = ["Constraint", "L2Ball", "LinfBall"]

# Guards divisions by per-sample norms of all-zero perturbations or gradients.
_TINY = 1e-12


def _rand(shape: tuple[int, ...], like: Tensor, generator: torch.Generator | None, *, normal: bool) -> Tensor:
    """Uniform [0, 1) or standard normal numbers on ``like``'s device and dtype.

    Draws on the generator's own device and moves the result, so a CPU generator gives the
    same numbers whatever device the images are on.
    """
    draw = torch.randn if normal else torch.rand
    if generator is None:
        return draw(shape, dtype=like.dtype, device=like.device)
    out = draw(shape, dtype=like.dtype, device=generator.device, generator=generator)
    return out.to(like.device)


def _box(delta: Tensor, x: Tensor) -> Tensor:
    """Clip ``delta`` to ``[-x, 1 - x]`` so that ``x + delta`` lies in [0, 1].

    Clipping ``delta`` itself (rather than ``x + delta``, then subtracting ``x``) leaves
    feasible entries bit-for-bit unchanged, so the projection is exactly idempotent.
    """
    return torch.clamp(delta, -x, 1.0 - x)


def _per_sample(values: Tensor) -> Tensor:
    """Reshape a per-sample vector ``(N,)`` to broadcast over ``(N, C, H, W)``."""
    return values.view(-1, 1, 1, 1)


class Constraint(ABC):
    """A feasible set of perturbations: a norm ball of radius ``eps`` intersected with the box.

    Attributes:
        norm: ``"linf"`` or ``"l2"``, the norm of the ball.
        eps: The ball's radius in [0, 1] pixel units.
    """

    norm: str
    eps: float

    def distance(self, delta: Tensor) -> Tensor:
        """Per-sample size of ``delta`` in this constraint's norm, shape ``(N,)``."""
        return distance(delta, self.norm)

    #: True when :meth:`iterate` already returns feasible points (then ``project`` is a no-op on them).
    exact_iterates: bool = True

    def check_input(self, x: Tensor) -> None:  # noqa: B027 - optional hook, nothing to check by default
        """Raise if images ``x`` do not fit this constraint (e.g. a band mask of another size)."""

    def iterate(self, delta: Tensor, x: Tensor) -> Tensor:
        """The optimiser's state after a step; :meth:`project` of it is the feasible point.

        The default keeps the feasible point itself as the state.
        """
        return self.project(delta, x)

    def random_state(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A random starting state for :meth:`iterate` (default: :meth:`random_init`)."""
        return self.random_init(x, generator)

    def finish(self, delta: Tensor, x: Tensor) -> Tensor:
        """The feasible perturbation returned for a final state (default: :meth:`project`)."""
        return self.project(delta, x)

    @abstractmethod
    def step(self, delta: Tensor, grad: Tensor, step_size: float) -> Tensor:
        """``delta`` plus ``step_size`` times the steepest-ascent direction of ``grad``."""

    @abstractmethod
    def project(self, delta: Tensor, x: Tensor) -> Tensor:
        """An exactly feasible perturbation near ``delta`` (see the module docstring)."""

    @abstractmethod
    def random_init(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """A random feasible perturbation for images ``x``."""


class _Ball(Constraint):
    """A norm ball of radius ``eps`` and the box: the ball's own projection, then the box.

    Args:
        eps: Radius (>= 0) in [0, 1] pixel units.
    """

    def __init__(self, eps: float) -> None:
        self.eps = check_nonnegative(eps, "eps")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(eps={self.eps!r})"

    @abstractmethod
    def ball(self, delta: Tensor) -> Tensor:
        """Projection onto the ball alone (no box)."""

    def project(self, delta: Tensor, x: Tensor) -> Tensor:
        """:meth:`ball`, then clip ``x + delta`` to [0, 1] (clipping only shrinks the norm).

        For L∞ this is the exact Euclidean projection onto ball ∩ box.
        """
        return _box(self.ball(delta), x)


class LinfBall(_Ball):
    """L∞ ball ``max_i |delta_i| <= eps`` intersected with the [0, 1] box.

    Args:
        eps: Radius (>= 0) in [0, 1] pixel units.
    """

    norm = "linf"

    def ball(self, delta: Tensor) -> Tensor:
        """Projection onto the ball alone (no box)."""
        return delta.clamp(-self.eps, self.eps)

    def step(self, delta: Tensor, grad: Tensor, step_size: float) -> Tensor:
        """Sign step: the steepest ascent direction under the L∞ norm."""
        return delta + step_size * grad.sign()

    def random_init(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Uniform in the cube ``[-eps, eps]^d``, then clipped into the box."""
        u = _rand(tuple(x.shape), x, generator, normal=False)
        return self.project((2.0 * u - 1.0) * self.eps, x)


class L2Ball(_Ball):
    """L2 ball ``||delta||_2 <= eps`` (over all channels and pixels of a sample) and the box.

    Args:
        eps: Radius (>= 0) in [0, 1] pixel units.
    """

    norm = "l2"

    def ball(self, delta: Tensor) -> Tensor:
        """Radial scaling of samples whose L2 norm exceeds ``eps`` (projection onto the ball)."""
        norms = distance(delta, "l2")
        factor = (self.eps / norms.clamp_min(_TINY)).clamp(max=1.0)
        return delta * _per_sample(factor)

    def step(self, delta: Tensor, grad: Tensor, step_size: float) -> Tensor:
        """Normalised-gradient step (a zero gradient gives a zero step)."""
        norms = distance(grad, "l2").clamp_min(_TINY)
        return delta + grad * _per_sample(step_size / norms)

    def random_init(self, x: Tensor, generator: torch.Generator | None) -> Tensor:
        """Uniform in the ball (Gaussian direction, radius ``eps * u^(1/d)``), then boxed."""
        n, d = x.shape[0], x[0].numel()
        direction = _rand(tuple(x.shape), x, generator, normal=True)
        direction = direction / _per_sample(distance(direction, "l2").clamp_min(_TINY))
        radius = self.eps * _rand((n,), x, generator, normal=False) ** (1.0 / d)
        return self.project(direction * _per_sample(radius), x)
