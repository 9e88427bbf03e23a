import pytest
import torch
from conftest import TinyConvNet
from torch import nn

from attacks import PGD
from attacks.transfer import TransferAttack


class NoGradTarget(nn.Module):
    """A target that fails if it is ever run with gradients enabled."""

    def __init__(self) -> None:
        super().__init__()
        self.net = TinyConvNet()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if torch.is_grad_enabled():
            raise AssertionError("the target of a transfer attack must not be differentiated")
        return self.net(x)


def test_returns_the_source_attack_images_and_never_differentiates_the_target(tiny_batch) -> None:
    x, y = tiny_batch
    torch.manual_seed(1)
    source = TinyConvNet().eval()
    target = NoGradTarget().eval()
    pgd = PGD(eps=8 / 255, steps=5)
    expected = pgd(source, x, y, generator=torch.Generator().manual_seed(3))
    result = TransferAttack(source=source, attack=pgd).run(target, x, y, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(result.x_adv, expected, rtol=0, atol=0)
    assert result.queries is not None and int(result.queries.sum()) == 0
    assert target.calls == 1  # only the base class's input check
    assert (result.x_adv - x).abs().amax() <= 8 / 255 + 1e-6


def test_threat_and_replace(tiny_model) -> None:
    transfer = TransferAttack(source=tiny_model, attack=PGD(eps=4 / 255))
    assert transfer.threat.norm == "linf" and transfer.threat.eps == pytest.approx(4 / 255)
    assert transfer.uses_gradients is False
    assert transfer.replace(attack=PGD(eps=2 / 255)).threat.eps == pytest.approx(2 / 255)


def test_bad_arguments(tiny_model) -> None:
    with pytest.raises(TypeError, match=r"source: expected a torch\.nn\.Module"):
        TransferAttack(source="resnet20", attack=PGD(eps=0.1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attack: expected an attack"):
        TransferAttack(source=tiny_model, attack=lambda m, x, y: x)  # type: ignore[arg-type]
