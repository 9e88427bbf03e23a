"""Batched data augmentation on the device: random crop with zero padding and horizontal flip.

Everything here acts on a whole batch at once with tensor indexing (no per-image Python
loop), on whatever device the batch lives on, and works on ``uint8`` as well as float
images, so the loop can augment the compact ``uint8`` copy before converting to float.
The random numbers come from an explicit ``torch.Generator`` (drawn on the generator's
device, then moved), so an augmentation is reproducible and its state can be checkpointed.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn import functional as F

from bandlimit._checks import check_positive_int

__all__ = ["augment_batch", "random_crop", "random_flip"]


def _draw_device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    return generator.device if generator is not None else fallback


def random_crop(x: Tensor, padding: int = 4, *, generator: torch.Generator | None = None) -> Tensor:
    """Pad every image with ``padding`` zeros on each side and crop back at a random offset.

    This is the standard CIFAR augmentation (pad 4, crop 32), one offset per image, drawn
    uniformly from ``{0, ..., 2 * padding}`` in each direction.

    Args:
        x: Images ``(N, C, H, W)``, any dtype, any device.
        padding: Zero padding on each side; 0 returns ``x`` unchanged.
        generator: Source of the offsets (CPU or ``x``'s device).

    Returns:
        A new tensor of the same shape, dtype and device as ``x``.

    Raises:
        TypeError: ``x`` is not a tensor or ``padding`` is not an int.
        ValueError: ``x`` is not 4-D or ``padding`` is negative.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a torch.Tensor (N, C, H, W), got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"x: expected shape (N, C, H, W), got {tuple(x.shape)}")
    padding = check_positive_int(padding, "padding", minimum=0)
    if padding == 0 or x.shape[0] == 0:
        return x.clone()
    n, c, h, w = x.shape
    offsets = torch.randint(
        0, 2 * padding + 1, (2, n), generator=generator, device=_draw_device(generator, x.device)
    ).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    # Gather rows then columns with per-image index vectors: two cheap index_select-like
    # gathers instead of a loop over images.
    rows = offsets[0].view(n, 1) + torch.arange(h, device=x.device).view(1, h)  # (N, H)
    cols = offsets[1].view(n, 1) + torch.arange(w, device=x.device).view(1, w)  # (N, W)
    wp = padded.shape[-1]
    out = padded.gather(2, rows.view(n, 1, h, 1).expand(n, c, h, wp))
    return out.gather(3, cols.view(n, 1, 1, w).expand(n, c, h, w))


def random_flip(x: Tensor, p: float = 0.5, *, generator: torch.Generator | None = None) -> Tensor:
    """Mirror each image left-right with probability ``p``.

    Args:
        x: Images ``(N, C, H, W)``, any dtype, any device.
        p: Flip probability in [0, 1].
        generator: Source of the coin flips (CPU or ``x``'s device).

    Returns:
        A new tensor of the same shape, dtype and device as ``x``.

    Raises:
        ValueError: ``x`` is not 4-D or ``p`` is outside [0, 1].
    """
    if not isinstance(x, Tensor) or x.dim() != 4:
        raise ValueError(f"x: expected a tensor of shape (N, C, H, W), got {getattr(x, 'shape', x)}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p: expected a probability in [0, 1], got {p}")
    flip = torch.rand(x.shape[0], generator=generator, device=_draw_device(generator, x.device))
    flip = (flip < p).to(x.device).view(-1, 1, 1, 1)
    return torch.where(flip, x.flip(3), x)


def augment_batch(
    x: Tensor,
    *,
    crop_padding: int = 4,
    flip: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random crop (``crop_padding`` px) then random horizontal flip, batched on the device.

    Args:
        x: Images ``(N, C, H, W)``, any dtype, any device.
        crop_padding: Padding of the random crop; 0 disables cropping.
        flip: Whether to apply a random horizontal flip.
        generator: Source of all random draws.

    Returns:
        The augmented batch (a new tensor).
    """
    out = random_crop(x, crop_padding, generator=generator) if crop_padding else x
    if flip:
        out = random_flip(out, generator=generator)
    return out
