"""The attack base class: configuration, input validation, model guarding and results.

A subclass writes only its algorithm (``_run``). The base class validates every input before
any work is done, puts the model in eval mode with parameter gradients switched off for the
duration of the call (so an attack never computes or leaves weight gradients) and restores
both afterwards. Black-box attacks run under ``torch.no_grad()``, so a gradient cannot be
taken by accident.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bandlimit._checks import check_choice, check_images, check_labels, check_logits
from bandlimit._torch import CPU_PASS_SIZE, model_guard, pass_size

__all__ = ["CPU_PASS_SIZE", "NORMS", "Attack", "AttackResult", "ThreatModel", "model_guard", "pass_size"]

NORMS = frozenset({"linf", "l2"})


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
        if math.isnan(self.eps) or self.eps < 0:
            raise ValueError(f"eps: expected a value >= 0, got {self.eps}")

    def distance(self, delta: Tensor) -> Tensor:
        """Per-sample size of ``delta`` (N, ...) in this threat model's norm."""
        flat = delta.flatten(1)
        if self.norm == "linf":
            return flat.abs().amax(dim=1)
        return flat.norm(p=2, dim=1)


@dataclass
class AttackResult:
    """What an attack returns from :meth:`Attack.run`.

    Attributes:
        x_adv: Adversarial images ``(N, C, H, W)`` in [0, 1].
        queries: Model queries spent per sample ``(N,)`` (black-box attacks), else None.
        info: Attack-specific per-sample extras, e.g. ``{"cell": (N, 2)}`` or ``{"l2": (N,)}``.
    """

    x_adv: Tensor
    queries: Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)


class Attack(ABC):
    """Base class of every attack: ``attack(model, x, y, *, targets=None, generator=None)``.

    Hyperparameters are keyword-only and fixed in ``__init__`` (subclasses call
    ``super().__init__(**resolved_config)``); nothing on the object changes between calls.

    Class attributes:
        name: Short name used in results and on the command line.
        uses_gradients: True for white-box attacks; False ones run under ``torch.no_grad()``.
            :meth:`run` reads ``self.uses_gradients``, so a subclass may make it a per-instance
            property (the torchattacks adapter does).
    """

    name: ClassVar[str] = "attack"
    uses_gradients: ClassVar[bool] = True

    def __init__(self, **config: Any) -> None:
        self._config = dict(config)

    # ------------------------------------------------------------------ configuration
    @property
    def config(self) -> dict[str, Any]:
        """The keyword arguments this attack was built with (a copy)."""
        return dict(self._config)

    @property
    @abstractmethod
    def threat(self) -> ThreatModel:
        """The norm and budget every returned perturbation respects."""

    @property
    def randomized(self) -> bool:
        """Whether the attack draws random numbers (random start, random order, ...)."""
        return False

    def replace(self, **changes: Any) -> Attack:
        """A new attack of the same kind with some settings changed.

        Raises:
            TypeError: a name in ``changes`` is not a setting of this attack.
        """
        unknown = sorted(set(changes) - set(self._config))
        if unknown:
            raise TypeError(
                f"{type(self).__name__}.replace: unknown settings {unknown}; "
                f"expected some of {sorted(self._config)}"
            )
        return type(self)(**{**self._config, **changes})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------------ running
    def __call__(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        targets: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Attack ``model`` on images ``x`` with labels ``y``; returns ``x_adv``.

        See :meth:`run` for the arguments and errors.
        """
        return self.run(model, x, y, targets=targets, generator=generator).x_adv

    def run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        targets: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> AttackResult:
        """Attack and return an :class:`AttackResult` (adversarial images plus extras).

        Args:
            model: Maps [0, 1] images ``(N, C, H, W)`` to logits ``(N, classes)``.
            x: Clean images in [0, 1].
            y: True labels ``(N,)``.
            targets: Target labels ``(N,)`` for a targeted attack; None for untargeted.
            generator: Source of randomness; the same generator state gives the same result.

        Raises:
            TypeError: an argument has the wrong type.
            ValueError: bad shapes, labels or targets out of range, images outside [0, 1],
                or a model whose output is not finite ``(N, classes)`` logits.
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        check_images(x, "x")
        check_labels(y, x.shape[0], "y")
        if targets is not None:
            check_labels(targets, x.shape[0], "targets")
        if generator is not None and not isinstance(generator, torch.Generator):
            raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
        self._check_inputs(x)
        y = y.to(x.device)
        targets = targets.to(x.device) if targets is not None else None
        with model_guard(model):
            with torch.no_grad():
                clean_logits = model(x)
            num_classes = check_logits(clean_logits, x.shape[0])
            check_labels(y, x.shape[0], "y", num_classes=num_classes)
            if targets is not None:
                check_labels(targets, x.shape[0], "targets", num_classes=num_classes)
            grad_mode = torch.enable_grad() if self.uses_gradients else torch.no_grad()
            with grad_mode:
                result = self._run(
                    model, x, y, targets=targets, generator=generator, clean_logits=clean_logits
                )
        return result

    def _check_inputs(self, x: Tensor) -> None:  # noqa: B027 - optional hook, empty by default
        """Validate settings that depend on the images (size, channels) before any work.

        Called by :meth:`run` after the generic checks and before the first forward pass;
        subclasses raise ``ValueError`` naming the fix. The default accepts everything.
        """

    @abstractmethod
    def _run(
        self,
        model: nn.Module,
        x: Tensor,
        y: Tensor,
        *,
        targets: Tensor | None,
        generator: torch.Generator | None,
        clean_logits: Tensor,
    ) -> AttackResult:
        """The algorithm. Inputs are validated; the model is in eval mode with frozen weights."""
