"""Tests of defenses.LinPostAveraging against an independent loop written from the official code's description."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from defenses import LinPostAveraging, PostAveraging, apply_defense


class _Net(nn.Module):
    """Linear logits on 3x8x8 images with a known normalisation (mean 0.5, std per channel)."""

    def __init__(self, std: tuple[float, float, float] = (0.2, 0.3, 0.4)) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(3 * 8 * 8, 5).double()
        self.register_buffer("std", torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1))
        self.bandlimit_meta = {"std": list(std), "mean": [0.5, 0.5, 0.5]}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(((x - 0.5) / self.std).flatten(1))


def _reference(net: _Net, x: torch.Tensor, u: torch.Tensor, radius: float) -> torch.Tensor:
    """The official recipe, one point at a time, in the *normalised* input space.

    ``u``: (K, C, H, W) unit directions in normalised units. Points: the clean input, then
    ``z ± r u_k`` for r in (R/3, 2R/3, R); softmax probabilities averaged; log returned.
    """
    z = (x - 0.5) / net.std  # normalised input
    probs = [torch.softmax(net.fc(z.flatten(1)), dim=1)]
    for r in (radius / 3, 2 * radius / 3, radius):
        for sign in (1.0, -1.0):
            for k in range(u.shape[0]):
                probs.append(torch.softmax(net.fc((z + sign * r * u[k]).flatten(1)), dim=1))
    return torch.stack(probs).mean(dim=0).log()


def test_matches_the_official_recipe_point_by_point() -> None:
    net = _Net()
    x = torch.rand(4, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    defended = LinPostAveraging(net, radius=6.0, samples=5, seed=3)
    assert defended.forwards_per_image == 31 and defended.std == (0.2, 0.3, 0.4)
    u = defended.unit_directions(x)[0]  # (K, C, H, W), unit L2 norm each
    torch.testing.assert_close(u.flatten(1).norm(dim=1), torch.ones(5, dtype=torch.float64))
    torch.testing.assert_close(defended(x), _reference(net, x, u, 6.0), rtol=0, atol=1e-12)
    # The outputs are log-probabilities: their softmax is the averaged probability.
    torch.testing.assert_close(defended(x).exp().sum(dim=1), torch.ones(4, dtype=torch.float64))


def test_points_are_the_clean_image_and_plus_minus_pairs_at_three_radii() -> None:
    net = _Net()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    defended = LinPostAveraging(net, radius=3.0, samples=4, seed=0)
    pts = defended.points(x)
    assert pts.shape == (2, 1 + 6 * 4, 3, 8, 8)
    assert torch.equal(pts[:, 0], x)  # the clean input is one of the points
    # In normalised units every step has norm r in {1, 2, 3}, eight times each (4 directions x 2 signs).
    steps = ((pts[:, 1:] - x[:, None]) / net.std[None]).flatten(2).norm(dim=2)
    for b in range(2):
        assert sorted(round(v, 9) for v in steps[b].tolist()) == [1.0] * 8 + [2.0] * 8 + [3.0] * 8
    # +u and -u pairs: the mean step is zero at every radius.
    torch.testing.assert_close((pts[:, 1:] - x[:, None]).sum(dim=1), torch.zeros_like(x), rtol=0, atol=1e-12)


def test_registered_fresh_by_default_and_seeded_on_request() -> None:
    net = _Net()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    fresh = apply_defense(net, "postavg-lin", radius=6.0)
    assert isinstance(fresh, LinPostAveraging) and fresh.randomized
    assert not torch.equal(fresh(x), fresh(x))
    seeded = apply_defense(net, "postavg-lin", radius=6.0, seed=1)
    assert not seeded.randomized and torch.equal(seeded(x), seeded(x))
    assert seeded.config == {"radius": 6.0, "samples": 15, "std": (0.2, 0.3, 0.4), "seed": 1}
    assert isinstance(seeded, PostAveraging)  # the attacks and the harness treat both alike


def test_std_falls_back_to_cifar10_and_is_checked() -> None:
    plain = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 3))
    assert LinPostAveraging(plain, radius=1.0).std == pytest.approx((0.2470, 0.2435, 0.2616))
    with pytest.raises(ValueError, match="std: expected positive finite"):
        LinPostAveraging(plain, radius=1.0, std=(0.2, 0.0, 0.3))
    with pytest.raises(ValueError, match="std: expected 3 per-channel values for 3-channel images, got 1"):
        LinPostAveraging(plain, radius=1.0, std=(0.2,))(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="radius"):
        LinPostAveraging(plain, radius=-1.0)


def test_gradients_flow_for_eot_attacks() -> None:
    net = _Net()
    x = torch.rand(2, 3, 8, 8, dtype=torch.float64, requires_grad=True)
    defended = LinPostAveraging(net, radius=2.0, samples=3, seed=0)
    loss = torch.nn.functional.nll_loss(defended(x), torch.tensor([0, 1]))
    (g,) = torch.autograd.grad(loss, x)
    assert g.shape == x.shape and bool(torch.isfinite(g).all()) and float(g.abs().sum()) > 0
    assert not math.isnan(float(loss.detach()))
