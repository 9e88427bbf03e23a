"""Per-sample attack objectives (higher = better for the attacker) and success tests."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn.functional as F
from torch import Tensor

__all__ = ["LOSSES", "attack_loss", "is_success"]


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


LOSSES: dict[str, Callable[[Tensor, Tensor, bool], Tensor]] = {"ce": _ce, "cw": _cw}


def attack_loss(name: str, logits: Tensor, labels: Tensor, *, targeted: bool) -> Tensor:
    """Per-sample objective ``(N,)`` that the attack maximises.

    Args:
        name: ``"ce"`` (cross-entropy) or ``"cw"`` (Carlini-Wagner logit margin).
        logits: Model output ``(N, classes)``; computed in float32 whatever the model's dtype.
        labels: True labels (untargeted) or target labels (targeted), ``(N,)``.
        targeted: Whether ``labels`` are targets.
    """
    return LOSSES[name](logits.float(), labels, targeted)


def is_success(logits: Tensor, labels: Tensor, *, targeted: bool) -> Tensor:
    """Boolean ``(N,)``: prediction hits the target (targeted) or leaves the label (untargeted)."""
    pred = logits.argmax(dim=1)
    return pred == labels if targeted else pred != labels
