"""No attack, analysis or accuracy check changes the modes or BatchNorm statistics of a model.

Issue 12's repro: an eval-mode network inside a fresh (train-mode) defence wrapper,
``PostAveraging(m, radius=1.0, samples=4)``, attacked with ``PGD(eps=1/255, steps=1)``: the
network's BatchNorms must stay in eval mode and keep their running statistics, through every
attack, every analysis of the harness and the trainer's clean-accuracy check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

from attacks import APGD, PGD, FourierBallAttack, FourierBasisAttack, SimBA, Square
from bandlimit.evaluation import evaluate, filtered_accuracy, fourier_heatmap, perturbation_spectrum
from bandlimit.models import create_model
from bandlimit.training import evaluate_accuracy
from defenses import PostAveraging

EPS = 1 / 255

RUNS: dict[str, Callable[[nn.Module, torch.Tensor, torch.Tensor], Any]] = {
    "pgd": lambda d, x, y: PGD(eps=EPS, steps=1)(d, x, y),
    "simba": lambda d, x, y: SimBA(eps=EPS, max_queries=4)(d, x, y),
    "square": lambda d, x, y: Square(eps=EPS, max_queries=3)(d, x, y),
    "apgd": lambda d, x, y: APGD(eps=EPS, steps=1)(d, x, y),
    "fourier": lambda d, x, y: FourierBasisAttack(norm_l2=1.0, cells=((16, 17),))(d, x, y),
    "fourier-ball": lambda d, x, y: FourierBallAttack(eps=EPS, max_cells=2)(d, x, y),
    "evaluate": lambda d, x, y: evaluate(d, (x, y), [PGD(eps=EPS, steps=1)], checks=False),
    "fourier_heatmap": lambda d, x, y: fourier_heatmap(d, (x, y), norm=1.0, cells="central:1"),
    "filtered_accuracy": lambda d, x, y: filtered_accuracy(d, (x, y), bandwidths=[3], radii=[4]),
    "perturbation_spectrum": lambda d, x, y: perturbation_spectrum(d, (x, y), PGD(eps=EPS, steps=1)),
    "evaluate_accuracy": lambda d, x, y: evaluate_accuracy(d, x, y),
}


@pytest.fixture(scope="module")
def natural() -> nn.Module:
    return create_model("resnet20-natural", pretrained=True).eval()


def _bn_state(model: nn.Module) -> list[tuple[bool, torch.Tensor, torch.Tensor, torch.Tensor]]:
    return [
        (m.training, m.running_mean.clone(), m.running_var.clone(), m.num_batches_tracked.clone())
        for m in model.modules()
        if isinstance(m, nn.BatchNorm2d)
    ]


@pytest.mark.parametrize("run", list(RUNS), ids=list(RUNS))
def test_inner_model_keeps_eval_mode_and_batchnorm_statistics(natural: nn.Module, run: str) -> None:
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = natural(x).argmax(1)  # clean-correct, so every attack and analysis has work to do
    defended = PostAveraging(natural, radius=1.0, samples=4)
    assert defended.training and not natural.training  # the repro: a train-mode wrapper
    before = _bn_state(natural)
    assert before, "the network has BatchNorms"
    RUNS[run](defended, x, y)
    after = _bn_state(natural)
    assert not any(training for training, *_ in after), "a BatchNorm was left in train mode"
    for (_, *old), (_, *new) in zip(before, after, strict=True):
        assert all(torch.equal(a, b) for a, b in zip(old, new, strict=True)), "running statistics changed"
    assert defended.training and not natural.training


def test_trainer_accuracy_keeps_a_frozen_batchnorm_frozen() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(10))
    model(torch.rand(2, 3, 8, 8))  # materialise the lazy layer
    model.train()
    model[1].eval()  # a frozen BatchNorm inside a model being trained
    evaluate_accuracy(model, torch.rand(8, 3, 8, 8), torch.zeros(8, dtype=torch.long))
    assert model.training and model[0].training and not model[1].training
