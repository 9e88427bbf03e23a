"""What PGD and APGD share: gradient attacks in a norm ball, optionally confined to a frequency band.

:class:`GradientAttack` declares the threat model (``eps``, ``norm``: the first settings of
every subclass), builds the feasible set from it and the band settings, and answers the
protocol's ``threat`` and ``randomized``. :class:`WorstCase` keeps each sample's worst case
over an attack's runs (restarts, targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from attacks.bands import make_constraint
from attacks.base import NORMS, Attack, AttackResult, ThreatModel, attack_dataclass, choice, setting
from attacks.constraints import Constraint
from bandlimit._checks import check_nonnegative

__all__ = ["COMPACT_EVERY", "GradientAttack", "WorstCase"]

# How often (in steps) samples that became adversarial are dropped from the working batch, by
# device type. Dropping them needs a host sync; that is free on the CPU but stalls the GPU
# queue, where finished samples are frozen with a mask every step and compacted only every
# few steps.
COMPACT_EVERY = {"cpu": 1}
COMPACT_EVERY_DEFAULT = 4


@attack_dataclass
class GradientAttack(Attack):
    """Base of the white-box attacks in an L∞ or L2 ball, optionally band-limited (PGD, APGD).

    The subclass declares the band settings (``band``, ``band_space``, ``band_low``,
    ``band_high``), ``amp``, ``random_start`` and ``restarts`` among its own settings, where
    they stand in its ``config``; this class reads them. Building the feasible set at
    construction validates the band settings.
    """

    uses_gradients = True
    budget = "eps"
    norm_setting = "norm"

    eps: float = setting(check=check_nonnegative)
    norm: str = setting("linf", choice(NORMS))
    _constraint: Constraint = field(init=False)

    if TYPE_CHECKING:  # settings every subclass declares (see the class docstring)
        band: str | Tensor | None
        band_space: str
        band_low: float
        band_high: float
        amp: bool
        random_start: bool
        restarts: int

    def __post_init__(self) -> None:
        super().__post_init__()
        constraint = make_constraint(
            self.norm, self.eps, band=self.band, space=self.band_space, low=self.band_low, high=self.band_high
        )
        object.__setattr__(self, "_constraint", constraint)

    @property
    def threat(self) -> ThreatModel:
        """The ball every returned perturbation lies in (a band only shrinks the set)."""
        return ThreatModel(self.norm, self.eps)

    @property
    def randomized(self) -> bool:
        """True when the attack draws random numbers (random start or several restarts)."""
        return self.random_start or self.restarts > 1

    @property
    def constraint(self) -> Constraint:
        """The feasible set (ball, box and optional band) the attack projects onto."""
        return self._constraint

    def _check_inputs(self, x: Tensor) -> None:
        """A band mask must match the images' size."""
        self._constraint.check_input(x)

    def _point(self, z: Tensor, x: Tensor) -> Tensor:
        """The feasible point the model sees for an optimiser state (a band's state is not feasible)."""
        c = self._constraint
        return z if c.exact_iterates else c.project(z, x)

    def _forward(self, model: nn.Module, inputs: Tensor) -> Tensor:
        """The model's logits, under bf16 autocast (on the inputs' device type) with ``amp``."""
        if not self.amp:
            return model(inputs)
        with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16):
            return model(inputs)


@dataclass
class WorstCase:
    """Each sample's worst case over an attack's runs: a success beats a failure, then the higher score.

    Attributes:
        delta: The chosen perturbations ``(N, C, H, W)`` (zero until a run is kept).
        success: Whether the chosen perturbation is adversarial ``(N,)``.
        score: Its loss ``(N,)``, ``-inf`` until a run is kept.
    """

    delta: Tensor
    success: Tensor
    score: Tensor

    @classmethod
    def start(cls, x: Tensor, success: Tensor | None = None) -> WorstCase:
        """Zero perturbations for images ``x``; ``success`` marks samples that need no attack."""
        n = x.shape[0]
        if success is None:
            success = torch.zeros(n, dtype=torch.bool, device=x.device)
        return cls(torch.zeros_like(x), success, torch.full((n,), float("-inf"), device=x.device))

    def pending(self, early_stop: bool) -> Tensor:
        """Positions of the samples the next run attacks: all, or with ``early_stop`` the not yet adversarial."""
        if early_stop:
            return (~self.success).nonzero().squeeze(1)  # one host sync per run
        return torch.arange(self.success.shape[0], device=self.success.device)

    def update(self, todo: Tensor, delta: Tensor, success: Tensor, score: Tensor) -> None:
        """Keep a run's result on the samples ``todo`` where it is worse for the model."""
        old_success, old_score = self.success[todo], self.score[todo]
        better = (success & ~old_success) | ((success == old_success) & (score > old_score))
        chosen = todo[better]
        self.delta[chosen] = delta[better]
        self.score[chosen] = score[better]
        self.success[chosen] = success[better]

    def result(self, x: Tensor, **info: Any) -> AttackResult:
        """The adversarial images ``x + delta`` in [0, 1]."""
        return AttackResult(x_adv=(x + self.delta).clamp_(0.0, 1.0), info=dict(info))
