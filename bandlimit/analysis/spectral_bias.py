"""Spectral bias (Rahaman et al. 2019) and the frequency principle (Xu et al. 2019).

Three groups of tools, each small and tested on analytic cases:

* **1-D targets and their spectra.** :func:`sinusoid_target` builds
  ``lambda(z) = sum_i A_i sin(2 pi k_i z + phi_i)`` on the grid :func:`uniform_grid`
  (``z = j / n`` in [0, 1), so DFT bin ``k`` is frequency ``k``); :func:`fourier_amplitudes`
  reads ``2 |DFT_k| / n``, which returns ``A_i`` exactly at ``k_i`` for such a target.
* **Frequency-principle error on 1-D data.** :func:`dft_peaks` finds the peaks of
  ``|F[y]|``; :func:`frequency_relative_error` is Xu et al.'s ``Delta_F(k)``, in the released
  code's magnitude form ``| |F[h]_k| - |F[y]_k| | / (|F[y]_k| + eps)`` or in the complex form
  ``|F[h]_k - F[y]_k| / (|F[y]_k| + eps)`` of the paper's text (as we read it).
* **Filtering method for high-dimensional data.** With squared distances ``D_ij`` between the
  training inputs, ``K^delta = softmax(-D / (2 delta))`` row-wise (Xu et al.'s row-normalised
  Gaussian ``exp(-|x_i - x_j|^2 / (2 delta))``), ``y_low = K y``, ``y_high = y - y_low``, and
  ``e_low = |h_low - y_low|_F / |y_low|_F`` (likewise ``e_high``). :class:`FilteringProbe`
  precomputes the kernels so that tracking the errors during training costs one matmul per
  ``delta``. These live in :mod:`bandlimit.analysis.filtering` and are re-exported here.

The models of the two papers (:func:`mlp`, :func:`xu_cnn`) and the two training loops that
record these quantities (:func:`fit_full_batch`, :func:`train_with_filtering`) live here too,
so that the experiment scripts stay glue.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bandlimit._checks import (
    check_choice,
    check_nonnegative,
    check_positive,
    check_positive_int,
    check_tensor_rank,
)
from bandlimit.analysis.filtering import (
    FilteringProbe,
    filtered_errors,
    gaussian_filter_matrix,
    low_high_split,
    nearest_neighbor_sq_distances,
    pairwise_sq_distances,
)

__all__ = [
    "FilteringProbe",
    "FilteringTrace",
    "dft_peaks",
    "filtered_errors",
    "fit_full_batch",
    "fourier_amplitudes",
    "frequency_relative_error",
    "gaussian_filter_matrix",
    "low_high_split",
    "mlp",
    "nearest_neighbor_sq_distances",
    "pairwise_sq_distances",
    "random_phases",
    "sinusoid_target",
    "train_with_filtering",
    "uniform_grid",
    "xu_cnn",
]

LOG = logging.getLogger(__name__)
_ERROR_KINDS = ("magnitude", "complex")
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


# --------------------------------------------------------------------------- 1-D targets


def uniform_grid(n: int, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The ``n`` evenly spaced points ``z_j = j / n`` of [0, 1) (Rahaman et al.'s grid).

    On this grid DFT bin ``k`` of a sampled function is the frequency ``k`` (cycles per unit).
    """
    n = check_positive_int(n, "n", minimum=2)
    return torch.arange(n, dtype=dtype) / n


def random_phases(
    count: int, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """``count`` phases drawn uniformly from [0, 2 pi) with ``generator``."""
    count = check_positive_int(count, "count")
    return torch.rand(count, generator=generator, dtype=dtype) * (2 * math.pi)


def sinusoid_target(
    z: torch.Tensor,
    frequencies: Sequence[float] | torch.Tensor,
    amplitudes: Sequence[float] | torch.Tensor,
    phases: Sequence[float] | torch.Tensor | None = None,
) -> torch.Tensor:
    """``lambda(z) = sum_i A_i sin(2 pi k_i z + phi_i)`` evaluated at the points ``z``.

    Args:
        z: Floating tensor ``(n,)`` of sample points.
        frequencies: ``k_i``, shape ``(m,)``.
        amplitudes: ``A_i``, shape ``(m,)``.
        phases: ``phi_i``, shape ``(m,)``; default all zero.

    Returns:
        Tensor ``(n,)`` of ``z``'s dtype.

    Raises:
        TypeError: ``z`` is not a floating tensor.
        ValueError: ``z`` is not 1-D or the three sequences differ in length.
    """
    check_tensor_rank(z, "z", min_rank=1)
    if z.dim() != 1:
        raise ValueError(f"z: expected a 1-D tensor of sample points, got shape {tuple(z.shape)}")
    k = torch.as_tensor(frequencies, dtype=z.dtype, device=z.device).reshape(-1)
    a = torch.as_tensor(amplitudes, dtype=z.dtype, device=z.device).reshape(-1)
    phi = torch.zeros_like(k) if phases is None else torch.as_tensor(phases, dtype=z.dtype, device=z.device)
    phi = phi.reshape(-1)
    if not k.numel() == a.numel() == phi.numel():
        raise ValueError(
            f"frequencies, amplitudes, phases: expected the same length, got {k.numel()}, {a.numel()}, {phi.numel()}"
        )
    return (a * torch.sin(2 * math.pi * z[:, None] * k + phi)).sum(dim=1)


def fourier_amplitudes(values: torch.Tensor, frequencies: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """One-sided DFT amplitudes ``2 |DFT(values)_k| / n`` at integer frequencies ``k``.

    For values sampled on :func:`uniform_grid` this returns ``A`` for a component
    ``A sin(2 pi k z + phi)`` with ``0 < k < n / 2`` (Rahaman et al. then divide by ``A_i``
    to get the normalised ``|f~(k_i)| / A_i``).

    Args:
        values: Real tensor ``(..., n)`` sampled on the uniform grid of [0, 1).
        frequencies: Integer frequencies, each in ``(0, n / 2)``.

    Returns:
        Tensor ``(..., m)`` of ``values``' real dtype.

    Raises:
        ValueError: a frequency is not an integer in ``(0, n / 2)``.
    """
    check_tensor_rank(values, "values", min_rank=1)
    n = values.shape[-1]
    k = torch.as_tensor(frequencies).reshape(-1)
    if k.is_floating_point():
        if not torch.equal(k, k.round()):
            raise ValueError(f"frequencies: expected integers (DFT bins), got {k.tolist()}")
        k = k.long()
    if k.numel() == 0 or int(k.min()) <= 0 or 2 * int(k.max()) >= n:
        raise ValueError(
            f"frequencies: expected integers in (0, {n / 2:g}) for {n} samples (0 and Nyquist have "
            f"a different scale), got {k.tolist()}"
        )
    spectrum = torch.fft.rfft(values, dim=-1)
    return 2.0 * spectrum[..., k.to(values.device)].abs() / n


# --------------------------------------------------------------------------- F-principle, 1-D


def dft_peaks(y: torch.Tensor, *, min_height: float = 0.1) -> torch.Tensor:
    """Indices of the peaks of the one-sided DFT magnitude ``|rfft(y)|``.

    A peak is an interior bin strictly larger than both neighbours (Xu et al.'s code selects
    local maxima the same way) whose height is at least ``min_height`` times the tallest
    peak; the threshold drops the small side lobes that spectral leakage creates when the
    target's frequencies are not DFT bins.

    Args:
        y: Real 1-D tensor (the target sampled on an evenly spaced grid).
        min_height: Relative height threshold in [0, 1].

    Returns:
        Sorted ``LongTensor`` of bin indices (possibly empty).
    """
    check_tensor_rank(y, "y", min_rank=1)
    if y.dim() != 1:
        raise ValueError(f"y: expected a 1-D tensor, got shape {tuple(y.shape)}")
    min_height = check_nonnegative(min_height, "min_height")
    mag = torch.fft.rfft(y).abs()
    if mag.numel() < 3:
        return torch.zeros(0, dtype=torch.long)
    inner = mag[1:-1]
    is_peak = (inner > mag[:-2]) & (inner > mag[2:])
    idx = torch.nonzero(is_peak).flatten() + 1
    if idx.numel() == 0:
        return idx
    keep = mag[idx] >= min_height * mag[idx].max()
    return idx[keep]


def frequency_relative_error(
    h: torch.Tensor, y: torch.Tensor, indices: torch.Tensor, *, kind: str = "magnitude", eps: float = 1e-5
) -> torch.Tensor:
    """Xu et al.'s per-frequency relative error ``Delta_F(k)`` at DFT bins ``indices``.

    ``kind="magnitude"`` (the released code): ``| |F[h]_k| - |F[y]_k| | / (|F[y]_k| + eps)``.
    ``kind="complex"`` (the paper's definition as we read it): ``|F[h]_k - F[y]_k| /
    (|F[y]_k| + eps)``; it also counts phase errors, so it is never below the magnitude form.

    Args:
        h: Network outputs ``(..., n)`` on the same grid as ``y``.
        y: Target ``(n,)``.
        indices: Bins of the one-sided DFT (e.g. :func:`dft_peaks` of ``y``).
        kind: ``"magnitude"`` or ``"complex"``.
        eps: Added to the denominator, as in the code.

    Returns:
        Tensor ``(..., len(indices))``.
    """
    check_choice(kind, "kind", _ERROR_KINDS)
    check_tensor_rank(h, "h", min_rank=1)
    check_tensor_rank(y, "y", min_rank=1)
    if h.shape[-1] != y.shape[-1]:
        raise ValueError(f"h: expected {y.shape[-1]} samples per output to match y, got shape {tuple(h.shape)}")
    eps = check_nonnegative(eps, "eps")
    fh = torch.fft.rfft(h, dim=-1)[..., indices]
    fy = torch.fft.rfft(y, dim=-1)[..., indices]
    num = (fh.abs() - fy.abs()).abs() if kind == "magnitude" else (fh - fy).abs()
    return num / (fy.abs() + eps)


# --------------------------------------------------------------------------- models and training


def mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    *,
    activation: str = "relu",
    init_std: float | None = None,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """A fully connected network ``in -> hidden[0] -> ... -> hidden[-1] -> out``.

    Rahaman et al.: ``mlp(1, [256] * 5, 1)`` (6 linear layers, ReLU). Xu et al.'s 1-D code:
    ``mlp(1, [200, 200, 200, 100], 1, activation="tanh", init_std=0.05)`` (weights and biases
    from ``N(0, init_std^2)``). Without ``init_std`` PyTorch's default init is used, drawn from
    ``generator`` when one is given so that runs are reproducible.
    """
    check_positive_int(in_features, "in_features")
    check_positive_int(out_features, "out_features")
    if isinstance(hidden, int) or len(hidden) == 0:
        raise ValueError(f"hidden: expected a non-empty sequence of layer widths, e.g. [256] * 5, got {hidden!r}")
    sizes = [in_features] + [check_positive_int(w, "hidden") for w in hidden]
    act = _ACTIVATIONS[check_choice(activation, "activation", _ACTIVATIONS)]
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), act()]
    layers.append(nn.Linear(sizes[-1], out_features))
    net = nn.Sequential(*layers)
    _init_linear(net, init_std, generator)
    return net


def xu_cnn(
    num_classes: int = 10,
    *,
    in_channels: int = 3,
    image_size: int = 32,
    generator: torch.Generator | None = None,
) -> nn.Sequential:
    """Xu et al.'s small CIFAR-10 CNN: Conv32-3x3, ReLU, Conv64-3x3, ReLU, MaxPool2, Dense400, ReLU, Dense.

    Convolutions are unpadded, as in the Keras code's default ``padding="valid"``. The
    network returns logits; the filtering method uses their softmax. PyTorch's default
    initialisation, drawn from ``generator`` when one is given.
    """
    check_positive_int(num_classes, "num_classes", minimum=2)
    side = (check_positive_int(image_size, "image_size", minimum=6) - 4) // 2
    net = nn.Sequential(
        nn.Conv2d(check_positive_int(in_channels, "in_channels"), 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * side * side, 400),
        nn.ReLU(),
        nn.Linear(400, num_classes),
    )
    _init_linear(net, None, generator)
    return net


def _init_linear(net: nn.Module, std: float | None, generator: torch.Generator | None) -> None:
    with torch.no_grad():
        for layer in net.modules():
            if not isinstance(layer, (nn.Linear, nn.Conv2d)):
                continue
            if std is not None:
                layer.weight.normal_(0.0, check_positive(std, "init_std"), generator=generator)
                layer.bias.normal_(0.0, std, generator=generator)
            elif generator is not None:
                # PyTorch's default Linear/Conv2d init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
                bound = 1.0 / math.sqrt(layer.weight[0].numel())
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)


def fit_full_batch(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    *,
    steps: int,
    lr: float,
    record_every: int,
    probe: Callable[[torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-batch Adam on the MSE, recording ``probe(outputs)`` every ``record_every`` steps.

    The record at step ``s`` is taken on the outputs of the forward pass that computes step
    ``s``'s gradient (i.e. the model after ``s`` updates); step ``steps`` is always recorded.

    Returns:
        ``(recorded_steps (T,), records (T, ...), losses (T,))``.
    """
    steps = check_positive_int(steps, "steps")
    record_every = check_positive_int(record_every, "record_every")
    optimizer = torch.optim.Adam(model.parameters(), lr=check_positive(lr, "lr"))
    model.train()
    at, records, losses = [], [], []
    for step in range(steps + 1):
        out = model(inputs)
        loss = F.mse_loss(out, targets)
        if step % record_every == 0 or step == steps:
            with torch.no_grad():
                at.append(step)
                records.append(probe(out.detach()))
                losses.append(loss.detach())
        if step == steps:
            break
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return torch.tensor(at), torch.stack(records), torch.stack(losses)


@dataclass(frozen=True)
class FilteringTrace:
    """Per-epoch record of :func:`train_with_filtering` (epoch 0 = before training).

    Attributes:
        epochs: ``(E + 1,)`` epoch numbers.
        e_low: ``(E + 1, len(deltas))``.
        e_high: ``(E + 1, len(deltas))``.
        loss: ``(E + 1,)`` cross-entropy on the whole subset.
        accuracy: ``(E + 1,)`` training accuracy on the subset.
    """

    epochs: torch.Tensor
    e_low: torch.Tensor
    e_high: torch.Tensor
    loss: torch.Tensor
    accuracy: torch.Tensor


def train_with_filtering(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    probe: FilteringProbe,
    *,
    epochs: int,
    lr: float,
    momentum: float = 0.9,
    nesterov: bool = True,
    batch_size: int = 50,
    eval_batch_size: int = 500,
    generator: torch.Generator | None = None,
) -> FilteringTrace:
    """Train a classifier with SGD and cross-entropy; track ``e_low`` / ``e_high`` each epoch.

    ``h`` is the softmax output on the probe's whole subset, compared with the probe's
    one-hot targets (Xu et al.'s ``filter_gd.py`` setup).
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if x.shape[0] != labels.shape[0] or probe.y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x, labels: expected {probe.y.shape[0]} samples like the probe, got {x.shape[0]} and {labels.shape[0]}"
        )
    optimizer = torch.optim.SGD(model.parameters(), lr=check_positive(lr, "lr"), momentum=momentum, nesterov=nesterov)
    rows: list[tuple[torch.Tensor, torch.Tensor, float, float]] = []

    def record() -> None:
        model.eval()
        with torch.no_grad():
            logits = torch.cat([model(chunk) for chunk in x.split(eval_batch_size)])
        loss = float(F.cross_entropy(logits, labels))
        acc = float((logits.argmax(dim=1) == labels).double().mean())
        e_low, e_high = probe.errors(torch.softmax(logits, dim=1))
        rows.append((e_low, e_high, loss, acc))
        LOG.info(
            "epoch %d: loss %.3f, accuracy %.3f, e_low %s, e_high %s",
            len(rows) - 1,
            loss,
            acc,
            e_low.numpy().round(3),
            e_high.numpy().round(3),
        )
        model.train()

    record()
    for _ in range(epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for idx in order.split(batch_size):
            loss = F.cross_entropy(model(x[idx]), labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        record()
    return FilteringTrace(
        epochs=torch.arange(epochs + 1),
        e_low=torch.stack([r[0] for r in rows]),
        e_high=torch.stack([r[1] for r in rows]),
        loss=torch.tensor([r[2] for r in rows], dtype=torch.float64),
        accuracy=torch.tensor([r[3] for r in rows], dtype=torch.float64),
    )
