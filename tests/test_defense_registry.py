"""Tests of defenses.registry: every defence by its own name, one factory signature, clear setting errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from bandlimit.spectral import highpass, lowpass
from defenses import (
    DEFENSES,
    HighPassFilter,
    LowPassFilter,
    PostAveraging,
    apply_defense,
    smooth_first_conv,
    with_input_filter,
)
from defenses.smoothing import SMOOTHING


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, 5)).eval()
    net.bandlimit_meta = {"architecture": "tiny", "num_classes": 5}
    return net


def _x() -> torch.Tensor:
    return torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def test_keyed_on_each_defences_own_name() -> None:
    assert DEFENSES.names() == ["highpass", "lowpass", "postavg", "postavg-lin", "smooth"]
    assert [PostAveraging.name, LowPassFilter.name, HighPassFilter.name, SMOOTHING] == [
        "postavg",
        "lowpass",
        "highpass",
        "smooth",
    ]
    assert all(entry.help for entry in DEFENSES)


@pytest.mark.parametrize(
    ("name", "layer", "reference"), [("lowpass", LowPassFilter, lowpass), ("highpass", HighPassFilter, highpass)]
)
def test_input_filters_wrap_the_model_and_keep_its_metadata(
    model: nn.Module, name: str, layer: type[nn.Module], reference: object
) -> None:
    defended = apply_defense(model, name, bandwidth=4, shape="disc")
    x = _x()
    with torch.no_grad():
        torch.testing.assert_close(defended(x), model(reference(x, bandwidth=4, shape="disc")))  # type: ignore[operator]
        torch.testing.assert_close(defended(x), with_input_filter(model, layer(bandwidth=4, shape="disc"))(x))
    assert defended.bandlimit_meta["architecture"] == "tiny"
    assert defended.bandlimit_meta["defense"] == {
        "name": layer.__name__,
        "bandwidth": 4.0,
        "radius": None,
        "shape": "disc",
        "order": 2,
        "clamp": False,
    }


def test_post_averaging_and_smoothing_equal_their_direct_forms(model: nn.Module) -> None:
    x = _x()
    averaged = apply_defense(model, "postavg", radius=0.5, samples=4, seed=3)
    assert isinstance(averaged, PostAveraging) and averaged.model is model
    with torch.no_grad():
        torch.testing.assert_close(averaged(x), PostAveraging(model, radius=0.5, samples=4, seed=3)(x))
    smoothed = apply_defense(model, "smooth", rho=0.25, preserve_norm="l2")
    direct = smooth_first_conv(model, 0.25, preserve_norm="l2")
    torch.testing.assert_close(smoothed[0].weight, direct[0].weight, rtol=0, atol=0)
    assert not torch.equal(smoothed[0].weight, model[0].weight)


LOWPASS_MISSPELT = (
    r"defence 'lowpass': unknown setting\(s\) \['bandwith'\] \(did you mean 'bandwidth'\?\); "
    r"valid settings: bandwidth, radius, shape, order, clamp"
)
POSTAVG_MISSING = (
    r"defence 'postavg': missing required setting\(s\) \['radius'\]; "
    r"valid settings: radius, samples, directions, average, chunk_size, seed, generator, clip"
)


@pytest.mark.parametrize(
    ("name", "settings", "match"),
    [
        ("lowpass", {"bandwith": 4}, LOWPASS_MISSPELT),
        ("highpass", {"bandwidth": 4, "sigma": 1}, r"unknown setting\(s\) \['sigma'\]; valid settings: bandwidth"),
        ("postavg", {"samples": 4}, POSTAVG_MISSING),
        ("smooth", {"rho": 0.1, "kernel": 3}, r"\['kernel'\]; valid settings: rho, preserve_norm, layer"),
    ],
)
def test_bad_settings_list_the_valid_ones(model: nn.Module, name: str, settings: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        apply_defense(model, name, **settings)
    assert "__init__" not in str(info.value) and "_FrequencyFilter" not in str(info.value)


def test_unknown_name_and_bad_values(model: nn.Module) -> None:
    with pytest.raises(ValueError, match=r"unknown defence 'lowpas'; did you mean 'lowpass'\?"):
        apply_defense(model, "lowpas", bandwidth=4)
    with pytest.raises(ValueError, match="bandwidth: expected a value > 0"):
        apply_defense(model, "lowpass", bandwidth=0)
    with pytest.raises(TypeError, match=r"model: expected a torch\.nn\.Module"):
        apply_defense("not a model", "postavg", radius=1.0)  # type: ignore[arg-type]
