"""Attacks on [0, 1] image classifiers, all called as ``attack(model, x, y) -> x_adv``.

White-box: :class:`PGD` (L∞/L2, restarts, targeted, CE or CW loss, EOT, frequency bands)
and :class:`FGSM`. Black-box (outputs only, exact query counts): :class:`FourierBasisAttack`
and :class:`SimBA` (pixel and DCT). :class:`TransferAttack` makes examples on a source
model (the protocol of many defence papers). :class:`TorchAttack` runs any torchattacks attack.
"""

from __future__ import annotations

from attacks.adapter import TorchAttack, available_torchattacks
from attacks.base import Attack, AttackResult, ThreatModel
from attacks.constraints import BandConstraint, Constraint, L2Ball, LinfBall, make_constraint
from attacks.fourier import FourierBasisAttack
from attacks.pgd import FGSM, PGD
from attacks.simba import SimBA
from attacks.transfer import TransferAttack

__all__ = [
    "FGSM",
    "PGD",
    "Attack",
    "AttackResult",
    "BandConstraint",
    "Constraint",
    "FourierBasisAttack",
    "L2Ball",
    "LinfBall",
    "SimBA",
    "ThreatModel",
    "TorchAttack",
    "TransferAttack",
    "available_torchattacks",
    "make_constraint",
]
