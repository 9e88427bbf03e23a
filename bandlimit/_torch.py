"""Small torch helpers shared by the core, the attacks and the harness."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["CPU_PASS_SIZE", "model_guard", "pass_size"]

#: Images per forward pass that the batched black-box attacks, post-averaging and the Fourier heat
#: map use on the CPU when their pass size is left at ``None``. Bigger passes fall out of cache and
#: run slower per image: the public ResNet-20 on one thread takes 0.47 ms per image in passes of 16-64
#: (channels_last) and 0.66-0.72 ms in passes of 128-256; 0.74-0.90 ms at 4-32 and 1.07-1.14 ms at
#: 64-256 in the default memory format (benchmarks/RESULTS.md).
CPU_PASS_SIZE = 32


def pass_size(requested: int | None, device: torch.device, accelerator: int | None) -> int | None:
    """Images per forward pass: ``requested`` if given, else a default for the device.

    Args:
        requested: The attack's explicit setting, or None.
        device: Where the images are.
        accelerator: The default off the CPU (None = everything in one pass).

    Returns:
        A positive pass size, or None for "everything in one pass".
    """
    if requested is not None:
        return requested
    return CPU_PASS_SIZE if device.type == "cpu" else accelerator


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
