"""Per-sample attack objectives (higher = better for the attacker) and success tests."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "attack_loss", "dlr_loss", "is_success"]

# Keeps the DLR ratio finite when the top logits tie (the value used by Croce & Hein).
_DLR_TINY = 1e-12


def _ce(logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    # Untargeted: raise the cross-entropy of the true class; targeted: lower that of the target.
    ce = F.cross_entropy(logits, labels, reduction="none")
    return -ce if targeted else ce


def _cw(logits: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    # Carlini-Wagner margin on logits: best other class minus the label's logit (untargeted),
    # or the target's logit minus the best other class (targeted); > 0 means success.
    own = logits.gather(1, labels.unsqueeze(1)).squeeze(1)
    others = logits.scatter(1, labels.unsqueeze(1), float("-inf")).amax(dim=1)
    return own - others if targeted else others - own


#: Losses that need only the labels the objective refers to (PGD's choices). ``"dlr"`` also
#: needs the true labels when targeted, so it is reached through :func:`attack_loss` only.
LOSSES: dict[str, Callable[[Tensor, Tensor, bool], Tensor]] = {"ce": _ce, "cw": _cw}


def dlr_loss(logits: Tensor, y: Tensor, targets: Tensor | None = None) -> Tensor:
    """Difference-of-logits-ratio loss (Croce & Hein, ICML 2020, eq. 6 and 7), per sample.

    With ``π`` sorting each row of logits ``z`` in decreasing order:

    * untargeted: ``-(z_y - max_{i≠y} z_i) / (z_π1 - z_π3 + 1e-12)``;
    * targeted: ``-(z_y - z_t) / (z_π1 - (z_π3 + z_π4) / 2 + 1e-12)``.

    Both are invariant to shifting and positive scaling of the logits, so a model cannot
    flatten them by rescaling its output. Higher is better for the attacker; the untargeted
    loss is positive exactly when the prediction is not ``y``. Computed in at least float32
    (float64 logits stay float64, so the invariance holds to float64 precision).

    Args:
        logits: Model output ``(N, classes)``.
        y: True labels ``(N,)``.
        targets: Target labels ``(N,)`` for the targeted loss, or None.

    Raises:
        ValueError: fewer than 3 classes (untargeted) or 4 classes (targeted).
    """
    z = logits.to(torch.promote_types(logits.dtype, torch.float32))
    needed = 3 if targets is None else 4
    if z.shape[1] < needed:
        kind = "untargeted" if targets is None else "targeted"
        raise ValueError(
            f"loss 'dlr': the {kind} DLR loss needs at least {needed} classes, got {z.shape[1]}; use loss='ce'"
        )
    top = z.topk(needed, dim=1).values
    own = z.gather(1, y.unsqueeze(1)).squeeze(1)
    if targets is None:
        other = z.scatter(1, y.unsqueeze(1), float("-inf")).amax(dim=1)
        return -(own - other) / (top[:, 0] - top[:, 2] + _DLR_TINY)
    target = z.gather(1, targets.unsqueeze(1)).squeeze(1)
    return -(own - target) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + _DLR_TINY)


def attack_loss(name: str, logits: Tensor, labels: Tensor, *, targeted: bool, y: Tensor | None = None) -> Tensor:
    """Per-sample objective ``(N,)`` that the attack maximises.

    Args:
        name: ``"ce"`` (cross-entropy), ``"cw"`` (Carlini-Wagner logit margin) or ``"dlr"``
            (:func:`dlr_loss`).
        logits: Model output ``(N, classes)``; computed in float32 whatever the model's dtype.
        labels: True labels (untargeted) or target labels (targeted), ``(N,)``.
        targeted: Whether ``labels`` are targets.
        y: The true labels; needed by the targeted DLR loss only.

    Raises:
        ValueError: the targeted DLR loss without ``y``, or too few classes for DLR.
    """
    if name == "dlr":
        if not targeted:
            return dlr_loss(logits, labels)
        if y is None:
            raise ValueError("loss 'dlr': the targeted DLR loss needs the true labels y")
        return dlr_loss(logits, y, labels)
    return LOSSES[name](logits.float(), labels, targeted)


def is_success(logits: Tensor, labels: Tensor, *, targeted: bool) -> Tensor:
    """Boolean ``(N,)``: prediction hits the target (targeted) or leaves the label (untargeted)."""
    pred = logits.argmax(dim=1)
    return pred == labels if targeted else pred != labels
