"""Orthonormal 2-D transforms over the last two dims: centred FFT and type-II DCT.

Every function here is pure, batched over any leading dims, differentiable and
device-agnostic. Conventions (see ``docs/architecture.md``):

* ``fft2c`` is the orthonormal 2-D DFT with the spectrum centred, i.e.
  ``fftshift(fft2(x, norm="ortho"))``: the DC term sits at index ``(H // 2, W // 2)`` for
  even and odd sizes alike, and index ``i`` stands for frequency ``i - H // 2``.
* ``dct2`` is the orthonormal type-II DCT, equal to
  ``scipy.fft.dctn(x, axes=(-2, -1), norm="ortho")``; ``idct2`` is its inverse (type III).

The DCT is computed as two small matrix products with a cached orthonormal DCT matrix:
for image sides up to a few hundred pixels this is fast, exact to float rounding and
trivially differentiable. When float32 matrix products on CUDA may run in TF32
(``torch.set_float32_matmul_precision("high")``, common in training scripts) a matrix DCT
would only be accurate to ~1e-3, so float32 CUDA inputs then take an FFT-based DCT
(Makhoul 1980) that keeps full float32 accuracy.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from bandlimit._checks import check_tensor_rank

__all__ = ["dct2", "dct_matrix", "dtype_device", "fft2c", "idct2", "ifft2c"]

_T = TypeVar("_T")


def frozen_cache(fn: Callable[..., _T]) -> Callable[..., _T]:
    """Memoise a builder of constant tensors, keyed on its (hashable) arguments.

    The builder always runs outside inference mode and without autograd: a constant first
    built inside ``torch.inference_mode()`` would be an *inference tensor*, and using it
    later in a differentiable computation (an attack's backward pass) would raise
    "Inference tensors cannot be saved for backward". Callers must not mutate the result.
    """
    cached = functools.lru_cache(maxsize=128)(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any) -> _T:
        if torch.compiler.is_compiling():
            # Under torch.compile the builder is traced once into the graph (constant-folded);
            # going through lru_cache there only triggers a Dynamo warning.
            return fn(*args)
        with torch.inference_mode(False), torch.no_grad():
            return cached(*args)

    wrapper.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    return wrapper


def dtype_device(dtype: torch.dtype | None, device: torch.device | str | None) -> tuple[torch.dtype, torch.device]:
    """The defaults of every builder of constant tensors: the default dtype, the CPU."""
    return (torch.get_default_dtype() if dtype is None else dtype), torch.device("cpu" if device is None else device)


def check_spatial(x: Any, name: str = "x") -> None:
    """Check a real floating tensor with at least two dims ``(..., H, W)``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has fewer than two dims or an empty spatial size.
    """
    check_tensor_rank(x, name, min_rank=2, floating=True)
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"{name}: expected non-empty spatial dims (..., H, W), got shape {tuple(x.shape)}")


def fft2c(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal 2-D FFT over the last two dims, with the spectrum centred.

    Args:
        x: Real floating tensor ``(..., H, W)`` (float32 or float64).

    Returns:
        Complex tensor ``(..., H, W)`` (complex64 for float32 input, complex128 for float64)
        with the DC term at ``(H // 2, W // 2)``. Parseval holds: ``|X|^2`` sums to
        ``|x|^2``.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has fewer than two dims.

    Example:
        >>> X = fft2c(torch.ones(1, 3, 4, 4))
        >>> X[0, 0, 2, 2].real.item()
        4.0
    """
    check_spatial(x)
    return torch.fft.fftshift(torch.fft.fft2(x, norm="ortho"), dim=(-2, -1))


def ifft2c(spectrum: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`fft2c`: un-centre the spectrum, then orthonormal inverse 2-D FFT.

    Args:
        spectrum: Complex (or real floating) tensor ``(..., H, W)``, centred as returned by
            :func:`fft2c`.

    Returns:
        Complex tensor ``(..., H, W)``; take ``.real`` for an image (the imaginary part is
        zero up to rounding when the spectrum is conjugate-symmetric).

    Raises:
        TypeError: ``spectrum`` is neither complex nor floating point.
        ValueError: ``spectrum`` has fewer than two dims.
    """
    if not isinstance(spectrum, torch.Tensor):
        raise TypeError(f"spectrum: expected a torch.Tensor, got {type(spectrum).__name__}")
    if not (spectrum.is_complex() or spectrum.is_floating_point()):
        raise TypeError(f"spectrum: expected a complex or floating-point tensor, got {spectrum.dtype}")
    check_tensor_rank(spectrum, "spectrum", min_rank=2, floating=False)
    return torch.fft.ifft2(torch.fft.ifftshift(spectrum, dim=(-2, -1)), norm="ortho")


@frozen_cache
def _dct_matrix(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # Built in float64 on the CPU, then cast and moved once: the cosines of large n lose
    # several digits when evaluated directly in float32.
    k = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    i = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    mat = torch.cos(math.pi * (2.0 * i + 1.0) * k / (2.0 * n)) * math.sqrt(2.0 / n)
    mat[0] *= 1.0 / math.sqrt(2.0)
    return mat.to(dtype=dtype, device=device)


def dct_matrix(n: int, *, dtype: torch.dtype | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal type-II DCT matrix ``C`` of size ``(n, n)``, so ``dct(v) = C @ v``.

    ``C[k, i] = sqrt(2/n) * s_k * cos(pi * (2i + 1) * k / (2n))`` with ``s_0 = 1/sqrt(2)``,
    ``s_k = 1`` otherwise; ``C`` is orthogonal, so the inverse DCT is ``C.T``.
    Returns a fresh copy of a matrix cached per ``(n, dtype, device)``.

    Args:
        n: Transform length (>= 1).
        dtype: Floating dtype (default: ``torch.get_default_dtype()``).
        device: Target device (default: CPU).

    Returns:
        The ``(n, n)`` matrix.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an integer >= 1, got {n!r}")
    dtype = torch.get_default_dtype() if dtype is None else dtype
    return _dct_matrix(n, dtype, torch.device(device if device is not None else "cpu")).clone()


def _matmul_may_lose_precision(x: torch.Tensor) -> bool:
    """True when a float32 CUDA matmul on ``x`` may run in reduced (TF32) precision."""
    if not (x.is_cuda and x.dtype == torch.float32):
        return False
    return torch.get_float32_matmul_precision() != "highest" or bool(torch.backends.cuda.matmul.allow_tf32)


@frozen_cache
def _dct_twiddle(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    # exp(-i pi k / 2n) times the orthonormal scale of coefficient k.
    k = torch.arange(n, dtype=torch.float64)
    scale = torch.full((n,), math.sqrt(2.0 / n), dtype=torch.float64)
    scale[0] = math.sqrt(1.0 / n)
    twiddle = torch.polar(scale, -math.pi * k / (2.0 * n))
    return twiddle.to(dtype=dtype, device=device)


def _dct_last_fft(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal DCT-II along the last dim via one FFT of the even/odd-reordered signal."""
    n = x.shape[-1]
    v = torch.cat([x[..., ::2], x[..., 1::2].flip(-1)], dim=-1)
    twiddle = _dct_twiddle(n, torch.complex128 if x.dtype == torch.float64 else torch.complex64, x.device)
    return (torch.fft.fft(v, dim=-1) * twiddle).real


def _idct_last_fft(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`_dct_last_fft` (orthonormal DCT-III) along the last dim."""
    n = coeffs.shape[-1]
    twiddle = _dct_twiddle(n, torch.complex128 if coeffs.dtype == torch.float64 else torch.complex64, coeffs.device)
    # With unscaled coefficients X_k = coeffs_k / |tw_k| and X_n = 0, the FFT of the reordered
    # signal is V_k = exp(i pi k / 2n) (X_k - i X_{n-k}) (v is real, so V_{n-k} = conj(V_k)).
    unscaled = coeffs / twiddle.abs()
    flipped = torch.cat([torch.zeros_like(unscaled[..., :1]), unscaled[..., 1:].flip(-1)], dim=-1)
    spectrum = torch.complex(unscaled, -flipped) * (twiddle.conj() / twiddle.abs())
    v = torch.fft.ifft(spectrum, dim=-1).real
    half = (n + 1) // 2
    out = torch.empty_like(v)
    out[..., ::2] = v[..., :half]
    out[..., 1::2] = v[..., half:].flip(-1)
    return out


def _dct2_fft(x: torch.Tensor) -> torch.Tensor:
    return _dct_last_fft(_dct_last_fft(x).transpose(-1, -2)).transpose(-1, -2)


def _idct2_fft(coeffs: torch.Tensor) -> torch.Tensor:
    return _idct_last_fft(_idct_last_fft(coeffs).transpose(-1, -2)).transpose(-1, -2)


def dct2(x: torch.Tensor) -> torch.Tensor:
    """Orthonormal type-II 2-D DCT over the last two dims.

    Equal to ``scipy.fft.dctn(x, axes=(-2, -1), norm="ortho")``. Coefficient ``(0, 0)`` is
    the DC term; index ``(u, v)`` stands for ``u / (2H)`` and ``v / (2W)`` cycles per pixel.

    Args:
        x: Real floating tensor ``(..., H, W)``.

    Returns:
        Tensor of the same shape and dtype.

    Raises:
        TypeError: ``x`` is not a floating-point tensor.
        ValueError: ``x`` has fewer than two dims.
    """
    check_spatial(x)
    if _matmul_may_lose_precision(x):
        return _dct2_fft(x)
    ch = _dct_matrix(x.shape[-2], x.dtype, x.device)
    cw = _dct_matrix(x.shape[-1], x.dtype, x.device)
    return ch @ x @ cw.T


def idct2(coeffs: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`dct2` (orthonormal type-III 2-D DCT) over the last two dims.

    Equal to ``scipy.fft.idctn(coeffs, axes=(-2, -1), norm="ortho")``.

    Args:
        coeffs: Real floating tensor ``(..., H, W)`` of DCT coefficients.

    Returns:
        Tensor of the same shape and dtype.

    Raises:
        TypeError: ``coeffs`` is not a floating-point tensor.
        ValueError: ``coeffs`` has fewer than two dims.
    """
    check_spatial(coeffs, "coeffs")
    if _matmul_may_lose_precision(coeffs):
        return _idct2_fft(coeffs)
    ch = _dct_matrix(coeffs.shape[-2], coeffs.dtype, coeffs.device)
    cw = _dct_matrix(coeffs.shape[-1], coeffs.dtype, coeffs.device)
    return ch.T @ coeffs @ cw
