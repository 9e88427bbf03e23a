"""The harness on a real network: ResNet-20 with the public weights (issue 5's must-show).

Skipped when the team's offline data (``../shared``) is absent.
"""

from pathlib import Path

import pytest
import torch
from _doubles import Quantized
from torch import nn

from attacks import FGSM, PGD, SimBA
from bandlimit.evaluation import evaluate
from bandlimit.models import create_model, load_checkpoint
from defenses import PostAveraging

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
TEST_NPZ = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (WEIGHTS.is_file() and TEST_NPZ.is_file()), reason="needs ../shared"),
]


@pytest.fixture(scope="module")
def resnet20_and_data() -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    import numpy as np

    model = load_checkpoint(WEIGHTS, create_model("resnet20")).eval()
    arrays = np.load(TEST_NPZ)
    x = torch.from_numpy(arrays["x"][:48]).permute(0, 3, 1, 2).float() / 255
    y = torch.from_numpy(arrays["y"][:48]).long()
    return model, (x, y)


def _codes(result) -> set[str]:
    return {f.code for f in result.findings}


def test_worst_case_is_at_most_every_single_attack_per_sample(resnet20_and_data) -> None:
    model, data = resnet20_and_data
    eps = 2 / 255
    attacks = [FGSM(eps=eps), PGD(eps=eps, steps=5), SimBA(eps=eps, step=0.2, max_queries=60)]
    result = evaluate(model, data, attacks, seed=0)
    samples = result.samples
    (group,) = samples.robust
    worst = samples.robust[group]
    correct = samples.clean_pred == samples.label
    for key, pred in samples.pred.items():
        single = correct & (pred == samples.label)
        assert bool((worst <= single).all()), key  # robust in the worst case => robust under each
    per_attack = [a.robust_accuracy for a in result.attacks]
    assert result.robust_accuracy[group] <= min(per_attack) + 1e-12
    x, y = data
    with torch.no_grad():
        direct = model(x).argmax(1)
    assert torch.equal(samples.clean_pred, direct) and result.n == 48
    # The public network gets about 92% on CIFAR-10.
    assert result.clean_accuracy == pytest.approx(float((direct == y).double().mean())) and result.clean_accuracy > 0.8


def test_checks_quiet_on_the_plain_network(resnet20_and_data) -> None:
    model, data = resnet20_and_data
    result = evaluate(model, data, [PGD(eps=2 / 255, steps=5), PGD(eps=8 / 255, steps=5)], seed=0)
    assert result.findings == [], [str(f) for f in result.findings]


def test_checks_fire_on_a_randomised_defence(resnet20_and_data) -> None:
    model, data = resnet20_and_data
    defended = PostAveraging(model, radius=1.0, samples=4)
    result = evaluate(defended, data, [PGD(eps=8 / 255, steps=3)], n=16, seed=0, eot_samples=2)
    assert "randomized-model" in _codes(result)
    assert result.randomized
    # The harness ran the EOT version of the gradient attack (eot="auto" on a randomised model).
    assert result.eot["applied"] == {result.attacks[0].key: 2} and result.attacks[0].config["eot_samples"] == 2


def test_checks_fire_on_a_gradient_masked_network(resnet20_and_data) -> None:
    model, data = resnet20_and_data
    result = evaluate(Quantized(model, levels=7), data, [PGD(eps=8 / 255, steps=5)], n=24, seed=0)
    assert _codes(result) & {"zero-gradients", "no-gradients", "nan-gradients"}, [str(f) for f in result.findings]
