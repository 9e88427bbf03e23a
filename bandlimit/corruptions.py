"""CIFAR-10-C-style common corruptions at severities 1-5, batched on ``(N, C, H, W)`` tensors.

**Our implementation; it is not the published CIFAR-10-C.** It follows the corruption
families and CIFAR-sized parameters of Hendrycks & Dietterich (ICLR 2019, "Benchmarking
Neural Network Robustness to Common Corruptions and Perturbations") as best we know them
(the values in ``_PARAMS`` are from our reading of their CIFAR generation script, not
verified against it), written from scratch in torch. Differences from the published data:

* **Numerics.** The published set was made with numpy/scikit-image/OpenCV/Wand on uint8
  PIL images and saved as uint8; we work in float on [0, 1] tensors and never round
  (except for JPEG). Blur borders: ``gaussian_blur`` pads by edge replication (scikit-image's
  ``mode="nearest"``), ``defocus_blur`` by reflection (OpenCV's default border).
* **Random streams.** Every random draw comes from the ``generator`` you pass, so the
  noise realisations differ from the published ones (statistically the same).
* **Fog.** The published fog adds a diamond-square "plasma fractal". We add a Gaussian
  random field with amplitude spectrum ``|f|^(-log2 d)`` (``d`` = the fractal's decay
  parameter: each octave up, the plasma's displacement shrinks by ``1/d``), min-max
  normalised to [0, 1] per image. Same spectral slope, no square artefacts, one FFT per batch.
* **JPEG** goes through PIL (as the published set did) one image at a time on the CPU, from
  the image rounded to uint8; the libjpeg version may differ from theirs.
* **Pixelate** uses our own separable box resampling (each output pixel averages the input
  pixels whose centres fall in its footprint, at least one), which is how we understand
  PIL's ``BOX`` filter.
* **Missing families.** Motion, zoom and glass blur, snow, frost, spatter and elastic
  transform are not implemented (they need external assets or slow per-pixel loops).

Corruptions act per image on RGB images in [0, 1] and return the input's shape, dtype and
device, clipped to [0, 1]. ``brightness`` and ``saturate`` need 3 channels (they go through
HSV).

Example:
    >>> gen = torch.Generator().manual_seed(0)
    >>> x_c = corrupt(x, "gaussian_noise", 3, generator=gen)
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from bandlimit._checks import check_choice, check_images

__all__ = ["CATEGORIES", "CORRUPTIONS", "SEVERITIES", "corrupt", "corruption_parameters", "plasma_noise"]

#: Valid severities.
SEVERITIES = (1, 2, 3, 4, 5)

# Per-severity parameters (index = severity - 1), CIFAR-sized values; see the module docstring.
_PARAMS: dict[str, tuple[object, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),  # noise std
    "shot_noise": (500.0, 250.0, 100.0, 75.0, 50.0),  # photons per unit intensity
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),  # fraction of values set to 0 or 1
    "speckle_noise": (0.06, 0.10, 0.12, 0.16, 0.20),  # multiplicative noise std
    "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),  # sigma in pixels
    "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1)),  # (disk radius, alias sigma)
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),  # factor on the deviation from the channel mean
    "fog": ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75)),  # (strength, fractal decay)
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),  # added to the HSV value
    "saturate": ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.0)),  # S -> S * a + b
    "jpeg_compression": (80, 65, 58, 50, 40),  # JPEG quality
    "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),  # downscale factor
}

#: Corruption names by family (Hendrycks & Dietterich's grouping; saturate is one of their extras).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise"),
    "blur": ("defocus_blur", "gaussian_blur"),
    "weather": ("fog", "brightness"),
    "digital": ("contrast", "saturate", "jpeg_compression", "pixelate"),
}

#: Every implemented corruption name.
CORRUPTIONS: tuple[str, ...] = tuple(_PARAMS)

_Fn = Callable[[torch.Tensor, object, "torch.Generator | None"], torch.Tensor]


def corrupt(x: torch.Tensor, name: str, severity: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (1-5) to a batch of images.

    Args:
        x: Images ``(N, C, H, W)`` in [0, 1], float32 or float64, any device.
        name: One of :data:`CORRUPTIONS`.
        severity: Integer 1 (mild) to 5 (strong).
        generator: Source of randomness for the stochastic corruptions (noise, fog); pass a
            seeded one for reproducible output. Deterministic corruptions ignore it.

    Returns:
        Corrupted images, same shape, dtype and device as ``x``, in [0, 1].

    Raises:
        TypeError: ``x`` is not a floating tensor, or ``severity`` is not an integer.
        ValueError: bad shape or range, unknown ``name`` (the message lists the known ones),
            severity outside 1-5, or fewer than 3 channels for ``brightness`` / ``saturate``.
    """
    check_images(x)
    check_choice(name, "name", CORRUPTIONS)
    param = corruption_parameters(name)[_check_severity(severity) - 1]
    if name in ("brightness", "saturate") and x.shape[1] != 3:
        raise ValueError(f"x: expected 3 (RGB) channels for {name}, got {x.shape[1]}")
    out = _FUNCTIONS[name](x, param, generator)
    return out.clamp_(0.0, 1.0).to(x.dtype)


def corruption_parameters(name: str) -> tuple[object, ...]:
    """The five per-severity parameters of corruption ``name`` (see the module docstring)."""
    return _PARAMS[check_choice(name, "name", CORRUPTIONS)]


def _check_severity(severity: object) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int):
        raise TypeError(f"severity: expected an integer in 1..5, got {severity!r}")
    if severity not in SEVERITIES:
        raise ValueError(f"severity: expected an integer in 1..5, got {severity}")
    return severity


# --------------------------------------------------------------------------- noise


def _gaussian_noise(x: torch.Tensor, std: object, gen: torch.Generator | None) -> torch.Tensor:
    return x + float(std) * _randn_like(x, gen)  # type: ignore[arg-type]


def _shot_noise(x: torch.Tensor, photons: object, gen: torch.Generator | None) -> torch.Tensor:
    rate = float(photons)  # type: ignore[arg-type]
    # torch.poisson runs on the input's device; the generator must live there too.
    return torch.poisson(x * rate, generator=gen) / rate


def _impulse_noise(x: torch.Tensor, amount: object, gen: torch.Generator | None) -> torch.Tensor:
    # Salt and pepper on every value (each channel separately), half salt and half pepper.
    hit = _rand_like(x, gen) < float(amount)  # type: ignore[arg-type]
    salt = _rand_like(x, gen) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


def _speckle_noise(x: torch.Tensor, std: object, gen: torch.Generator | None) -> torch.Tensor:
    return x + x * float(std) * _randn_like(x, gen)  # type: ignore[arg-type]


def _rand_like(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    return torch.rand(x.shape, generator=gen, dtype=x.dtype, device=x.device)


def _randn_like(x: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    return torch.randn(x.shape, generator=gen, dtype=x.dtype, device=x.device)


# --------------------------------------------------------------------------- blur


def _depthwise(x: torch.Tensor, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """Convolve every channel with the same odd-sized 2-D ``kernel`` (padding ``mode``)."""
    kh, kw = kernel.shape
    c = x.shape[1]
    padded = F.pad(x, (kw // 2, kw // 2, kh // 2, kh // 2), mode=mode)
    weight = kernel.to(x.dtype).expand(c, 1, kh, kw)
    return F.conv2d(padded, weight, groups=c)


def _gaussian_kernel_1d(sigma: float, radius: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    t = torch.arange(-radius, radius + 1, dtype=dtype, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _gaussian_blur(x: torch.Tensor, sigma: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    s = float(sigma)  # type: ignore[arg-type]
    radius = int(4.0 * s + 0.5)  # truncate at 4 sigma, like scikit-image
    k = _gaussian_kernel_1d(s, radius, x.dtype, x.device)
    # Replicate padding can only reach one image width; blurs are far smaller than CIFAR images.
    return _depthwise(x, torch.outer(k, k), "replicate")


def _defocus_blur(x: torch.Tensor, param: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    radius, alias_sigma = param  # type: ignore[misc]
    half = math.ceil(radius) + 1  # the 3x3 anti-alias blur widens the disk by one pixel
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    disk = ((t[:, None] ** 2 + t[None, :] ** 2) <= radius**2).double()
    disk /= disk.sum()
    alias = _gaussian_kernel_1d(alias_sigma, 1, torch.float64, torch.device("cpu"))
    kernel = F.conv2d(disk[None, None], torch.outer(alias, alias)[None, None], padding=1)[0, 0]
    return _depthwise(x, kernel.to(device=x.device), "reflect")


# --------------------------------------------------------------------------- weather


def plasma_noise(
    n: int,
    height: int,
    width: int,
    *,
    decay: float,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Random low-frequency "plasma" fields ``(n, height, width)`` min-max normalised to [0, 1].

    A Gaussian random field whose amplitude spectrum falls as ``|f|^(-log2 decay)`` (zero
    mean term): our stand-in for the diamond-square plasma fractal of CIFAR-10-C's fog.

    Args:
        n: Number of fields.
        height: Field height.
        width: Field width.
        decay: Fractal decay ``d > 1``; larger means smoother (more low-frequency).
        generator: Source of randomness.
        dtype: Output dtype.
        device: Output device.
    """
    if not decay > 1:
        raise ValueError(f"decay: expected a value > 1, got {decay}")
    noise = torch.randn(n, height, width, generator=generator, dtype=torch.float64, device=device)
    fy = torch.fft.fftfreq(height, dtype=torch.float64, device=noise.device) * height
    fx = torch.fft.fftfreq(width, dtype=torch.float64, device=noise.device) * width
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    gain = torch.where(radius > 0, radius.clamp_min(1.0) ** -math.log2(decay), torch.zeros_like(radius))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * gain).real
    lo = field.amin(dim=(1, 2), keepdim=True)
    hi = field.amax(dim=(1, 2), keepdim=True)
    return ((field - lo) / (hi - lo).clamp_min(1e-12)).to(dtype)


def _fog(x: torch.Tensor, param: object, gen: torch.Generator | None) -> torch.Tensor:
    strength, decay = param  # type: ignore[misc]
    n, _, h, w = x.shape
    field = plasma_noise(n, h, w, decay=decay, generator=gen, dtype=x.dtype, device=x.device)
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    # Rescale so the brightest clean pixel stays about where it was (as the published fog does).
    return (x + strength * field[:, None]) * peak / (peak + strength)


def _brightness(x: torch.Tensor, shift: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    h, s, v = _rgb_to_hsv(x)
    return _hsv_to_rgb(h, s, (v + float(shift)).clamp(0.0, 1.0))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- digital


def _contrast(x: torch.Tensor, factor: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    mean = x.mean(dim=(2, 3), keepdim=True)  # per image and channel
    return (x - mean) * float(factor) + mean  # type: ignore[arg-type]


def _saturate(x: torch.Tensor, param: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    scale, shift = param  # type: ignore[misc]
    h, s, v = _rgb_to_hsv(x)
    return _hsv_to_rgb(h, (s * scale + shift).clamp(0.0, 1.0), v)


def _jpeg(x: torch.Tensor, quality: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    images = (x.detach() * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    decoded = []
    for image in images:
        buffer = io.BytesIO()
        mode = "L" if image.shape[-1] == 1 else None
        Image.fromarray(image.squeeze(-1) if mode else image, mode=mode).save(
            buffer,
            format="JPEG",
            quality=int(quality),  # type: ignore[call-overload]
        )
        with Image.open(buffer) as img:
            decoded.append(torch.from_numpy(np.asarray(img).copy()))
    out = torch.stack(decoded)
    out = out[..., None] if out.dim() == 3 else out
    return out.permute(0, 3, 1, 2).to(device=x.device, dtype=x.dtype) / 255.0


def _box_matrix(n_in: int, n_out: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``(n_out, n_in)`` box-resampling weights: each output averages the input centres in its footprint."""
    scale = n_in / n_out
    half = 0.5 * max(scale, 1.0)  # upsampling: at least the nearest input pixel
    centres_out = (torch.arange(n_out, dtype=torch.float64) + 0.5) * scale
    centres_in = torch.arange(n_in, dtype=torch.float64) + 0.5
    offset = centres_in[None, :] - centres_out[:, None]
    weight = ((offset > -half) & (offset <= half)).double()
    return (weight / weight.sum(dim=1, keepdim=True)).to(dtype=dtype, device=device)


def _pixelate(x: torch.Tensor, factor: object, gen: torch.Generator | None) -> torch.Tensor:
    del gen
    h, w = x.shape[-2:]
    sh, sw = max(1, int(h * float(factor))), max(1, int(w * float(factor)))  # type: ignore[arg-type]
    down_h, down_w = _box_matrix(h, sh, x.dtype, x.device), _box_matrix(w, sw, x.dtype, x.device)
    up_h, up_w = _box_matrix(sh, h, x.dtype, x.device), _box_matrix(sw, w, x.dtype, x.device)
    small = down_h @ x @ down_w.T
    return up_h @ small @ up_w.T


# --------------------------------------------------------------------------- colour


def _rgb_to_hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Hue in [0, 1), saturation and value, each ``(N, H, W)`` (the colorsys convention)."""
    r, g, b = x.unbind(dim=1)
    v, argmax = x.max(dim=1)
    delta = v - x.min(dim=1).values
    s = torch.where(v > 0, delta / v.clamp_min(1e-12), torch.zeros_like(v))
    safe = delta.clamp_min(1e-12)
    hue_r = ((g - b) / safe) % 6.0
    hue_g = (b - r) / safe + 2.0
    hue_b = (r - g) / safe + 4.0
    hue = torch.where(argmax == 0, hue_r, torch.where(argmax == 1, hue_g, hue_b)) / 6.0
    hue = torch.where(delta > 0, hue, torch.zeros_like(hue))
    return hue, s, v


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    h6 = (h % 1.0) * 6.0
    sector = torch.floor(h6)
    f = h6 - sector
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    sector = sector.long() % 6
    # Per sector (0..5) the (r, g, b) are (v,t,p), (q,v,p), (p,v,t), (p,q,v), (t,p,v), (v,p,q).
    table = torch.stack(
        [
            torch.stack([v, q, p, p, t, v]),
            torch.stack([t, v, v, q, p, p]),
            torch.stack([p, p, t, v, v, q]),
        ]
    )  # (3, 6, N, H, W)
    index = sector[None, None].expand(3, 1, *sector.shape)
    return table.gather(1, index)[:, 0].permute(1, 0, 2, 3)


_FUNCTIONS: dict[str, _Fn] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "speckle_noise": _speckle_noise,
    "gaussian_blur": _gaussian_blur,
    "defocus_blur": _defocus_blur,
    "contrast": _contrast,
    "fog": _fog,
    "brightness": _brightness,
    "saturate": _saturate,
    "jpeg_compression": _jpeg,
    "pixelate": _pixelate,
}
