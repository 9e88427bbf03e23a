"""What every attack's ``run`` does with inputs a model cannot take and outputs it must not trust (issue 12).

The base class (:class:`attacks.base.Attack`) converts images to a float32/float64 model's
dtype, names a channel or dtype mismatch, refuses NaN or inf logits anywhere in the attack
and warns about budgets no [0, 1] image needs.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import pytest
import torch
from _doubles import NaNOffClean, Net, model_labelled
from torch import Tensor, nn

from attacks import (
    APGD,
    FGSM,
    PGD,
    Attack,
    FourierBallAttack,
    FourierBasisAttack,
    SimBA,
    Square,
    TorchAttack,
    TransferAttack,
)
from bandlimit._checks import NonFiniteLogits, check_budget

ATTACKS: dict[str, Callable[[], Attack]] = {
    "pgd": lambda: PGD(eps=0.05, steps=2),
    "fgsm": lambda: FGSM(eps=0.05, random_start=True),  # queries the model off the clean images
    "apgd": lambda: APGD(eps=0.05, steps=2),
    "square": lambda: Square(eps=0.05, max_queries=5),
    "simba": lambda: SimBA(step=0.2, max_queries=6),
    "fourier": lambda: FourierBasisAttack(norm_l2=1.0),
    "fourier-ball": lambda: FourierBallAttack(eps=0.05, max_cells=4),
    "torchattacks-pgd": lambda: TorchAttack("PGD", eps=0.05, alpha=0.01, steps=2),
}
NAMES = list(ATTACKS)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Net(classes=4).eval()


@pytest.fixture
def data(model: nn.Module) -> tuple[Tensor, Tensor]:
    return model_labelled(model, 6, seed=3)


def _run(attack: Attack, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    return attack.run(model, x, y, generator=torch.Generator().manual_seed(0)).x_adv


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_images_are_converted_to_a_float32_models_dtype(name: str, dtype: torch.dtype, model: nn.Module, data) -> None:
    x, y = data
    x = x.to(dtype)
    attack = ATTACKS[name]()
    x_adv = _run(attack, model, x, y)
    assert x_adv.dtype == torch.float32
    assert torch.equal(x_adv, _run(attack, model, x.float(), y))  # as if given float32 images


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
def test_labels_of_any_integer_dtype_are_taken_as_int64(name: str, dtype: torch.dtype, model: nn.Module, data) -> None:
    x, y = data
    attack = ATTACKS[name]()
    assert torch.equal(_run(attack, model, x, y.to(dtype)), _run(attack, model, x, y))


def test_targets_of_any_integer_dtype_are_taken_as_int64(model: nn.Module, data) -> None:
    x, y = data
    targets = (y + 1) % 4
    attack = PGD(eps=0.05, steps=2)
    run = lambda t: attack.run(model, x, y.int(), targets=t, generator=torch.Generator().manual_seed(0)).x_adv  # noqa: E731
    assert torch.equal(run(targets.int()), run(targets))


@pytest.mark.parametrize("name", NAMES)
def test_float32_images_run_on_a_float64_model_in_float64(name: str, model: nn.Module, data) -> None:
    x, y = data
    attack = ATTACKS[name]()
    x_adv = _run(attack, model.double(), x, y)
    assert x_adv.dtype == torch.float64
    assert bool((attack.threat.distance(x_adv - x.double()) <= attack.threat.eps + 1e-12).all())


@pytest.mark.parametrize("name", NAMES)
def test_a_bfloat16_model_names_the_dtype_and_the_fix(name: str, model: nn.Module, data) -> None:
    x, y = data
    with pytest.raises(
        TypeError, match=r"computes in torch\.bfloat16, the images are torch\.float32.*model\.float\(\)"
    ):
        _run(ATTACKS[name](), model.bfloat16(), x, y)


@pytest.mark.parametrize("name", [n for n in NAMES if not n.startswith("fourier")])  # they name their `channels`
def test_grey_images_into_a_colour_model_name_the_channels(name: str, model: nn.Module, data) -> None:
    x, y = data
    with pytest.raises(ValueError, match=r"x: expected 3-channel images \(the model's first convolution, 'conv'"):
        _run(ATTACKS[name](), model, x[:, :1], y)


@pytest.mark.parametrize("name", NAMES)
def test_nan_off_the_clean_images_stops_every_attack(name: str, model: nn.Module, data) -> None:
    # Before: the black-box searches compared NaN losses (always False), "failed" quietly and
    # left the samples robust; the gradient attacks returned NaN images blamed on the attack.
    x, y = data
    with pytest.raises(NonFiniteLogits, match=f"model output during attack '{ATTACKS[name]().name}'"):
        _run(ATTACKS[name](), NaNOffClean(model, x), x, y)


def test_a_transfer_attack_checks_its_source_model(model: nn.Module, data) -> None:
    x, y = data
    transfer = TransferAttack(source=NaNOffClean(model, x), attack=PGD(eps=0.05, steps=1))
    with pytest.raises(NonFiniteLogits, match="during attack 'pgd'"):
        _run(transfer, model, x, y)


class TestBudgetWarnings:
    """The rule: L∞ eps > 1 warns when the attack is built, L2 eps > sqrt(C·H·W) when it runs."""

    @pytest.mark.parametrize(
        ("make", "setting"),
        [
            (lambda: PGD(eps=8), "eps=8"),
            (lambda: APGD(eps=8), "eps=8"),
            (lambda: FGSM(eps=4), "eps=4"),
            (lambda: Square(eps=8), "eps=8"),
            (lambda: SimBA(eps=8), "eps=8"),
            (lambda: TorchAttack("PGD", eps=8), "eps=8"),
            (lambda: PGD(eps=8).replace(steps=2), "eps=8"),
        ],
    )
    def test_linf_eps_above_one_names_8_over_255(self, make: Callable[[], Attack], setting: str) -> None:
        with pytest.warns(UserWarning, match=rf"{setting}: this linf budget exceeds 1.*did you mean {setting}/255"):
            make()

    def test_linf_eps_of_one_and_l2_eps_at_the_diameter_stay_silent(self, model: nn.Module, data) -> None:
        x, y = data
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            PGD(eps=1.0, steps=1)(model, x, y)  # the sanity probes' "anything goes" budget
            PGD(eps=math.sqrt(3 * 8 * 8), norm="l2", steps=1)(model, x, y)
            PGD(eps=30.0, norm="l2", steps=1)  # an L2 budget is judged at the call, on the images' size
            SimBA(step=0.5, max_queries=10_000)(model, x, y)  # its L2 bound follows from other settings

    def test_l2_eps_beyond_the_diameter_warns_at_the_call(self, model: nn.Module, data) -> None:
        x, y = data
        attack = PGD(eps=30.0, norm="l2", steps=1)
        with pytest.warns(UserWarning, match=r"eps=30: this l2 budget exceeds sqrt\(C\*H\*W\) = 13\.86"):
            attack(model, x, y)

    def test_the_rule(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            check_budget("linf", 1.0)
            check_budget("linf", math.inf)
            check_budget("l2", 1e6)  # size unknown: nothing to judge
            check_budget("l2", 2.0, numel=4)
        with pytest.warns(UserWarning, match=r"= 0\.03137\)"):
            check_budget("linf", 8.0)
        with pytest.warns(UserWarning, match="l2 budget"):
            check_budget("l2", 2.01, numel=4)
