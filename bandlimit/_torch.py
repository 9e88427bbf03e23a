"""Small torch helpers shared by the core, the attacks, the defences and the harness."""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import torch
from torch import Tensor, nn

__all__ = [
    "CPU_PASS_SIZE",
    "eval_mode",
    "first_forward",
    "fit_images",
    "model_device",
    "model_dtype",
    "model_guard",
    "pass_size",
    "resolve_device",
]

#: Dtypes images may be converted to without harm: rounding [0, 1] images to float32 moves them by
#: at most 3e-8, far below the harness's budget tolerance (1e-5). Rounding to float16 (5e-4) or
#: bfloat16 (4e-3, a whole 1/255 step) is not safe, so images are never converted down to those.
_SAFE_DTYPES = (torch.float32, torch.float64)

#: Images per forward pass that the batched black-box attacks, post-averaging and the Fourier heat
#: map use on the CPU when their pass size is left at ``None``. Bigger passes fall out of cache and
#: run slower per image. Measured where users run it (benchmarks/bench_pass_size.py, 2,048 images of
#: the public ResNet-20, wall time, 2026-11-30): at torch's default 2 threads on a quiet machine,
#: passes of 16-128 take 0.93-1.07 s (32: 0.97 s, within 4 % of the fastest, 128) and passes of
#: 512-2,048 take 2.3-2.9 s; at one thread 32 is within 1 % of the fastest; beside two busy
#: processes 32 is the fastest size at 2 threads and at 1 (benchmarks/RESULTS.md).
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


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """Floating dtype of the model's first floating parameter (else buffer); None if it has neither."""
    for t in itertools.chain(model.parameters(), model.buffers()):
        if t.is_floating_point():
            return t.dtype
    return None


def fit_images(model: nn.Module, x: Tensor) -> Tensor:
    """``x`` in the model's dtype when that conversion is safe (to float32 or float64), else ``x``.

    float16, bfloat16 or float64 images given to a float32 model are converted to float32 (and
    any floating images to a float64 model's float64), so they meet the model's weights in one
    dtype. Images are never rounded down to a float16 or bfloat16 model's dtype: that moves them
    by more than an attack budget's tolerance; :func:`first_forward` then names the fix.
    """
    dtype = model_dtype(model)
    if dtype in _SAFE_DTYPES and x.is_floating_point() and x.dtype != dtype:
        return x.to(dtype)
    return x


def _input_channels(model: nn.Module) -> tuple[str, int] | None:
    """Name and input channels of the model's first convolution in module order, if any."""
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return name, int(module.in_channels)
    return None


def first_forward(model: nn.Module, x: Tensor, name: str = "x") -> Tensor:
    """``model(x)``, with one clear error when the images do not fit the model.

    Call it for the first forward pass of an attack or an analysis (``x`` already through
    :func:`fit_images`): a failure there is nearly always images of the wrong number of
    channels, size or dtype, which PyTorch reports from deep inside the model.

    Raises:
        ValueError: the images' channels differ from the first convolution's (the message
            names both and the fix), or the forward pass failed for another input reason.
        TypeError: the model computes in float16/bfloat16 and the images are in another dtype.
    """
    try:
        return model(x)
    except torch.OutOfMemoryError:
        raise
    except (RuntimeError, ValueError) as err:
        conv = _input_channels(model)
        if conv is not None and x.dim() == 4 and x.shape[1] != conv[1]:
            layer, channels = conv
            fix = (
                f"repeat the grey channel, e.g. x.expand(-1, {channels}, -1, -1) for a batch x"
                if x.shape[1] == 1
                else f"give {channels}-channel images or a model built for {x.shape[1]} channels"
            )
            raise ValueError(
                f"{name}: expected {channels}-channel images (the model's first convolution, "
                f"{layer or 'the model itself'!r}, takes {channels} channels), got {x.shape[1]}-channel "
                f"images of shape {tuple(x.shape)}; {fix}"
            ) from err
        dtype = model_dtype(model)
        if dtype is not None and dtype != x.dtype:
            raise TypeError(
                f"{name}: the model computes in {dtype}, the images are {x.dtype}; rounding images to "
                f"{dtype} would move them by more than an attack budget's tolerance, so it is not done "
                f"for you: run the model in float32 (model.float()) or pass {dtype} images yourself"
            ) from err
        if isinstance(err, ValueError):
            raise
        raise ValueError(
            f"{name}: the model's forward pass failed on images of shape {tuple(x.shape)} ({x.dtype}): "
            f"{err}; check that the images have the channels, size and dtype the model expects"
        ) from err


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode for the duration of the block, then every submodule's *own* training flag back.

    ``model.train(was_training)`` would flip an eval-mode network inside a train-mode wrapper
    (or a frozen BatchNorm inside a training model) into train mode, and its next forward pass
    would overwrite the BatchNorm running statistics.
    """
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, mode in modes:
            m.training = mode


@contextlib.contextmanager
def model_guard(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode (:func:`eval_mode`) and frozen parameters for the duration of the block, then restore both.

    Freezing parameters means autograd computes input gradients only (about 2 forward
    equivalents per step instead of 3) and never touches the user's ``param.grad``.
    """
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        with eval_mode(model):
            yield model
    finally:
        for p, flag in zip(params, flags, strict=True):
            p.requires_grad_(flag)
