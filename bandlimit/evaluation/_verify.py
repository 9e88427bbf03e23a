"""Verification of what an attack returns: the harness checks, the attack does not self-report.

Tolerances (documented for users in :func:`verify_adversarial`):

- budget: a perturbation of size ``d`` in the attack's own norm passes if
  ``d <= eps + BUDGET_ATOL + BUDGET_RTOL * eps``, i.e. about 1e-5 absolute plus 1e-5
  relative; anything larger is a bug in the attack, never float rounding;
- range: values may leave [0, 1] by at most ``RANGE_TOLERANCE`` (1e-6).

Inside the tolerances the harness projects ``x_adv`` onto [0, 1] and onto the eps-ball (so
the reported distances never exceed eps) and then recomputes predictions itself.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from bandlimit._checks import RANGE_TOLERANCE
from bandlimit.attack import distance

__all__ = [
    "BUDGET_ATOL",
    "BUDGET_RTOL",
    "BudgetViolation",
    "verify_adversarial",
]

#: Absolute slack on the perturbation budget (pixel units in [0, 1]).
BUDGET_ATOL = 1e-5
#: Relative slack on the perturbation budget.
BUDGET_RTOL = 1e-5


class BudgetViolation(ValueError):
    """An attack returned an adversarial example outside its threat model (or NaN)."""


def _project(x: Tensor, x_adv: Tensor, norm: str, eps: float) -> Tensor:
    """Clamp to [0, 1], then project onto the eps-ball around ``x`` (stays in [0, 1])."""
    x_adv = x_adv.clamp(0.0, 1.0)
    if math.isinf(eps):
        return x_adv
    delta = x_adv - x
    if norm == "linf":
        delta = delta.clamp(-eps, eps)
    else:
        size = distance(delta, "l2", dtype=torch.float64).to(delta.dtype)
        scale = torch.where(size > eps, eps / size.clamp_min(1e-30), torch.ones_like(size))
        delta = delta * scale.view(-1, *([1] * (delta.dim() - 1)))
    # x + delta lies between x and the clamped x_adv, so [0, 1] holds up to rounding.
    return (x + delta).clamp(0.0, 1.0)


def verify_adversarial(
    x: Tensor,
    x_adv: Any,
    *,
    norm: str,
    eps: float,
    attack: str,
    indices: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Check an attack's output against its threat model; return it projected, with distances.

    Args:
        x: The clean images ``(N, C, H, W)`` given to the attack.
        x_adv: What the attack returned.
        norm: ``"linf"`` or ``"l2"``, the attack's threat norm.
        eps: The attack's budget (``math.inf`` = unbounded).
        attack: Attack label used in error messages.
        indices: Dataset indices of the ``N`` samples, for error messages.

    Returns:
        ``(x_adv, dist)``: ``x_adv`` clamped to [0, 1] and projected onto the eps-ball (this
        only removes float overshoot within the tolerances above), and each sample's
        perturbation size in ``norm`` (float64, measured after projection).

    Raises:
        BudgetViolation: wrong type/shape, NaN or inf, values outside [0, 1] by more than 1e-6,
            or a perturbation larger than ``eps + 1e-5 + 1e-5 * eps``.
    """
    if not isinstance(x_adv, Tensor) or not x_adv.is_floating_point():
        raise BudgetViolation(
            f"attack {attack}: expected x_adv to be a floating-point tensor, got "
            f"{type(x_adv).__name__ if not isinstance(x_adv, Tensor) else x_adv.dtype}"
        )
    if x_adv.shape != x.shape:
        raise BudgetViolation(
            f"attack {attack}: expected x_adv of shape {tuple(x.shape)} like x, got {tuple(x_adv.shape)}"
        )
    x_adv = x_adv.to(device=x.device, dtype=x.dtype)

    def sample(bad: Tensor) -> str:
        pos = int(bad.nonzero()[0, 0])
        index = int(indices[pos]) if indices is not None else pos
        return f"sample {index} ({int(bad.sum())} of {bad.numel()} samples affected)"

    finite = torch.isfinite(x_adv.flatten(1)).all(dim=1)
    if not bool(finite.all()):
        raise BudgetViolation(f"attack {attack}: x_adv contains NaN or inf at {sample(~finite)}")
    flat = x_adv.flatten(1)
    outside = (flat.amin(dim=1) < -RANGE_TOLERANCE) | (flat.amax(dim=1) > 1 + RANGE_TOLERANCE)
    if bool(outside.any()):
        pos = int(outside.nonzero()[0, 0])
        lo, hi = float(flat[pos].min()), float(flat[pos].max())
        raise BudgetViolation(
            f"attack {attack}: x_adv leaves [0, 1] (values in [{lo:.6g}, {hi:.6g}]) at {sample(outside)}"
        )
    if not math.isinf(eps):
        dist = distance(x_adv - x, norm, dtype=torch.float64)
        limit = eps + BUDGET_ATOL + BUDGET_RTOL * eps
        over = dist > limit
        if bool(over.any()):
            worst = float(dist.max())
            raise BudgetViolation(
                f"attack {attack}: perturbation of {norm} size {worst:.8g} exceeds eps={eps:.8g} "
                f"(tolerance {limit - eps:.2g}) at {sample(over)}; the attack does not respect "
                "its threat model"
            )
    projected = _project(x, x_adv, norm, eps)
    return projected, distance(projected - x, norm, dtype=torch.float64)
