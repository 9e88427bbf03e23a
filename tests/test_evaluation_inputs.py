"""What every evaluation function scores is checked: labels, finite logits, dtypes, channels, n (issue 12).

Each test runs all four functions of :mod:`bandlimit.evaluation` (evaluate, fourier_heatmap,
filtered_accuracy, perturbation_spectrum) on the same small model and data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch
from _doubles import NaNOffClean, Net, RandomNoise, model_labelled
from torch import Tensor, nn

from attacks import PGD
from bandlimit._checks import NonFiniteLogits
from bandlimit.evaluation import evaluate, filtered_accuracy, fourier_heatmap, perturbation_spectrum

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "evaluate": lambda m, d, **kw: evaluate(m, d, [PGD(eps=2 / 255, steps=1)], checks=False, **kw),
    "fourier_heatmap": lambda m, d, **kw: fourier_heatmap(m, d, norm=1.0, cells="central:3", **kw),
    "filtered_accuracy": lambda m, d, **kw: filtered_accuracy(m, d, bandwidths=[3.0], radii=[2.0], **kw),
    "perturbation_spectrum": lambda m, d, **kw: perturbation_spectrum(m, d, PGD(eps=2 / 255, steps=1), **kw),
}
NAMES = list(FUNCTIONS)


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return Net(classes=4).eval()


@pytest.fixture
def data(model: nn.Module) -> tuple[Tensor, Tensor]:
    """80 images 3x8x8 labelled with the model's predictions (every one clean-correct)."""
    return model_labelled(model, 80, seed=1)


def _numbers(result: Any) -> Any:
    out = result.to_dict()
    for key in ("environment", "time_s", "config"):
        out.pop(key, None)
    for attack in out.get("attacks", []):
        attack.pop("time_s")
    return out


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("label", [4, 12, -1])
def test_every_label_of_every_batch_is_checked(name: str, label: int, model: nn.Module, data: Any) -> None:
    x, y = data
    y = y.clone()
    y[70] = label  # in the 9th batch of 8, past the 64 samples the harness used to probe
    with pytest.raises(ValueError, match=rf"labels in \[0, 3\] for a model with 4 outputs, got {label} at sample 70"):
        FUNCTIONS[name](model, (x, y), batch_size=8)


@pytest.mark.parametrize("name", NAMES)
def test_nan_on_the_clean_images_stops_the_run(name: str, model: nn.Module, data: Any) -> None:
    x, y = data
    broken = NaNOffClean(model, x[:5])  # finite on the first five images only
    with pytest.raises(NonFiniteLogits, match="clean images: expected finite logits, got NaN or inf at sample 5"):
        FUNCTIONS[name](broken, (x, y), batch_size=16)


@pytest.mark.parametrize(
    ("name", "where"),
    [
        ("evaluate", r"attack pgd/linf/0\.00784314 on the batch of samples 0\+: model output during attack 'pgd'"),
        ("fourier_heatmap", r"under Fourier noise at cell \(\d, \d\).*at sample \d+"),
        ("filtered_accuracy", r"on low-pass images \(B=3\).*at sample 0"),
        ("perturbation_spectrum", r"attack pgd/linf/0\.00784314 on the batch of samples 0\+"),
    ],
)
def test_nan_on_perturbed_images_stops_the_run_naming_where(name: str, where: str, model: nn.Module, data: Any) -> None:
    x, y = data
    with pytest.raises(NonFiniteLogits, match=where):
        FUNCTIONS[name](NaNOffClean(model, x), (x, y))


def test_nan_on_an_adversarial_example_of_any_attack_names_the_attack_and_sample(model: nn.Module, data: Any) -> None:
    # RandomNoise implements only the core protocol: the harness's own re-prediction catches it.
    x, y = data
    with pytest.raises(NonFiniteLogits, match=r"adversarial examples of attack noise/linf/0\.5: .* at sample \d+ "):
        evaluate(NaNOffClean(model, x), (x, y), [RandomNoise(eps=0.5, tries=1)], checks=False)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_images_in_another_float_dtype_are_converted_to_the_models(
    name: str, dtype: torch.dtype, model: nn.Module, data: Any
) -> None:
    x, y = data
    x = x.to(dtype)
    # Converting to float32 is exact from float16/bfloat16 and exact back from float64 here.
    assert _numbers(FUNCTIONS[name](model, (x, y))) == _numbers(FUNCTIONS[name](model, (x.float(), y)))


@pytest.mark.parametrize("name", NAMES)
def test_a_low_precision_model_names_the_dtype_and_the_fix(name: str, model: nn.Module, data: Any) -> None:
    x, y = data
    with pytest.raises(TypeError, match=r"computes in torch\.bfloat16.*model\.float\(\)"):
        FUNCTIONS[name](model.bfloat16(), (x, y))


@pytest.mark.parametrize("name", NAMES)
def test_grey_images_into_a_colour_model_name_the_channels_and_the_fix(name: str, model: nn.Module, data: Any) -> None:
    x, y = data
    with pytest.raises(ValueError, match=r"expected 3-channel images .* got 1-channel .*expand\(-1, 3, -1, -1\)"):
        FUNCTIONS[name](model, (x[:, :1], y))


class Scores(nn.Module):
    """One score per image, ``(N,)``, instead of logits ``(N, classes)``."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)[:, 0]


@pytest.mark.parametrize("name", NAMES)
def test_a_model_without_class_logits_is_named(name: str, model: nn.Module, data: Any) -> None:
    with pytest.raises(ValueError, match=r"clean images: expected logits of shape \((64|80), classes\), got \(\1,\)"):
        FUNCTIONS[name](Scores(model), data)  # evaluate probes the model on 64 samples first


@pytest.mark.parametrize("name", NAMES)
def test_n_beyond_the_data_warns_and_uses_what_there_is(name: str, model: nn.Module, data: Any) -> None:
    with pytest.warns(UserWarning, match=r"n=1000 is larger than the data \(80 samples\); using all 80"):
        result = FUNCTIONS[name](model, data, n=1000)
    assert _numbers(result) == _numbers(FUNCTIONS[name](model, data))


class Stream(torch.utils.data.IterableDataset):
    """A data source without a length."""

    def __init__(self, x: Tensor, y: Tensor) -> None:
        self.x, self.y = x, y

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        return iter(zip(self.x, self.y, strict=True))


def test_n_beyond_a_stream_warns_when_it_runs_out(model: nn.Module, data: Any) -> None:
    with pytest.warns(UserWarning, match=r"n=100 is larger than the data \(80 samples\)"):
        result = filtered_accuracy(model, Stream(*data), n=100, bandwidths=[3.0], radii=[])
    assert result.n == 80


@pytest.mark.parametrize("attacks", [None, "pgd", 3, PGD])
def test_evaluate_names_what_attacks_should_be(attacks: Any, model: nn.Module, data: Any) -> None:
    with pytest.raises(TypeError, match=r"attacks(\[0\])?: expected (an )?attack"):
        evaluate(model, data, attacks)


@pytest.mark.parametrize("cells", ["central:9", "central:99"])
def test_heatmap_cells_beyond_the_image(cells: str, model: nn.Module, data: Any) -> None:
    with pytest.raises(ValueError, match=r"expected 'central:K' with K <= 8 for 8x8 images"):
        fourier_heatmap(model, data, norm=1.0, cells=cells)
    assert fourier_heatmap(model, data, norm=1.0, cells="central:8").cells_evaluated == 34  # every pair


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.int32, torch.uint8])
def test_labels_of_any_integer_dtype_give_the_same_numbers(
    name: str, dtype: torch.dtype, model: nn.Module, data: Any
) -> None:
    x, y = data
    assert _numbers(FUNCTIONS[name](model, (x, y.to(dtype)))) == _numbers(FUNCTIONS[name](model, (x, y)))


def test_filtered_accuracy_takes_a_tensor_sweep(model: nn.Module, data: Any) -> None:
    sweep = filtered_accuracy(model, data, bandwidths=torch.tensor([2.0, 4.0]), radii=torch.tensor(2.0))
    assert _numbers(sweep) == _numbers(filtered_accuracy(model, data, bandwidths=[2.0, 4.0], radii=[2.0]))


@pytest.mark.parametrize("name", NAMES)
def test_images_with_a_graph_are_taken_as_constants(name: str, model: nn.Module, data: Any) -> None:
    x, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "Converting a tensor with requires_grad=True to a scalar"
        result = FUNCTIONS[name](model, (x.clone().requires_grad_(), y))
    assert _numbers(result) == _numbers(FUNCTIONS[name](model, (x, y)))
