"""Small torch helpers shared by the core, the attacks, the defences and the harness."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["CPU_PASS_SIZE", "model_device", "model_guard", "pass_size", "resolve_device"]

#: Images per forward pass that the batched black-box attacks, post-averaging and the Fourier heat
#: map use on the CPU when their pass size is left at ``None``. Bigger passes fall out of cache and
#: run slower per image: the public ResNet-20 on one thread takes 0.47 ms per image in passes of 16-64
#: (channels_last) and 0.66-0.72 ms in passes of 128-256; 0.74-0.90 ms at 4-32 and 1.07-1.14 ms at
#: 64-256 in the default memory format (benchmarks/RESULTS.md).
CPU_PASS_SIZE = 32


def pass_size(requested: int | None, device: torch.device, accelerator: int | None) -> int | None:
    """Images per forward pass: ``requested`` if given, else a default for the device.

    Args:
        requested: The caller's explicit setting, or None.
        device: Where the images are.
        accelerator: The default off the CPU (None = everything in one pass).

    Returns:
        A positive pass size, or None for "everything in one pass".
    """
    if requested is not None:
        return requested
    return CPU_PASS_SIZE if device.type == "cpu" else accelerator


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (the CPU for a model with neither)."""
    for t in model.parameters():
        return t.device
    for t in model.buffers():
        return t.device
    return torch.device("cpu")


def resolve_device(
    spec: torch.device | str | None = None, *, model: nn.Module | None = None, local_rank: int = 0
) -> torch.device:
    """The one rule for turning a device setting into a ``torch.device``.

    Args:
        spec: ``None`` or ``"auto"``: the model's device when a model is given, else
            ``cuda:<local_rank>`` when CUDA is present, else the CPU. Anything else
            (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a ``torch.device``) is taken as given.
        model: The model whose device ``auto`` follows.
        local_rank: This process's GPU under torchrun (for ``auto`` without a model).

    Raises:
        ValueError: ``spec`` names no device, or names CUDA on a machine without it.
    """
    if spec is None or (isinstance(spec, str) and spec == "auto"):
        if model is not None:
            return model_device(model)
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if not isinstance(spec, (str, torch.device)):
        raise TypeError(f"device: expected 'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device, got {spec!r}")
    try:
        device = torch.device(spec)
    except RuntimeError as exc:
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {spec!r}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {str(spec)!r} was asked for but CUDA is not available here; use 'cpu'")
    return device


@contextlib.contextmanager
def model_guard(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and frozen parameters for the duration of the block, then restore both.

    Every submodule gets back its *own* training flag: ``model.train(was_training)`` would
    flip an eval-mode network inside a train-mode wrapper into train mode, and its next
    forward pass would overwrite the BatchNorm running statistics.

    Freezing parameters means autograd computes input gradients only (about 2 forward
    equivalents per step instead of 3) and never touches the user's ``param.grad``.
    """
    modes = [(m, m.training) for m in model.modules()]
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
        for m, mode in modes:
            m.training = mode
