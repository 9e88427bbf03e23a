"""Attacks on [0, 1] image classifiers, all called as ``attack(model, x, y) -> x_adv``.

White-box: :class:`PGD` (L∞/L2, restarts, targeted, CE or CW loss, EOT, frequency bands),
:class:`APGD` (Auto-PGD and APGD-T: no step size to tune, CE or DLR loss) and :class:`FGSM`.
Black-box (outputs only, exact query counts): :class:`FourierBasisAttack` and :class:`SimBA`
(pixel and DCT). :class:`TransferAttack` makes examples on a source
model (the protocol of many defence papers). :class:`TorchAttack` runs any torchattacks attack.

Every attack is registered under its name in :data:`ATTACKS` and can be built by name with
:func:`create_attack` (``create_attack("pgd", eps=8/255)``).
"""

from __future__ import annotations

from attacks.adapter import TorchAttack, available_torchattacks
from attacks.apgd import APGD
from attacks.bands import BandConstraint, make_constraint
from attacks.base import NORMS, Attack, AttackResult, Preset, Task, ThreatModel
from attacks.constraints import Constraint, L2Ball, LinfBall
from attacks.fourier import FourierBallAttack, FourierBasisAttack
from attacks.pgd import FGSM, PGD
from attacks.registry import ATTACKS, create_attack
from attacks.simba import SimBA
from attacks.square import Square
from attacks.transfer import TransferAttack

__all__ = [
    "APGD",
    "ATTACKS",
    "FGSM",
    "NORMS",
    "PGD",
    "Attack",
    "AttackResult",
    "BandConstraint",
    "Constraint",
    "FourierBallAttack",
    "FourierBasisAttack",
    "L2Ball",
    "LinfBall",
    "Preset",
    "SimBA",
    "Square",
    "Task",
    "ThreatModel",
    "TorchAttack",
    "TransferAttack",
    "available_torchattacks",
    "create_attack",
    "make_constraint",
]
