"""Real Fourier basis images of Yin et al. (2019), as built by their released heat-map code.

For an ``h x w`` grid and a *centred* index ``(i, j)`` (DC at ``(h // 2, w // 2)``), the
released code (``frequency_analysis/freq_heatmap.py`` in google-research) places
``0.5 + 0.5j`` at ``(i, j)`` and ``0.5 - 0.5j`` at its conjugate partner (a single ``1`` if
the bin is its own partner), applies ``ifftshift``, the inverse 2-D FFT, keeps the real part
and multiplies by ``sqrt(h * w)``. That equals, with ``k = (i - h // 2, j - w // 2)``,

    U[u, v] = (cos(theta) - sin(theta)) / sqrt(h * w),
    theta = 2 * pi * (k[0] * u / h + k[1] * v / w),

a unit-L2-norm image. The code visits bins in row-major order and writes the same image to
both members of a pair, so the ``+0.5j`` always lands on the member with the smaller
row-major index (the pair's *representative*); we do the same, so ``U(i, j)`` and
``U(partner)`` are the same array. On 32x32 there are 514 distinct basis images.

Partner of a centred index (per axis of size ``n``): ``(n - i) mod n`` for even ``n`` (index
0 is the Nyquist bin, its own partner) and ``n - 1 - i`` for odd ``n`` (frequency
``i - n // 2`` maps to ``-(i - n // 2)``, i.e. index ``2 * (n // 2) - i``).
"""

from __future__ import annotations

import math
from typing import Any

import torch

from bandlimit._checks import check_positive_int
from bandlimit.spectral.transforms import _matmul_may_lose_precision, dtype_device, frozen_cache

__all__ = ["fourier_basis", "fourier_basis_pairs", "fourier_basis_stack", "fourier_partner", "fourier_partner_index"]


def _check_size(h: Any, w: Any) -> tuple[int, int]:
    return check_positive_int(h, "h"), check_positive_int(w, "w")


def _check_index(value: Any, name: str, n: int, axis: str) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.is_floating_point():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer index in [0, {n - 1}], got {value!r}")
    if not 0 <= value < n:
        raise ValueError(f"{name}: expected a centred {axis} index in [0, {n - 1}] (DC at {n // 2}), got {value}")
    return value


def _partner_1d(idx: Any, n: int) -> Any:
    # Works on ints and on integer tensors alike.
    return (n - idx) % n if n % 2 == 0 else n - 1 - idx


def fourier_partner(h: int, w: int, i: int, j: int) -> tuple[int, int]:
    """Centred index of the conjugate partner of bin ``(i, j)`` on an ``h x w`` grid.

    The partner holds frequency ``-k`` where ``(i, j)`` holds ``k``. Per axis of size ``n``:
    ``(n - i) mod n`` if ``n`` is even, ``n - 1 - i`` if ``n`` is odd (as in Yin et al.'s
    ``_get_symmetric_pos``). DC and, for even sizes, the Nyquist bins are their own partners.

    Args:
        h: Grid height.
        w: Grid width.
        i: Centred row index in ``[0, h)``.
        j: Centred column index in ``[0, w)``.

    Returns:
        ``(i2, j2)``, the partner's centred index.

    Raises:
        TypeError: a size or index is not an integer.
        ValueError: a size is < 1 or an index is out of range.

    Example:
        >>> fourier_partner(32, 32, 16, 17)
        (16, 15)
    """
    h, w = _check_size(h, w)
    i = _check_index(i, "i", h, "row")
    j = _check_index(j, "j", w, "column")
    return _partner_1d(i, h), _partner_1d(j, w)


def fourier_partner_index(n: int, *, device: torch.device | str | None = None) -> torch.Tensor:
    """Per-axis conjugate partners of all centred indices: ``out[i]`` is the partner of ``i``.

    The vectorised form of :func:`fourier_partner` (same rule), for masks and cell lists:
    ``mask[fourier_partner_index(h)][:, fourier_partner_index(w)]`` is ``mask`` seen at ``-k``,
    and ``fourier_partner_index(h)[cells[:, 0]]`` the partner rows of a ``(P, 2)`` cell list.

    Args:
        n: Axis size (>= 1).
        device: Where to put the index tensor.

    Returns:
        ``LongTensor (n,)``.

    Example:
        >>> fourier_partner_index(4).tolist(), fourier_partner_index(5).tolist()
        ([0, 3, 2, 1], [4, 3, 2, 1, 0])
    """
    n, _ = _check_size(n, 1)
    return _partner_1d(torch.arange(n, device=device), n)


@frozen_cache
def _pairs(h: int, w: int) -> torch.Tensor:
    rows = torch.arange(h).repeat_interleave(w)
    cols = torch.arange(w).repeat(h)
    flat = rows * w + cols
    partner_flat = fourier_partner_index(h)[rows] * w + fourier_partner_index(w)[cols]
    keep = flat <= partner_flat  # the member visited first by a row-major loop
    return torch.stack([rows[keep], cols[keep]], dim=1)


def fourier_basis_pairs(h: int, w: int) -> torch.Tensor:
    """One representative centred index per conjugate pair of bins, in row-major order.

    The representative is the member with the smaller row-major index (the one Yin et al.'s
    loop visits first). Self-partnered bins (DC and Nyquist) appear once.

    Args:
        h: Grid height.
        w: Grid width.

    Returns:
        ``LongTensor (P, 2)`` of ``(i, j)`` rows on the CPU; ``P = 514`` for 32x32,
        ``P = (h*w + s) / 2`` in general with ``s`` the number of self-partnered bins.

    Raises:
        TypeError: a size is not an integer.
        ValueError: a size is < 1.
    """
    h, w = _check_size(h, w)
    return _pairs(h, w).clone()


def _representative(cells: torch.Tensor, h: int, w: int) -> torch.Tensor:
    pi = fourier_partner_index(h, device=cells.device)[cells[:, 0]]
    pj = fourier_partner_index(w, device=cells.device)[cells[:, 1]]
    first = (cells[:, 0] * w + cells[:, 1]) <= (pi * w + pj)
    return torch.where(first.unsqueeze(1), cells, torch.stack([pi, pj], dim=1))


def _check_cells(cells: Any, h: int, w: int) -> torch.Tensor:
    if not isinstance(cells, torch.Tensor):
        try:
            cells = torch.as_tensor(cells)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"cells: expected an integer tensor of shape (P, 2), got {type(cells).__name__}") from err
    if cells.dtype.is_floating_point or cells.dtype.is_complex or cells.dtype == torch.bool:
        raise TypeError(f"cells: expected an integer tensor of shape (P, 2), got {cells.dtype}")
    if cells.dim() != 2 or cells.shape[1] != 2:
        raise ValueError(f"cells: expected shape (P, 2) of (i, j) rows, got {tuple(cells.shape)}")
    return cells.long()


def _check_cell_range(cells: torch.Tensor, h: int, w: int) -> None:
    # One host sync; callers building bases in a hot loop should pass already-checked cells
    # through the private builder instead.
    if cells.numel() == 0:
        return
    bad = (cells[:, 0] < 0) | (cells[:, 0] >= h) | (cells[:, 1] < 0) | (cells[:, 1] >= w)
    if bool(bad.any()):
        first = cells[bad][0].tolist()
        raise ValueError(
            f"cells: expected centred indices with i in [0, {h - 1}] and j in [0, {w - 1}], got {tuple(first)}"
        )


def _build_stack(cells: torch.Tensor, h: int, w: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    rep = _representative(cells.to(device), h, w)
    k1 = (rep[:, 0] - h // 2).unsqueeze(1)
    k2 = (rep[:, 1] - w // 2).unsqueeze(1)
    u = torch.arange(h, device=device).unsqueeze(0)
    v = torch.arange(w, device=device).unsqueeze(0)
    # theta = a + b with a = 2 pi k1 u / h and b = 2 pi k2 v / w. The integer products are
    # reduced modulo h (w) first so the float64 angles stay in [0, 2 pi) at full precision.
    a = torch.remainder(k1 * u, h).to(torch.float64) * (2.0 * math.pi / h)
    b = torch.remainder(k2 * v, w).to(torch.float64) * (2.0 * math.pi / w)
    # cos(a + b) - sin(a + b) = cos a (cos b - sin b) - sin a (cos b + sin b): a rank-2
    # product of per-row and per-column factors, so the (P, h, w) stack costs a few
    # multiply-adds per pixel instead of P*h*w transcendental evaluations.
    work = torch.float64 if dtype == torch.float64 else torch.float32
    scale = 1.0 / math.sqrt(h * w)
    rows = torch.stack([torch.cos(a), -torch.sin(a)], dim=2).to(work)  # (P, h, 2)
    cols = (torch.stack([torch.cos(b) - torch.sin(b), torch.cos(b) + torch.sin(b)], dim=1) * scale).to(work)
    if _matmul_may_lose_precision(rows):
        # A CUDA float32 matmul may run in TF32 and lose three digits: stay elementwise.
        return (rows[..., :1] * cols[:, :1] + rows[..., 1:] * cols[:, 1:]).to(dtype)
    return torch.bmm(rows, cols).to(dtype)  # fastest on CPU (10x the elementwise form)


def fourier_basis_stack(
    h: int,
    w: int,
    cells: torch.Tensor,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Yin et al.'s Fourier basis images for many centred indices at once (vectorised).

    Args:
        h: Grid height.
        w: Grid width.
        cells: Integer tensor ``(P, 2)`` of centred ``(i, j)`` indices (any member of a pair
            gives the same image).
        dtype: Floating dtype of the result (default: ``torch.get_default_dtype()``).
        device: Device of the result (default: the device of ``cells``).

    Returns:
        Tensor ``(P, h, w)``; each slice has unit L2 norm and equals ``fourier_basis``.

    Raises:
        TypeError: ``cells`` is not an integer tensor, or a size is not an integer.
        ValueError: wrong ``cells`` shape, a size < 1 or an index out of range.
    """
    h, w = _check_size(h, w)
    cells = _check_cells(cells, h, w)
    _check_cell_range(cells, h, w)
    dtype = torch.get_default_dtype() if dtype is None else dtype
    if not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating dtype (float32 or float64), got {dtype}")
    device = cells.device if device is None else torch.device(device)
    return _build_stack(cells, h, w, dtype, device)


def fourier_basis(
    h: int,
    w: int,
    i: int,
    j: int,
    *,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Yin et al.'s real Fourier basis image ``U(i, j)`` on an ``h x w`` grid.

    ``U[u, v] = (cos(theta) - sin(theta)) / sqrt(h w)`` with
    ``theta = 2 pi (k1 u / h + k2 v / w)`` and ``(k1, k2) = (i - h // 2, j - w // 2)`` taken
    at the pair's representative (the member with the smaller row-major index), so
    ``fourier_basis(h, w, *fourier_partner(h, w, i, j))`` is the same array. Its centred
    spectrum is supported on ``(i, j)`` and its partner only.

    Args:
        h: Grid height.
        w: Grid width.
        i: Centred row index in ``[0, h)`` (DC at ``h // 2``).
        j: Centred column index in ``[0, w)`` (DC at ``w // 2``).
        dtype: Floating dtype (default: ``torch.get_default_dtype()``).
        device: Device (default: CPU).

    Returns:
        Real tensor ``(h, w)`` with unit L2 norm.

    Raises:
        TypeError: a size or index is not an integer.
        ValueError: a size is < 1 or an index is out of range.

    Example:
        >>> u = fourier_basis(32, 32, 16, 16)  # DC: a constant image
        >>> round(float(u[0, 0]) * 32, 6)
        1.0
    """
    h, w = _check_size(h, w)
    i = _check_index(i, "i", h, "row")
    j = _check_index(j, "j", w, "column")
    dtype, device = dtype_device(dtype, device)
    if not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating dtype (float32 or float64), got {dtype}")
    return _build_stack(torch.tensor([[i, j]]), h, w, dtype, device)[0]
