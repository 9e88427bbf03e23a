"""First-layer kernel smoothing, the "weights filtering" defence of Wang et al. (2020).

Paper: Wang, Wu, Huang & Xing, "High-frequency Component Helps Explain the Generalization of
CNNs", CVPR 2020.

Every spatial kernel w of the first convolution is replaced, post hoc and without retraining,
by ``w ⊛ M_ρ`` with ``M_ρ = [[ρ, ρ, ρ], [ρ, 1, ρ], [ρ, ρ, ρ]]`` ('same' size, symmetric
boundary), i.e. ``w'_ij = w_ij + ρ · (sum of the 8 neighbours, reflected at the borders)``.
The smoothed kernel responds less to high input frequencies.

The convolution acts on each (out, in) pair's kH×kW *spatial* kernel. (The co-author's PyTorch
port applies the routine to the (out, in) plane at each spatial tap instead, a bug; see
reference/papers.md §2.)

With a one-pixel border, symmetric reflection (scipy ``boundary="symm"``) repeats the edge
value, which is exactly ``replicate`` padding; so the operation is one grouped ``conv2d`` on a
replicate-padded weight. Under that boundary every kernel entry is counted 8 times as a
neighbour, so the kernel's sum grows by exactly (1 + 8ρ): ``preserve_norm="sum"`` divides by it
(keeping every kernel's DC gain), ``preserve_norm="l2"`` rescales each kernel back to its own
L2 norm. The paper's variant (no renormalisation) is harmless in its BatchNorm-free network
(ReLU homogeneity only rescales the logits) but shifts activations against the fixed
statistics of an eval-mode BatchNorm, so use a norm-preserving variant there.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bandlimit._checks import check_nonnegative, check_tensor_rank

__all__ = ["SMOOTHING", "find_first_conv", "smooth_first_conv", "smooth_kernels", "smoothing_kernel"]

#: The name :data:`defenses.DEFENSES` knows :func:`smooth_first_conv` by.
SMOOTHING = "smooth"

_PRESERVE = (False, "sum", "l2")


def smoothing_kernel(
    rho: float, *, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None
) -> Tensor:
    """The 3×3 smoothing mask ``M_ρ = [[ρ, ρ, ρ], [ρ, 1, ρ], [ρ, ρ, ρ]]``.

    Raises:
        ValueError: ``rho`` is negative or not finite.
    """
    rho = check_nonnegative(rho, "rho")
    m = torch.full((3, 3), rho, dtype=dtype, device=device)
    m[1, 1] = 1.0
    return m


def smooth_kernels(weight: Tensor, rho: float, *, preserve_norm: bool | str = False) -> Tensor:
    """Convolve every spatial kernel of a conv weight with ``M_ρ`` (symmetric boundary).

    Args:
        weight: Convolution weight ``(..., kH, kW)`` with kH, kW ≥ 2, e.g. ``(out, in, 3, 3)``.
        rho: Smoothing strength ρ ≥ 0 (0 returns a copy of ``weight``).
        preserve_norm: ``False`` (the paper: no renormalisation), ``"sum"`` (divide by
            1 + 8ρ, which keeps each kernel's sum, its response to a constant input) or
            ``"l2"`` (rescale each kernel to its original L2 norm; all-zero kernels stay zero).

    Returns:
        A new tensor of the same shape, dtype and device (no autograd history).

    Raises:
        TypeError: ``weight`` is not a floating tensor.
        ValueError: fewer than 2 dims, a spatial size below 2, bad ``rho`` or
            ``preserve_norm``.
    """
    check_tensor_rank(weight, "weight", min_rank=2)
    rho = check_nonnegative(rho, "rho")
    if not (preserve_norm is False or (isinstance(preserve_norm, str) and preserve_norm in _PRESERVE)):
        raise ValueError(f"preserve_norm: expected one of False, 'sum', 'l2', got {preserve_norm!r}")
    kh, kw = weight.shape[-2:]
    if kh < 2 or kw < 2:
        raise ValueError(
            f"weight: expected spatial kernels of at least 2x2 to smooth, got {kh}x{kw}; "
            "smoothing a 1-pixel kernel only rescales it (pick another layer with layer=...)"
        )
    with torch.no_grad():
        w = weight.detach().reshape(-1, 1, kh, kw)
        # Symmetric reflection by one pixel == replicate padding (edge repeated, corners too).
        padded = F.pad(w, (1, 1, 1, 1), mode="replicate")
        mask = smoothing_kernel(rho, dtype=w.dtype, device=w.device)
        # M_ρ is symmetric, so cross-correlation (conv2d) equals convolution.
        out = F.conv2d(padded, mask.view(1, 1, 3, 3))
        if preserve_norm == "sum":
            out = out / (1.0 + 8.0 * rho)
        elif preserve_norm == "l2":
            before = torch.linalg.vector_norm(w, dim=(-2, -1), keepdim=True)
            after = torch.linalg.vector_norm(out, dim=(-2, -1), keepdim=True)
            out = out * torch.where(after > 0, before / after.clamp_min(1e-30), 0.0)
        return out.reshape(weight.shape).clone()


def find_first_conv(model: nn.Module, layer: str | None = None) -> tuple[str, nn.Conv2d]:
    """Return ``(name, module)`` of the first ``nn.Conv2d`` in module order, or of ``layer``.

    Raises:
        ValueError: no Conv2d in the model, or ``layer`` missing or not a Conv2d.
    """
    if layer is not None:
        modules = dict(model.named_modules())
        if layer not in modules:
            convs = [n for n, m in modules.items() if isinstance(m, nn.Conv2d)]
            raise ValueError(f"layer: expected the name of a Conv2d in the model {convs}, got {layer!r}")
        found = modules[layer]
        if not isinstance(found, nn.Conv2d):
            raise ValueError(f"layer: expected an nn.Conv2d, got {layer!r} = {type(found).__name__}")
        return layer, found
    for name, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return name, module
    raise ValueError(
        f"model: expected a model with an nn.Conv2d layer to smooth, got {type(model).__name__} without one"
    )


def smooth_first_conv(
    model: nn.Module,
    rho: float,
    *,
    preserve_norm: bool | str = False,
    layer: str | None = None,
) -> nn.Module:
    """Return a deep copy of ``model`` whose first convolution's kernels are smoothed.

    Args:
        model: Any model with an ``nn.Conv2d``; it is left untouched.
        rho: Smoothing strength ρ ≥ 0 (the paper uses values such as 0.1, 0.25, 0.5, 1.0).
        preserve_norm: ``False`` (the paper), ``"sum"`` or ``"l2"``; see :func:`smooth_kernels`.
        layer: Name (as in ``model.named_modules()``) of the Conv2d to smooth instead of the
            first one in module order.

    Returns:
        The smoothed copy (same training mode and device). If the model carries
        ``bandlimit_meta``, the copy's records the smoothing settings under ``"defense"``.

    Raises:
        TypeError: ``model`` is not an ``nn.Module``.
        ValueError: bad ``rho``/``preserve_norm``, no suitable Conv2d, or 1-pixel kernels.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    rho = check_nonnegative(rho, "rho")
    name, conv = find_first_conv(model, layer)
    # Validate on the original before paying for the copy.
    smoothed = smooth_kernels(conv.weight, rho, preserve_norm=preserve_norm)
    out = copy.deepcopy(model)
    target = out.get_submodule(name) if name else out
    with torch.no_grad():
        target.weight.copy_(smoothed)
    meta = getattr(out, "bandlimit_meta", None)
    if isinstance(meta, dict):
        info: dict[str, Any] = {
            "name": "kernel_smoothing",
            "rho": rho,
            "preserve_norm": preserve_norm,
            "layer": name,
        }
        out.bandlimit_meta = {**meta, "defense": info}
    return out
