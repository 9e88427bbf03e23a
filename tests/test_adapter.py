"""Tests of attacks.adapter.TorchAttack: torchattacks through the bandlimit interface."""

from __future__ import annotations

import math
import sys

import pytest
import torch
from torch import nn

torchattacks = pytest.importorskip("torchattacks")

from attacks.adapter import TorchAttack, available_torchattacks  # noqa: E402
from attacks.base import ThreatModel  # noqa: E402


class LinearNet(nn.Module):
    """Random linear classifier on 3x8x8 images that records the grad mode of every forward."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(192, 10)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(10, 192, generator=g))
            self.fc.bias.zero_()
        self.grad_modes: set[bool] = set()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.grad_modes.add(torch.is_grad_enabled())
        return self.fc(x.flatten(1) - 0.5)


@pytest.fixture
def data() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    model = LinearNet()
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    model.grad_modes.clear()
    return model, x, y


CASES = [
    ("PGD", {"eps": 8 / 255, "alpha": 2 / 255, "steps": 10}, ThreatModel("linf", 8 / 255), True),
    ("FGSM", {"eps": 8 / 255}, ThreatModel("linf", 8 / 255), True),
    ("Square", {"eps": 8 / 255, "n_queries": 100}, ThreatModel("linf", 8 / 255), False),
    ("DeepFool", {"steps": 20}, ThreatModel("l2", math.inf), True),
]


@pytest.mark.parametrize(("name", "kwargs", "threat", "gradients"), CASES)
def test_runs_within_threat(data: tuple, name: str, kwargs: dict, threat: ThreatModel, gradients: bool) -> None:
    model, x, y = data
    attack = TorchAttack(name, **kwargs)
    assert attack.threat == threat
    assert attack.uses_gradients is gradients
    result = attack.run(model, x, y, generator=torch.Generator().manual_seed(0))
    modes = set(model.grad_modes)
    assert result.x_adv.shape == x.shape and result.queries is None
    assert float(result.x_adv.min()) >= 0.0 and float(result.x_adv.max()) <= 1.0
    assert bool((threat.distance(result.x_adv - x) <= threat.eps + 1e-6).all())
    fooled = (model(result.x_adv).argmax(1) != y).float().mean()
    assert float(fooled) >= 0.5  # an easy model: every attack fools it on most images
    # black-box attacks run entirely without autograd; white-box ones need it
    assert (True in modes) is gradients


def test_fgsm_equals_torchattacks_directly(data: tuple) -> None:
    model, x, y = data
    ours = TorchAttack("FGSM", eps=4 / 255)(model, x, y)
    theirs = torchattacks.FGSM(model.eval(), eps=4 / 255)(x, y)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_targeted_by_label(data: tuple) -> None:
    model, x, y = data
    targets = (y + 1) % 10
    attack = TorchAttack("PGD", eps=0.3, alpha=0.02, steps=30)
    x_adv = attack(model, x, y, targets=targets, generator=torch.Generator().manual_seed(0))
    assert float((model(x_adv).argmax(1) == targets).float().mean()) >= 0.75
    with pytest.raises(ValueError, match="targeted mode is not supported"):
        TorchAttack("DeepFool")(model, x, y, targets=targets)


class CountingPGD(torchattacks.PGD):
    """A PGD that records every object built and the mode it ran in."""

    built: list[int] = []  # noqa: RUF012 - deliberately shared across instances
    modes: list[str] = []  # noqa: RUF012

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        CountingPGD.built.append(id(self))

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        CountingPGD.modes.append(self.attack_mode)
        return super().forward(images, labels)


def test_fresh_object_per_call_and_no_mode_leak(data: tuple) -> None:
    model, x, y = data
    CountingPGD.built.clear()
    CountingPGD.modes.clear()
    attack = TorchAttack(CountingPGD, eps=8 / 255, steps=2)
    attack(model, x, y, targets=(y + 1) % 10)
    attack(model, x, y)
    assert len(CountingPGD.built) == 2
    assert CountingPGD.modes == ["targeted(label)", "default"]


def test_same_generator_same_result_and_global_rng_untouched(data: tuple) -> None:
    model, x, y = data
    attack = TorchAttack("PGD", eps=8 / 255, steps=3, random_start=True)
    state = torch.get_rng_state()
    a = attack(model, x, y, generator=torch.Generator().manual_seed(5))
    b = attack(model, x, y, generator=torch.Generator().manual_seed(5))
    c = attack(model, x, y, generator=torch.Generator().manual_seed(6))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Square reseeds torch's global RNG itself; the fork contains it
    TorchAttack("Square", eps=8 / 255, n_queries=5)(model, x, y, generator=torch.Generator())
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize(
    ("name", "kwargs", "threat"),
    [
        ("PGDL2", {"eps": 0.5}, ThreatModel("l2", 0.5)),
        ("CW", {}, ThreatModel("l2", math.inf)),
        ("Square", {"norm": "L2", "eps": 1.0}, ThreatModel("l2", 1.0)),
        ("APGD", {"eps": 4 / 255}, ThreatModel("linf", 4 / 255)),
        ("AutoAttack", {"norm": "L2", "eps": 0.5}, ThreatModel("l2", 0.5)),
        ("OnePixel", {}, ThreatModel("linf", math.inf)),
        ("PIFGSM", {}, ThreatModel("linf", 16 / 255)),
        ("pgd", {}, ThreatModel("linf", 8 / 255)),  # names are case-insensitive
    ],
)
def test_threat_from_class_and_kwargs(name: str, kwargs: dict, threat: ThreatModel) -> None:
    assert TorchAttack(name, **kwargs).threat == threat


def test_gradient_use_per_instance() -> None:
    assert TorchAttack("Square").uses_gradients is False
    assert TorchAttack("SPSA").uses_gradients is False
    assert TorchAttack("APGD").uses_gradients is True
    assert TorchAttack("FGSM").randomized is False
    assert TorchAttack("PGD", random_start=False).randomized is False
    assert TorchAttack("PGD").randomized is True


def test_config_is_resolved_and_replace_works() -> None:
    attack = TorchAttack("PGD", eps=0.1)
    assert attack.config == {"name_or_class": "PGD", "eps": 0.1, "alpha": 2 / 255, "steps": 10, "random_start": True}
    other = attack.replace(steps=3)
    assert other.config["steps"] == 3 and other.attack_class is torchattacks.PGD
    assert "PGD" in repr(attack)


def test_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown torchattacks attack 'Nope'; expected one of \[.*'PGD'"):
        TorchAttack("Nope")
    with pytest.raises(TypeError, match="expected a torchattacks class name"):
        TorchAttack(3)
    with pytest.raises(TypeError, match="expected a torchattacks attack class"):
        TorchAttack(nn.Linear)
    with pytest.raises(TypeError, match=r"PGD: unknown arguments \['radius'\]"):
        TorchAttack("PGD", radius=1.0)
    with pytest.raises(ValueError, match="norm='L1' has no bandlimit threat model"):
        TorchAttack("FAB", norm="L1")
    with pytest.raises(ValueError, match="eps: expected a number >= 0"):
        TorchAttack("PGD", eps=-1.0)
    assert "MultiAttack" not in available_torchattacks() and "Square" in available_torchattacks()


def test_missing_torchattacks_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchattacks", None)
    with pytest.raises(ImportError, match="pip install torchattacks"):
        TorchAttack("PGD")
