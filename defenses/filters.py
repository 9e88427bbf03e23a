"""Frequency-filter input layers: ``LowPassFilter(model, bandwidth=16)`` (the defended model).

Like :class:`defenses.PostAveraging`, a filter given a model wraps it: the result is the
defended model, filter first. Without a model it is the bare input layer, to compose by hand
(``nn.Sequential(LowPassFilter(bandwidth=16), model)`` computes the same function).

A filter layer is a fixed linear projection of every colour channel's 2-D spectrum, computed
with ``torch.fft`` and therefore differentiable: white-box attacks see straight through it (its
Jacobian is the filter itself), so it cannot hide gradients. The masks are those of
:func:`bandlimit.spectral.frequency_mask` (centred, 1 = keep); the layers equal
:func:`bandlimit.spectral.lowpass` / :func:`bandlimit.spectral.highpass` with the same settings.

Each layer keeps its mask as a non-persistent buffer (never in ``state_dict``, so wrapping a
model does not change its checkpoint keys), built on the first call for the input's size,
dtype and device and rebuilt when those change. The mask is stored in the half-spectrum
layout of ``torch.fft.rfft2`` (:func:`bandlimit.spectral.rfft_mask`, applied with
:func:`bandlimit.spectral.apply_rfft_mask`), which halves the FFT work and makes the output
real by construction (the masks are conjugate-symmetric).

Output range. A filtered [0, 1] image can leave [0, 1]: an ideal low-pass rings (Gibbs) and
slightly overshoots, and a high-pass image is roughly zero-mean with negative values. By
default the output is *not* clamped (``clamp=False``): the layer then stays an exact linear
projection, the gradient attacks see is exact everywhere, and bandlimit models (normalisation as
their first layer) accept any real input. ``clamp=True`` clips to [0, 1] for models that
assume it; its gradient is zero at clipped pixels, so report it when evaluating. Clamping a
high-pass output destroys its negative half and is rarely what you want.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from bandlimit._checks import check_bool
from bandlimit.spectral import apply_rfft_mask, frequency_mask, rfft_mask
from bandlimit.spectral.masks import check_mask_settings
from bandlimit.spectral.transforms import check_spatial
from defenses._layer import DefenceLayer

__all__ = ["HighPassFilter", "LowPassFilter", "with_input_filter"]


class _FrequencyFilter(DefenceLayer):
    """Shared machinery of the low- and high-pass layers (mask buffer, forward)."""

    settings = ("bandwidth", "radius", "shape", "order", "clamp")

    #: The name :data:`defenses.DEFENSES` knows the layer (wrapped around a model) by.
    name: ClassVar[str]
    highpass: ClassVar[bool] = False
    mask: Tensor | None

    def __init__(
        self,
        model: nn.Module | None = None,
        *,
        bandwidth: float | None = None,
        radius: float | None = None,
        shape: str = "square",
        order: int = 2,
        clamp: bool = False,
        **unknown: Any,
    ) -> None:
        super().__init__()
        if unknown:  # named here, with the valid keys: Python's own message names a private base class
            raise TypeError(
                f"{type(self).__name__}: unknown setting(s) {sorted(unknown)}; "
                f"valid settings: {', '.join(self.settings)}"
            )
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(
                f"model: expected a torch.nn.Module to wrap (or None for the bare layer), got "
                f"{type(model).__name__}; settings are keywords: {type(self).__name__}(model, bandwidth=16)"
            )
        self.shape, self.bandwidth, self.radius, self.order = check_mask_settings(shape, bandwidth, radius, order)
        self.clamp = check_bool(clamp, "clamp")
        self.register_buffer("mask", None, persistent=False)
        self._mask_hw: tuple[int, int] | None = None
        self.model = model
        meta = getattr(model, "bandlimit_meta", None)
        if isinstance(meta, dict):
            self.bandlimit_meta = {**meta, "defense": {"name": type(self).__name__, **self.config}}

    def extra_repr(self) -> str:
        """Settings shown by ``repr`` (unset bandwidth/radius omitted)."""
        return ", ".join(f"{k}={v!r}" for k, v in self.config.items() if v is not None)

    def spectral_mask(self, h: int, w: int, *, dtype: torch.dtype | None = None, device: Any = None) -> Tensor:
        """The centred ``(h, w)`` mask this layer applies (1 = keep), for inspection or plots.

        Raises:
            ValueError: the bandwidth or radius does not fit an ``h`` x ``w`` image.
        """
        low = frequency_mask(
            h, w, shape=self.shape, bandwidth=self.bandwidth, radius=self.radius, order=self.order,
            dtype=dtype, device=device,
        )  # fmt: skip
        return 1.0 - low if self.highpass else low

    def _half_mask(self, x: Tensor) -> Tensor:
        """The mask in rfft2 layout for ``x``'s size/dtype/device, (re)building the buffer."""
        h, w = x.shape[-2], x.shape[-1]
        mask = self.mask
        if mask is None or self._mask_hw != (h, w) or mask.dtype != x.dtype or mask.device != x.device:
            # Built outside inference mode: an inference tensor kept as a buffer would break a
            # later differentiable call (an attack's backward pass).
            with torch.inference_mode(False), torch.no_grad():
                mask = rfft_mask(
                    h, w, shape=self.shape, bandwidth=self.bandwidth, radius=self.radius, order=self.order,
                    highpass=self.highpass, dtype=x.dtype, device=x.device,
                )  # fmt: skip
            self.register_buffer("mask", mask, persistent=False)
            self._mask_hw = (h, w)
        return mask

    def forward(self, x: Tensor) -> Tensor:
        """Filter every channel of ``x`` ``(..., H, W)`` over its last two dims (then the model, if wrapped)."""
        check_spatial(x)
        out = apply_rfft_mask(x, self._half_mask(x))
        out = out.clamp(0.0, 1.0) if self.clamp else out
        return out if self.model is None else self.model(out)


class LowPassFilter(_FrequencyFilter):
    """Low-pass input layer: keeps the frequencies inside a centred band.

    Equals :func:`bandlimit.spectral.lowpass` with the same settings (then clamps if asked).

    Args:
        model: The model to defend (``[0, 1]`` images to logits): the layer then returns
            ``model(filtered x)``. None: the bare layer (returns the filtered images).
        bandwidth: Side B of the kept centred square of frequencies, in ``(0, max(H, W)]``.
        radius: Radius r = B / 2 in frequency bins (give exactly one of the two).
        shape: ``"square"`` (Yin et al., default), ``"disc"`` (Wang et al., strict ``<``),
            ``"gaussian"`` (r = standard deviation) or ``"butterworth"`` (r = half-power cutoff).
        order: Butterworth order (ignored by other shapes).
        clamp: Clip the output to [0, 1] (default False; see the module docstring).

    Raises:
        TypeError: ``model`` is not an ``nn.Module`` (settings are keywords).
        ValueError: both or neither of bandwidth/radius, non-positive values, unknown shape;
            at the first call, a bandwidth or radius too large for the image.

    Example:
        >>> defended = LowPassFilter(model, bandwidth=16)  # doctest: +SKIP
        >>> layer = LowPassFilter(bandwidth=16)  # the bare input layer  # doctest: +SKIP
    """

    name = "lowpass"
    highpass = False


class HighPassFilter(_FrequencyFilter):
    """High-pass input layer: removes the band a :class:`LowPassFilter` of the same settings keeps.

    Its mask is ``1 - m``, so ``LowPassFilter(**kw)(x) + HighPassFilter(**kw)(x) == x``; it equals
    :func:`bandlimit.spectral.highpass`. Arguments as for :class:`LowPassFilter` (here B is the
    side of the *removed* centred square).
    """

    name = "highpass"
    highpass = True


def with_input_filter(model: nn.Module, layer: nn.Module) -> nn.Sequential:
    """Put an input layer in front of a model: ``nn.Sequential(layer, model)``.

    The result carries the model's ``bandlimit_meta`` (if any) with the layer's settings added
    under ``"defense"``, so results and checkpoints record what was evaluated.

    Raises:
        TypeError: ``model`` or ``layer`` is not an ``nn.Module``.
    """
    for name, obj in (("model", model), ("layer", layer)):
        if not isinstance(obj, nn.Module):
            raise TypeError(f"{name}: expected a torch.nn.Module, got {type(obj).__name__}")
    seq = nn.Sequential(layer, model)
    meta = getattr(model, "bandlimit_meta", None)
    if isinstance(meta, dict):
        info = {"name": type(layer).__name__, **getattr(layer, "config", {})}
        seq.bandlimit_meta = {**meta, "defense": info}  # type: ignore[assignment]
    return seq
