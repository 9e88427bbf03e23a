"""The small models of Rahaman et al. (2019) and Xu et al. (2019), and the loops that train them.

:func:`mlp` and :func:`xu_cnn` build the papers' networks (initialised from a generator, so
runs are reproducible); :func:`fit_full_batch` fits a 1-D target with full-batch Adam while
recording a probe of the outputs (e.g. :func:`~bandlimit.analysis.fourier_amplitudes`), and
:func:`train_with_filtering` trains a classifier with SGD while tracking Xu et al.'s
``e_low`` / ``e_high`` (:class:`~bandlimit.analysis.FilteringProbe`) every epoch. They live
here so that the experiment scripts stay glue.
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

from bandlimit._checks import check_choice, check_positive, check_positive_int
from bandlimit.analysis.filtering import FilteringProbe

__all__ = ["FilteringTrace", "fit_full_batch", "mlp", "train_with_filtering", "xu_cnn"]

LOG = logging.getLogger(__name__)
_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}


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
