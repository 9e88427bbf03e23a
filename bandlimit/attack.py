"""The attack protocol of the core: what the harness, the training recipes and the CLI rely on.

The ``attacks`` package implements attacks; the core (the evaluation harness in particular)
never imports it and codes against this module instead:

* :class:`ThreatModel`: a norm and a budget, with the one :meth:`~ThreatModel.distance`;
* :class:`AttackResult`: adversarial images plus exact per-sample query counts and extras;
* :class:`Attack`: the protocol every attack object satisfies (``attacks.Attack`` is the base
  class that implements it; any object with these members works in the harness).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from bandlimit._checks import check_choice

__all__ = ["NORMS", "Attack", "AttackResult", "ThreatModel", "distance", "eps_text"]

NORMS = ("linf", "l2")


def distance(delta: Tensor, norm: str, *, dtype: torch.dtype | None = None) -> Tensor:
    """Per-sample size ``(N,)`` of ``delta`` ``(N, ...)`` in ``norm``, over all channels and pixels.

    Args:
        delta: Perturbations.
        norm: ``"linf"`` or ``"l2"``.
        dtype: Compute (and return) in this dtype; default the dtype of ``delta``. The harness
            measures in float64 so its budget check is not at the mercy of float32 rounding.
    """
    flat = delta.flatten(1)
    if dtype is not None:
        flat = flat.to(dtype)
    if norm == "linf":
        return flat.abs().amax(dim=1)
    if norm == "l2":
        return flat.norm(p=2, dim=1)
    raise ValueError(f"norm: expected one of {list(NORMS)}, got {norm!r}")


def eps_text(eps: float, norm: str = "linf") -> str:
    """A budget as people write it: ``8/255`` on the 1/255 grid (either norm), else 4 digits."""
    if math.isinf(eps):
        return "inf"
    k = eps * 255
    if abs(k - round(k)) < 1e-6 and round(k) > 0:
        return f"{round(k)}/255"
    return f"{eps:.4g}"


@dataclass(frozen=True)
class ThreatModel:
    """The budget an attack promises to respect.

    Attributes:
        norm: ``"linf"`` or ``"l2"``; the norm is taken over the whole image (all channels).
        eps: Budget in [0, 1] pixel units; ``math.inf`` means the attack is unbounded.
    """

    norm: str
    eps: float

    def __post_init__(self) -> None:
        check_choice(self.norm, "norm", NORMS)
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)):
            raise TypeError(f"eps: expected a number, got {self.eps!r}")
        if math.isnan(self.eps) or self.eps < 0:
            raise ValueError(f"eps: expected a value >= 0, got {self.eps}")
        object.__setattr__(self, "eps", float(self.eps))

    def distance(self, delta: Tensor, *, dtype: torch.dtype | None = None) -> Tensor:
        """Per-sample size of ``delta`` (N, ...) in this threat model's norm (see :func:`distance`)."""
        return distance(delta, self.norm, dtype=dtype)

    @property
    def key(self) -> str:
        """Stable machine key, e.g. ``linf/0.0313725`` (the harness's threat-group key)."""
        return f"{self.norm}/{self.eps:.6g}"

    def __str__(self) -> str:
        return f"{self.norm} {eps_text(self.eps, self.norm)}"


@dataclass
class AttackResult:
    """What an attack returns from ``run``.

    Attributes:
        x_adv: Adversarial images ``(N, C, H, W)`` in [0, 1].
        queries: Model queries spent per sample ``(N,)`` (black-box attacks), else None.
        info: Attack-specific per-sample extras, e.g. ``{"cell": (N, 2)}`` or ``{"l2": (N,)}``.
    """

    x_adv: Tensor
    queries: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Attack(Protocol):
    """What the harness needs from an attack object.

    Attributes:
        name: Short name used in results and on the command line.
        threat: The norm and budget every returned perturbation respects (the harness checks).
        randomized: Whether the attack draws random numbers (it then takes ``generator``).
        uses_gradients: True for white-box attacks (needed by the gradient-masking checks).
    """

    name: str

    @property
    def threat(self) -> ThreatModel:  # noqa: D102 - documented on the class
        ...

    @property
    def randomized(self) -> bool:  # noqa: D102
        ...

    @property
    def uses_gradients(self) -> bool:  # noqa: D102
        ...

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        targets: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        """Attack ``model`` on images ``x`` with labels ``y``.

        Args:
            model: Maps [0, 1] images ``(N, C, H, W)`` to logits ``(N, classes)``.
            x: Clean images in [0, 1].
            y: True labels ``(N,)``.
            targets: Target labels ``(N,)`` for a targeted attack; None for untargeted.
            generator: Source of randomness; the same generator state gives the same result.

        Returns:
            The adversarial images plus extras (the harness verifies them, it does not trust them).

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: bad shapes, labels or targets out of range, images outside [0, 1],
                or a model whose output is not finite ``(N, classes)`` logits.
        """
        ...
