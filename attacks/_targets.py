"""Target classes for targeted attacks, chosen per sample from the clean model.

Two orders: by clean logit (the most likely other class first, as in APGD-T) or by the
linearised distance to each class's decision boundary (MALT, Melamed et al., NeurIPS 2023:
``(z_y - z_c) / ||∇(z_y - z_c)||_*``, smallest first), which spends a backward pass per
candidate class to pick the targets a fixed budget of targeted runs should try.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from attacks.constraints import Constraint

__all__ = ["MARGIN_CANDIDATES", "TARGET_ORDERS", "boundary_distance", "rank_targets"]

TARGET_ORDERS = ("logit", "margin")

#: The "margin" order ranks only this many classes with the highest clean logits: each
#: candidate costs one backward pass, and a class far down the logits is rarely the closest.
MARGIN_CANDIDATES = 20


def rank_targets(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    clean_logits: Tensor,
    count: int,
    *,
    order: str,
    constraint: Constraint,
    passes: int = 1,
) -> Tensor:
    """Target classes per sample ``(N, count)``, the most promising first; never the label.

    Args:
        forward: The model, images to logits.
        x: Clean images ``(N, C, H, W)``.
        y: True labels ``(N,)``.
        clean_logits: The model's logits on ``x``.
        count: Targets per sample (fewer than the number of classes).
        order: ``"logit"`` or ``"margin"``.
        constraint: The threat model; it sets the norm of the margin order's distance.
        passes: Forward/backward passes averaged by the margin order (EOT).
    """
    logits = clean_logits.float()
    others = logits.scatter(1, y.unsqueeze(1), -math.inf)
    ranked = others.argsort(dim=1, descending=True)[:, : logits.shape[1] - 1]
    if order == "logit":
        return ranked[:, :count]
    candidates = ranked[:, : max(count, MARGIN_CANDIDATES)]
    distance = boundary_distance(forward, x, y, candidates, constraint, passes=passes)
    return candidates.gather(1, distance.argsort(dim=1)[:, :count])


def boundary_distance(
    forward: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    candidates: Tensor,
    constraint: Constraint,
    *,
    passes: int = 1,
) -> Tensor:
    """Linearised distance ``(z_y - z_c) / gain`` to each candidate class's boundary ``(N, K)``.

    ``gain`` is the first-order rise of ``z_c - z_y`` along one unit step of ``constraint``:
    the dual norm of the gradient (L1 for L∞, L2 for L2, restricted to the band for a band).
    Margins and gains are averaged over ``passes`` calls (a randomised model).
    """
    margin_sum = gain_sum = torch.zeros((), device=x.device)
    last = candidates.shape[1] - 1
    for _ in range(passes):
        with torch.enable_grad():
            d = torch.zeros_like(x, requires_grad=True)
            logits = forward(x + d).float()
            margins = logits.gather(1, y.unsqueeze(1)) - logits.gather(1, candidates)
            gains = []
            for j in range(candidates.shape[1]):
                (g,) = torch.autograd.grad(-margins[:, j].sum(), d, retain_graph=j < last)
                gains.append((g * constraint.step(torch.zeros_like(g), g, 1.0)).flatten(1).sum(dim=1))
        margin_sum = margin_sum + margins.detach()
        gain_sum = gain_sum + torch.stack(gains, dim=1)
    return margin_sum / gain_sum.clamp_min(1e-12)
