"""APGD's step-size schedule (Croce & Hein, ICML 2020, §3.2): the checkpoints and the halving rule.

Pure functions, tested on their own: :func:`checkpoints` gives the iterations at which a
sample may halve its step size, :func:`halve_step` decides which samples do.
"""

from __future__ import annotations

import math
from fractions import Fraction

from torch import Tensor

from bandlimit._checks import check_positive_int

__all__ = ["checkpoints", "halve_step"]

# The checkpoint schedule of the paper (§3.2), exact: p_1 = 0.22, decay 0.03, floor 0.06.
_P1, _DECAY, _FLOOR = Fraction(22, 100), Fraction(3, 100), Fraction(6, 100)


def checkpoints(steps: int) -> tuple[int, ...]:
    """The iterations ``w_0 = 0 < w_1 < ...`` at which APGD may halve its step size.

    ``w_j = ceil(p_j · steps)`` with ``p_0 = 0``, ``p_1 = 0.22`` and
    ``p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06)`` (Croce & Hein 2020, §3.2), computed in
    exact arithmetic; repeated values (few steps) appear once. For 100 steps:
    ``(0, 22, 41, 57, 70, 80, 87, 93, 99)``.
    """
    steps = check_positive_int(steps, "steps")
    points, previous, p = [0], Fraction(0), _P1
    while p <= 1:
        w = math.ceil(p * steps)
        if w > points[-1]:
            points.append(w)
        previous, p = p, p + max(p - previous - _DECAY, _FLOOR)
    return tuple(points)


def halve_step(
    increases: Tensor, window: int, best_loss: Tensor, best_at_check: Tensor, reduced_at_check: Tensor, rho: float
) -> Tensor:
    """Which samples halve their step size at a checkpoint (Croce & Hein 2020, §3.2).

    A sample halves its step (and restarts from its best point) when either

    1. its loss increased in fewer than ``rho · window`` of the ``window`` steps since the last
       checkpoint (the steps oscillate or stall), or
    2. its step was not halved at the last checkpoint and its best loss has not improved since.

    Args:
        increases: Per sample, how many steps since the last checkpoint raised the loss ``(N,)``.
        window: Steps between the last checkpoint and this one, ``w_j - w_{j-1}``.
        best_loss: Best loss so far ``(N,)``.
        best_at_check: Best loss at the last checkpoint ``(N,)``.
        reduced_at_check: Whether the step was halved at the last checkpoint ``(N,)`` bool.
        rho: The fraction of increasing steps that counts as progress.

    Returns:
        Boolean ``(N,)``: halve the step size.
    """
    oscillating = increases < rho * window
    stalled = ~reduced_at_check & (best_loss <= best_at_check)
    return oscillating | stalled
