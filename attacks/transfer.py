"""Transfer attacks: adversarial examples made on a source model, then shown to the target.

This is the protocol behind many defence papers' robustness figures (e.g. Lin et al. 2019
made FGSM/PGD/DeepFool/C&W examples on the undefended network and classified them with the
post-averaged one). It is a *weak* evaluation of the target on its own; the harness runs it
beside adaptive attacks so that the gap is visible.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from attacks.base import Attack, AttackResult, Task, attack_dataclass, setting

__all__ = ["TransferAttack"]


def _check_source(source: Any, name: str) -> nn.Module:
    if not isinstance(source, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module, got {type(source).__name__}")
    return source


def _check_attack(attack: Any, name: str) -> Attack:
    if not isinstance(attack, Attack):
        raise TypeError(f"{name}: expected an attack of this package, got {type(attack).__name__}")
    return attack


def _inner(member: str, doc: str) -> Any:
    """A read-only property that is the inner attack's ``member`` (a transfer keeps its attack's promises)."""
    return property(lambda self: getattr(self.attack, member), doc=doc)


@attack_dataclass
class TransferAttack(Attack):
    """Run ``attack`` on ``source`` and return its adversarial images for any target model.

    The target model is never differentiated and only queried once by the base class's input
    check, so the attack counts as black-box with respect to the target (zero queries spent).

    Args:
        source: The model the examples are made on (e.g. the undefended network).
        attack: Any attack of this package (its threat model is this attack's threat model).

    Example:
        >>> transfer = TransferAttack(source=natural, attack=PGD(eps=8 / 255))  # doctest: +SKIP
        >>> x_adv = transfer(defended, x, y)  # doctest: +SKIP
    """

    name = "transfer"
    uses_gradients = False

    source: nn.Module = setting(check=_check_source)
    attack: Attack = setting(check=_check_attack)

    threat = _inner("threat", "The inner attack's threat model.")
    randomized = _inner("randomized", "Whether the inner attack draws random numbers.")

    def __repr__(self) -> str:
        return f"TransferAttack(source={type(self.source).__name__}, attack={self.attack!r})"

    def _run(self, task: Task) -> AttackResult:
        # The inner attack re-enables gradients for the source model only; the target stays
        # under the base class's no_grad and frozen parameters.
        inner = self.attack.run(self.source, task.x, task.y, targets=task.targets, generator=task.generator)
        info: dict[str, Any] = {"source_queries": inner.queries} if inner.queries is not None else {}
        return AttackResult(
            x_adv=inner.x_adv,
            queries=torch.zeros(task.x.shape[0], dtype=torch.int64, device=task.x.device),
            info=info,
        )
