"""Input normalisation as the first layer of every model.

bandlimit measures every eps, radius and norm on un-normalised images in [0, 1]; the model
owns its normalisation, so an attack can never forget it or apply it twice. The statistics
are *non-persistent* buffers: they follow ``.to(device)`` but stay out of the state dict, so
a checkpoint holds exactly the weights of the network (the public CIFAR ResNet checkpoints
load without key renaming) and the normalisation travels in the checkpoint *metadata*.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from bandlimit._checks import check_tensor_rank

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SYMMETRIC_MEAN",
    "SYMMETRIC_STD",
    "Normalize",
    "normalize",
]

#: CIFAR-10 training-set channel statistics (the usual values of the robustness literature).
CIFAR10_MEAN: tuple[float, float, float] = (0.4914, 0.4822, 0.4465)
CIFAR10_STD: tuple[float, float, float] = (0.2471, 0.2435, 0.2616)
#: ImageNet channel statistics (torchvision's pretrained weights; also what the public CIFAR
#: ResNet-20..56 checkpoints were trained with).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: Map [0, 1] to [-1, 1]: ``(x - 0.5) / 0.5`` (TF-style EfficientNet-Lite weights).
SYMMETRIC_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
SYMMETRIC_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)


def _check_stats(mean: Sequence[float], std: Sequence[float]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Validate per-channel statistics and return them as tuples of floats."""
    for name, values in (("mean", mean), ("std", std)):
        if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, Tensor)):
            raise TypeError(f"{name}: expected a sequence of per-channel floats, got {type(values).__name__}")
    mean_t = tuple(float(v) for v in mean)
    std_t = tuple(float(v) for v in std)
    if not mean_t:
        raise ValueError("mean: expected at least one channel, got an empty sequence")
    if len(mean_t) != len(std_t):
        raise ValueError(f"mean and std: expected the same number of channels, got {len(mean_t)} and {len(std_t)}")
    if not all(math.isfinite(v) for v in mean_t):
        raise ValueError(f"mean: expected finite values, got {mean_t}")
    if not all(math.isfinite(v) and v > 0 for v in std_t):
        raise ValueError(f"std: expected finite values > 0, got {std_t}")
    return mean_t, std_t


def normalize(x: Tensor, mean: Sequence[float] | Tensor, std: Sequence[float] | Tensor) -> Tensor:
    """Per-channel ``(x - mean) / std`` over dim 1 of an ``(N, C, H, W)`` batch.

    Args:
        x: Images ``(N, C, H, W)``, usually in [0, 1].
        mean: ``C`` channel means (a sequence or a tensor of shape ``(C,)``).
        std: ``C`` channel standard deviations, all ``> 0``.

    Returns:
        The normalised batch, same shape, dtype and device as ``x``; differentiable in ``x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` is not 4-D or its channel count differs from ``len(mean)``.
    """
    check_tensor_rank(x, "x", min_rank=4)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    std_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).reshape(1, -1, 1, 1)
    if x.dim() != 4 or x.shape[1] != mean_t.shape[1]:
        raise ValueError(
            f"x: expected images (N, {mean_t.shape[1]}, H, W) to match the {mean_t.shape[1]} normalisation "
            f"channels, got shape {tuple(x.shape)}"
        )
    return (x - mean_t) / std_t


class Normalize(nn.Module):
    """First layer of a model on [0, 1] images: ``(x - mean) / std`` per channel.

    The statistics are non-persistent buffers, so they move with ``.to()`` but never enter
    ``state_dict()``; save them in checkpoint metadata instead (``save_checkpoint`` does).

    Args:
        mean: Per-channel means, e.g. :data:`CIFAR10_MEAN`.
        std: Per-channel standard deviations (all ``> 0``), e.g. :data:`CIFAR10_STD`.

    Example:
        >>> layer = Normalize(IMAGENET_MEAN, IMAGENET_STD)
        >>> layer(torch.full((1, 3, 2, 2), 0.485))[0, 0, 0, 0].abs().item() < 1e-6
        True
    """

    mean: Tensor
    std: Tensor

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        mean_t, std_t = _check_stats(mean, std)
        self.register_buffer("mean", torch.tensor(mean_t).reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std_t).reshape(1, -1, 1, 1), persistent=False)

    @property
    def stats(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """The ``(mean, std)`` tuples this layer applies (for metadata and reprs)."""
        return tuple(self.mean.flatten().tolist()), tuple(self.std.flatten().tolist())

    def forward(self, x: Tensor) -> Tensor:
        """Normalise a batch ``(N, C, H, W)``; the buffers follow ``x``'s dtype."""
        if x.dim() != 4 or x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize: expected images (N, {self.mean.shape[1]}, H, W), got shape {tuple(x.shape)}")
        return (x - self.mean.to(x.dtype)) / self.std.to(x.dtype)

    def extra_repr(self) -> str:
        """Shown by ``repr(model)``."""
        mean, std = self.stats
        return f"mean={tuple(round(v, 4) for v in mean)}, std={tuple(round(v, 4) for v in std)}"
