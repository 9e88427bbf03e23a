"""Frequency masks and the filters built on them.

Conventions. Masks are **centred** ``(h, w)`` tensors (DC at ``(h // 2, w // 2)``) with
1 = keep. A centred index ``i`` stands for the integer frequency ``k = i - h // 2``; every
mask depends on ``|k_h|`` and ``|k_w|`` only, so it is conjugate-symmetric and a filtered real
image stays real.

Low-pass shapes (:func:`frequency_mask`), given a ``bandwidth`` B or a ``radius`` r (one of
the two; ``r = B / 2``):

* ``"square"`` (Yin et al. 2019): keep ``|k_h| <= B/2`` and ``|k_w| <= B/2``. For odd B this
  is exactly the centred B x B block of the shifted spectrum. A symmetric block always has an
  odd side, so for even B it is the centred (B+1) x (B+1) block (both boundary frequencies
  ``+-B/2`` kept); ``B >= max(h, w)`` keeps everything, Nyquist bins included.
* ``"disc"`` (Wang et al. 2020): keep the Euclidean distance ``sqrt(k_h^2 + k_w^2) < r``
  (strict, as in their released code).
* ``"gaussian"``: ``exp(-d^2 / (2 r^2))`` (r is the standard deviation, in frequency bins).
* ``"butterworth"``: ``1 / (1 + (d / r)^(2 * order))`` (r is the half-power cutoff).

High-pass filtering is always ``x - lowpass(x)``, i.e. the mask ``1 - m``, so
``lowpass(x) + highpass(x) == x`` for every shape. Module wrappers that keep a mask as a
buffer (``defenses.LowPassFilter``) take it from :func:`rfft_mask` and apply it with
:func:`apply_rfft_mask`, the same two steps :func:`lowpass` takes.

The band masks of the band-limited attacks live in :mod:`bandlimit.spectral.bands`.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bandlimit._checks import check_choice, check_positive, check_positive_int
from bandlimit.spectral.transforms import check_spatial, dtype_device, fft2c, frozen_cache, ifft2c

__all__ = [
    "SHAPES",
    "apply_frequency_mask",
    "apply_rfft_mask",
    "centred_freqs",
    "check_mask_settings",
    "frequency_mask",
    "frequency_split",
    "highpass",
    "lowpass",
    "rfft_mask",
]

SHAPES = ("square", "disc", "gaussian", "butterworth")


def centred_freqs(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer frequencies ``(h, 1)`` and ``(1, w)`` of the centred grid, in float64."""
    kh = (torch.arange(h, dtype=torch.float64) - h // 2).view(-1, 1)
    kw = (torch.arange(w, dtype=torch.float64) - w // 2).view(1, -1)
    return kh, kw


@frozen_cache
def _lowpass_mask(
    h: int, w: int, shape: str, radius: float, order: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    kh, kw = centred_freqs(h, w)
    if shape == "square":
        mask = ((kh.abs() <= radius) & (kw.abs() <= radius)).double()
    else:
        dist = torch.sqrt(kh**2 + kw**2)
        if shape == "disc":
            mask = (dist < radius).double()
        elif shape == "gaussian":
            mask = torch.exp(-(dist**2) / (2.0 * radius**2))
        else:
            mask = 1.0 / (1.0 + (dist / radius) ** (2 * order))
    return mask.to(dtype=dtype, device=device)


@frozen_cache
def _lowpass_half(
    h: int, w: int, shape: str, radius: float, order: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    # The mask laid out for rfft2: un-centred, then only the non-negative last-axis
    # frequencies. Valid because the mask is conjugate-symmetric (depends on |k| only).
    mask = _lowpass_mask(h, w, shape, radius, order, dtype, device)
    return torch.fft.ifftshift(mask, dim=(-2, -1))[:, : w // 2 + 1].contiguous()


def check_mask_settings(shape: Any, bandwidth: Any, radius: Any, order: Any) -> tuple[str, Any, Any, int]:
    """Validate a low-pass mask's settings before the image size is known.

    Returns:
        ``(shape, bandwidth, radius, order)`` with the given one of bandwidth/radius as a float.

    Raises:
        TypeError: a setting has the wrong type.
        ValueError: unknown shape, both or neither of bandwidth/radius, or a value <= 0.
    """
    shape = check_choice(shape, "shape", SHAPES)
    order = check_positive_int(order, "order")
    if (bandwidth is None) == (radius is None):
        raise ValueError(
            "expected exactly one of bandwidth=B (side of the kept centred square) or "
            f"radius=r (= B/2), got bandwidth={bandwidth!r}, radius={radius!r}"
        )
    if bandwidth is not None:
        return shape, check_positive(bandwidth, "bandwidth"), None, order
    return shape, None, check_positive(radius, "radius"), order


def _resolve_radius(h: int, w: int, shape: str, bandwidth: Any, radius: Any, order: Any) -> tuple[str, float, int]:
    shape, bandwidth, radius, order = check_mask_settings(shape, bandwidth, radius, order)
    limit = max(h, w)
    if bandwidth is not None:
        if bandwidth > limit:
            raise ValueError(
                f"bandwidth: expected a value in (0, {limit}] for a {h}x{w} image "
                f"(B = {limit} keeps every frequency), got {bandwidth:g}"
            )
        return shape, bandwidth / 2.0, order
    # Largest distance of any bin to the centre: a bigger radius is a no-op, likely a typo.
    max_radius = math.hypot(h // 2, w // 2) + 1.0
    if radius > max_radius and shape in ("square", "disc"):
        raise ValueError(f"radius: expected a value in (0, {max_radius:g}] for a {h}x{w} image, got {radius:g}")
    return shape, radius, order


def frequency_mask(
    h: int,
    w: int,
    *,
    shape: str = "square",
    bandwidth: float | None = None,
    radius: float | None = None,
    order: int = 2,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Centred low-pass mask ``(h, w)`` (1 = keep), conjugate-symmetric.

    See the module docstring for the exact definition of each shape. Give exactly one of
    ``bandwidth`` (B) and ``radius`` (r = B / 2).

    Args:
        h: Image height.
        w: Image width.
        shape: ``"square"``, ``"disc"``, ``"gaussian"`` or ``"butterworth"``.
        bandwidth: Side B of the kept centred square, in ``(0, max(h, w)]``.
        radius: Radius r in frequency bins (> 0).
        order: Butterworth order (ignored by other shapes).
        dtype: Floating dtype (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Float tensor ``(h, w)`` with values in [0, 1]. A fresh tensor (the cached original is not exposed).

    Raises:
        TypeError: a size, bandwidth, radius or order has the wrong type.
        ValueError: unknown shape, both or neither of bandwidth/radius, or out of range.

    Example:
        >>> int(frequency_mask(32, 32, bandwidth=7).sum())
        49
    """
    h, w = check_positive_int(h, "h"), check_positive_int(w, "w")
    shape, r, order = _resolve_radius(h, w, shape, bandwidth, radius, order)
    return _lowpass_mask(h, w, shape, r, order, *dtype_device(dtype, device)).clone()


def rfft_mask(h: int, w: int, *, highpass: bool = False, **settings: Any) -> torch.Tensor:
    """The mask of :func:`frequency_mask` (``1 -`` it if ``highpass``) in ``torch.fft.rfft2`` layout.

    Un-centred, and only the ``w // 2 + 1`` non-negative last-axis frequencies: valid because
    the mask is conjugate-symmetric. ``settings``: the keyword arguments of
    :func:`frequency_mask` (``shape``, ``bandwidth`` or ``radius``, ``order``, ``dtype``,
    ``device``), with its errors.

    Returns:
        A fresh float tensor ``(h, w // 2 + 1)`` for :func:`apply_rfft_mask`.
    """
    mask = frequency_mask(h, w, **settings)
    half = torch.fft.ifftshift(mask, dim=(-2, -1))[:, : w // 2 + 1].contiguous()
    return 1.0 - half if highpass else half


def apply_rfft_mask(x: torch.Tensor, half: torch.Tensor) -> torch.Tensor:
    """Filter ``x`` ``(..., H, W)`` with a mask from :func:`rfft_mask` for its size.

    rfft2/irfft2 on the un-centred half spectrum: half the work of a full complex FFT, and the
    output is real by construction (the mask is conjugate-symmetric).

    Raises:
        ValueError: ``half`` is not of the rfft size ``(H, W // 2 + 1)`` of ``x``.
    """
    h, w = x.shape[-2:]
    if tuple(half.shape[-2:]) != (h, w // 2 + 1):
        raise ValueError(
            f"half: expected an rfft mask of shape ({h}, {w // 2 + 1}) for {h}x{w} images "
            f"(rfft_mask({h}, {w}, ...)), got {tuple(half.shape)}"
        )
    spec = torch.fft.rfft2(x, norm="ortho") * half
    return torch.fft.irfft2(spec, s=x.shape[-2:], norm="ortho")


def apply_frequency_mask(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Filter ``x`` with a centred frequency mask: ``Re ifft2c(fft2c(x) * mask)``.

    For module wrappers that keep a fixed mask as a buffer. A mask that is not
    conjugate-symmetric acts as its symmetrised version ``(m(k) + m(-k)) / 2`` (the real
    part is taken).

    Args:
        x: Real floating tensor ``(..., H, W)``.
        mask: Real tensor broadcastable to ``(..., H, W)``, centred (DC at ``(H//2, W//2)``).

    Returns:
        Real tensor like ``x``. Differentiable in ``x`` (and in ``mask``).

    Raises:
        TypeError: ``x`` or ``mask`` is not a floating-point tensor.
        ValueError: ``mask``'s last two dims differ from ``x``'s.
    """
    check_spatial(x)
    check_spatial(mask, "mask")
    if mask.shape[-2:] != x.shape[-2:]:
        raise ValueError(f"mask: expected spatial size {tuple(x.shape[-2:])} to match x, got {tuple(mask.shape[-2:])}")
    return ifft2c(fft2c(x) * mask.to(x.dtype)).real


def lowpass(
    x: torch.Tensor,
    *,
    bandwidth: float | None = None,
    radius: float | None = None,
    shape: str = "square",
    order: int = 2,
) -> torch.Tensor:
    """Low-pass filter over the last two dims: ``Re ifft2c(fft2c(x) * mask)``.

    Args:
        x: Real floating tensor ``(..., H, W)``.
        bandwidth: Side B of the kept centred square (see :func:`frequency_mask`).
        radius: Radius r = B / 2 in frequency bins.
        shape: ``"square"`` (default, Yin et al.), ``"disc"``, ``"gaussian"`` or
            ``"butterworth"``.
        order: Butterworth order.

    Returns:
        Real tensor like ``x``. Ideal shapes (square, disc) are idempotent.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank, shape, bandwidth or radius.
    """
    check_spatial(x)
    h, w = x.shape[-2], x.shape[-1]
    shape, r, order = _resolve_radius(h, w, shape, bandwidth, radius, order)
    return apply_rfft_mask(x, _lowpass_half(h, w, shape, r, order, x.dtype, x.device))


def highpass(x: torch.Tensor, **settings: Any) -> torch.Tensor:
    """High-pass filter: ``x - lowpass(x, **settings)``, i.e. the mask ``1 - m``.

    With ``shape="square"`` and bandwidth B this removes the centred square kept by the
    low-pass filter of the same B (Yin et al.'s high-pass of bandwidth B). The alternative
    convention "keep an outer band of width B'" is ``highpass(x, bandwidth=N - B')``.

    Args:
        x: Real floating tensor ``(..., H, W)``.
        **settings: Those of :func:`lowpass` (``bandwidth`` of the removed centred square or
            ``radius``, ``shape``, ``order``), with its errors.

    Returns:
        Real tensor like ``x``; ``lowpass(x) + highpass(x) == x``.
    """
    return x - lowpass(x, **settings)


def frequency_split(x: torch.Tensor, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Wang et al. (2020) low/high-frequency split with a disc of radius ``radius``.

    The low part keeps the bins whose Euclidean distance to the centre ``(H//2, W//2)`` is
    strictly below ``radius``; the high part is the rest. No per-image rescaling is done
    (their code divides each part by its maximum afterwards; do that yourself if needed).

    Args:
        x: Real floating tensor ``(..., H, W)``.
        radius: Disc radius in frequency bins (> 0).

    Returns:
        ``(low, high)`` real tensors like ``x`` with ``low + high == x``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: bad rank or radius.
    """
    low = lowpass(x, radius=radius, shape="disc")
    return low, x - low
