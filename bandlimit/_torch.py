"""Small torch helpers shared by the core, the attacks and the harness."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["model_guard"]


@contextlib.contextmanager
def model_guard(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration of the block, then restore both.

    Freezing parameters means autograd computes input gradients only (about 2 forward
    equivalents per step instead of 3) and never touches the user's ``param.grad``.
    """
    was_training = model.training
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    model.eval()
    for p in params:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
        model.train(was_training)
