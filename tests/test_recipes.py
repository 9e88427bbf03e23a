"""Tests of defenses.recipes: every recipe's loss, perturbation budgets, noise statistics, registry."""

from __future__ import annotations

import pytest
import torch
from _doubles import BNConvNet, random_batch
from torch import nn
from torch.nn import functional as F

from defenses.recipes import (
    TRADES,
    FastFGSMRS,
    GaussianAugmentation,
    PGDAdversarialTraining,
    create_recipe,
    list_recipes,
)

EPS = 8 / 255


@pytest.fixture
def model() -> nn.Module:
    torch.manual_seed(0)
    return BNConvNet().train()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return random_batch(16, 8)


#: Every recipe's settings and their defaults, as recorded in checkpoints and the run identity.
DEFAULT_CONFIG = {
    "natural": {"label_smoothing": 0.0},
    "gaussian": {"sigma": 0.1, "mode": "fixed", "label_smoothing": 0.0},
    "pgd_at": {"eps": EPS, "steps": 10, "step_size": 2 / 255, "random_start": True, "label_smoothing": 0.0},
    "fast_fgsm_rs": {"eps": EPS, "step_size": 10 / 255, "label_smoothing": 0.0},
    "trades": {"beta": 6.0, "eps": EPS, "steps": 10, "step_size": 2 / 255},
}
SETTINGS = {
    "natural": {},
    "gaussian": {"sigma": 0.1, "mode": "uniform"},
    "pgd_at": {"steps": 3},
    "fast_fgsm_rs": {},
    "trades": {"steps": 3},
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_every_recipe_gives_a_finite_differentiable_loss(
    name: str, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    x, y = batch
    recipe = create_recipe(name, **SETTINGS[name])
    loss, logits = recipe.loss(model, x, y, generator=torch.Generator().manual_seed(1))
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert logits.shape == (16, 10)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    # The model comes back in train mode with trainable parameters (attacks run in eval mode).
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert recipe.config == {**DEFAULT_CONFIG[name], **SETTINGS[name]} and recipe.name == name


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_recipes_are_reproducible_with_a_generator(
    name: str, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
) -> None:
    recipe = create_recipe(name, **SETTINGS[name])
    model.eval()  # fixed BatchNorm statistics so that two calls see the same function
    a, _ = recipe.loss(model, *batch, generator=torch.Generator().manual_seed(3))
    b, _ = recipe.loss(model, *batch, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


class TestGaussian:
    def test_fixed_sigma_statistics(self) -> None:
        x = torch.full((64, 3, 16, 16), 0.5)
        noisy = GaussianAugmentation(sigma=0.05).perturb(x, generator=torch.Generator().manual_seed(0))
        d = noisy - x
        assert abs(float(d.mean())) < 2e-3  # 49k samples: std of the mean 2.3e-4
        assert float(d.std()) == pytest.approx(0.05, rel=0.02)

    def test_uniform_sigma_statistics(self) -> None:
        # s ~ U[0, sigma] per image: E[s^2] = sigma^2 / 3, so the pooled std is sigma / sqrt(3).
        x = torch.full((2000, 3, 8, 8), 0.5)
        noisy = GaussianAugmentation(sigma=0.09, mode="uniform").perturb(x, generator=torch.Generator().manual_seed(0))
        d = noisy - x
        assert float(d.std()) == pytest.approx(0.09 / 3**0.5, rel=0.03)
        per_image = d.flatten(1).std(dim=1)
        assert float(per_image.max()) < 0.09 * 1.2 and float(per_image.min()) < 0.01

    def test_clipped_to_unit_box(self) -> None:
        x = torch.rand(8, 3, 8, 8)
        noisy = GaussianAugmentation(sigma=0.5).perturb(x, generator=torch.Generator().manual_seed(0))
        assert float(noisy.min()) >= 0 and float(noisy.max()) <= 1

    def test_sigma_zero_is_natural(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        model.eval()
        loss, _ = GaussianAugmentation(sigma=0.0).loss(model, *batch, generator=torch.Generator())
        assert torch.allclose(loss, F.cross_entropy(model(batch[0]), batch[1]))


class TestAdversarial:
    def test_fast_fgsm_rs_within_eps_and_matches_reference(
        self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]
    ) -> None:
        x, y = batch
        recipe = FastFGSMRS(eps=EPS)
        x_adv = recipe.perturb(model, x, y, generator=torch.Generator().manual_seed(7))
        delta = x_adv - x
        assert float(delta.abs().max()) <= EPS + 1e-6
        assert float(x_adv.min()) >= 0 and float(x_adv.max()) <= 1
        # Independent FGSM-RS (Wong et al. 2020) with the same uniform draw, BN in eval mode.
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(7))
        d0 = ((2 * u - 1) * EPS + x).clamp(0, 1) - x
        model.eval()
        d = d0.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x + d), y), d)
        ref = (x + (d0 + 10 / 255 * g.sign()).clamp(-EPS, EPS)).clamp(0, 1)
        assert torch.allclose(x_adv, ref, atol=1e-6)
        # A step of 1.25 eps after clipping puts most coordinates on the ball's boundary.
        assert float(((delta.abs() - EPS).abs() < 1e-6).float().mean()) > 0.5

    def test_pgd_at_examples_raise_the_loss(self, model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        x, y = batch
        recipe = PGDAdversarialTraining(eps=EPS, steps=5)
        x_adv = recipe._attack(model, x, y, generator=torch.Generator().manual_seed(0))
        assert float((x_adv - x).abs().max()) <= EPS + 1e-6
        model.eval()
        with torch.no_grad():
            assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y)

    def test_trades_matches_an_independent_reference(self, batch: tuple[torch.Tensor, torch.Tensor]) -> None:
        # Zhang et al.'s inner loop written out in image space (their train_trades_cifar10.py):
        # start at x + 0.001 N(0, I) in the box, then signed KL-gradient steps, each clipped to
        # the eps-ball around x and to [0, 1].
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(192, 10))  # no BN: train = eval
        x, y = batch
        steps, step_size = 4, 2 / 255
        p_clean = F.softmax(model(x), 1).detach()
        noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
        start = torch.min(torch.max(x + 0.001 * noise, x - EPS), x + EPS).clamp(0, 1)
        ref = start
        for _ in range(steps):
            xa = ref.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.kl_div(F.log_softmax(model(xa), 1), p_clean, reduction="sum"), xa)
            ref = torch.min(torch.max(xa.detach() + step_size * g.sign(), x - EPS), x + EPS).clamp(0, 1)

        recipe = TRADES(beta=6.0, eps=EPS, steps=steps, step_size=step_size)
        x_adv = recipe.perturb(model, x, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(x_adv, ref, atol=1e-6, rtol=0)

        def kl(images: torch.Tensor) -> torch.Tensor:
            return F.kl_div(F.log_softmax(model(images), 1), F.softmax(model(x), 1), reduction="batchmean")

        assert kl(ref) > 10 * kl(start)  # the inner loop maximises the KL term
        loss, logits = recipe.loss(model, x, y, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(logits, model(x))  # the clean logits
        torch.testing.assert_close(loss, F.cross_entropy(model(x), y) + 6.0 * kl(ref), atol=1e-5, rtol=0)


class TestRegistry:
    def test_names(self) -> None:
        assert list_recipes() == ["fast_fgsm_rs", "gaussian", "natural", "pgd_at", "trades"]

    @pytest.mark.parametrize(
        ("name", "kw", "match"),
        [
            ("pgd_at", {"eps": 0.0}, "eps"),
            ("pgd_at", {"eps": 1.5}, r"eps: expected a budget in \(0, 1\]"),
            ("fast_fgsm_rs", {"eps": -0.1}, "eps"),
            ("pgd_at", {"steps": 0}, "steps"),
            ("trades", {"steps": 0}, "steps"),
            ("gaussian", {"sigma": -0.1}, "sigma"),
            ("gaussian", {"mode": "normal"}, "mode"),
            ("natural", {"label_smoothing": 1.0}, "label_smoothing"),
            ("trades", {"beta": -1.0}, "beta"),
        ],
    )
    def test_bad_settings(self, name: str, kw: dict[str, object], match: str) -> None:
        with pytest.raises(ValueError, match=match):
            create_recipe(name, **kw)

    def test_unknown_name_and_setting(self) -> None:
        with pytest.raises(ValueError, match=r"expected one of \['fast_fgsm_rs'"):
            create_recipe("madry")
        with pytest.raises(TypeError, match="unknown settings"):
            create_recipe("natural", eps=0.1)
