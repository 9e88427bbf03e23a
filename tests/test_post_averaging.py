"""Tests for defenses.post_averaging: estimator, directions, randomness, gradients, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from _cases import refused_nonnegative
from torch import nn

from bandlimit._torch import CPU_PASS_SIZE
from defenses.post_averaging import PostAveraging, sample_directions


class SmoothNet(nn.Module):
    """A tiny smooth (tanh) model, so finite-difference gradchecks never straddle a ReLU kink."""

    def __init__(self, channels: int = 2, size: int = 4, classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 3, 3, padding=1)
        self.head = nn.Linear(3 * size * size, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.conv(x)).flatten(1))


def _images(n: int = 4, c: int = 3, h: int = 8, w: int = 8, *, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(1), dtype=dtype)


def _naive(model: nn.Module, x: torch.Tensor, u: torch.Tensor, r: float, average: str) -> torch.Tensor:
    """Independent reference: a Python loop over the K points."""
    outs = []
    for k in range(u.shape[1]):
        logits = model(x + r * u[:, k])
        outs.append(logits if average == "logits" else torch.softmax(logits, dim=1))
    mean = torch.stack(outs).mean(dim=0)
    return mean if average == "logits" else mean.log()


# --------------------------------------------------------------------------- directions


class TestSampleDirections:
    @pytest.mark.parametrize("kind", ["gaussian", "orthogonal", "antithetic"])
    def test_unit_norm_and_shape(self, kind: str) -> None:
        g = torch.Generator().manual_seed(0)
        u = sample_directions(5, 6, (3, 4, 4), kind=kind, generator=g, dtype=torch.float64)
        assert u.shape == (5, 6, 3, 4, 4)
        norms = u.flatten(2).norm(dim=-1)
        torch.testing.assert_close(norms, torch.ones_like(norms), atol=1e-12, rtol=0)

    def test_orthogonal_directions_are_orthonormal(self) -> None:
        u = sample_directions(3, 10, (2, 4, 4), kind="orthogonal", generator=torch.Generator().manual_seed(0))
        flat = u.flatten(2).double()
        gram = flat @ flat.transpose(1, 2)
        torch.testing.assert_close(gram, torch.eye(10, dtype=torch.float64).expand(3, 10, 10), atol=1e-5, rtol=0)

    def test_orthogonal_full_basis(self) -> None:
        # K = D: the directions form a complete orthonormal basis.
        u = sample_directions(1, 12, (3, 2, 2), kind="orthogonal", dtype=torch.float64)
        flat = u[0].flatten(1)
        torch.testing.assert_close(flat.T @ flat, torch.eye(12, dtype=torch.float64), atol=1e-12, rtol=0)

    def test_antithetic_pairs_cancel(self) -> None:
        u = sample_directions(4, 8, (3, 5, 5), kind="antithetic", generator=torch.Generator().manual_seed(0))
        assert torch.equal(u[:, :4] + u[:, 4:], torch.zeros_like(u[:, :4]))

    def test_gaussian_directions_are_isotropic(self) -> None:
        # Uniform on the sphere: E[u] = 0 and E[u u^T] = I / D.
        u = sample_directions(1, 20000, (2, 2, 2), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        flat = u[0].flatten(1)
        assert flat.mean(0).abs().max() < 0.03
        cov = flat.T @ flat / flat.shape[0]
        torch.testing.assert_close(cov, torch.eye(8, dtype=torch.float64) / 8, atol=0.01, rtol=0)

    def test_orthogonal_first_column_is_unbiased(self) -> None:
        # Without the sign correction of Q, LAPACK's convention skews the directions' mean.
        u = sample_directions(4000, 2, (2, 2, 1), kind="orthogonal", generator=torch.Generator().manual_seed(0))
        assert u[:, 0].flatten(1).mean(0).abs().max() < 0.05

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="directions"):
            sample_directions(1, 2, (3,), kind="sobol")
        with pytest.raises(ValueError, match="even"):
            sample_directions(1, 3, (3,), kind="antithetic")
        with pytest.raises(ValueError, match="at most C\\*H\\*W = 4"):
            sample_directions(1, 5, (1, 2, 2), kind="orthogonal")


# --------------------------------------------------------------------------- the estimator


class TestPostAveraging:
    def test_radius_zero_is_the_model(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        with torch.no_grad():
            assert torch.equal(PostAveraging(tiny_model, radius=0.0)(x), tiny_model(x))
            probs = PostAveraging(tiny_model, radius=0, average="probs")(x)
            torch.testing.assert_close(probs, torch.log_softmax(tiny_model(x), dim=1))

    def test_small_radius_approaches_the_model(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        with torch.no_grad():
            out = PostAveraging(tiny_model, radius=1e-4, seed=0)(x)
            torch.testing.assert_close(out, tiny_model(x), atol=1e-4, rtol=0)

    @pytest.mark.parametrize("directions", ["gaussian", "orthogonal", "antithetic"])
    @pytest.mark.parametrize("average", ["logits", "probs"])
    def test_shape_and_finite(self, tiny_model: nn.Module, tiny_batch: tuple, directions: str, average: str) -> None:
        x, _ = tiny_batch
        pa = PostAveraging(tiny_model, radius=2.0, samples=4, directions=directions, average=average)
        with torch.no_grad():
            out = pa(x)
        assert out.shape == (8, 10)
        assert torch.isfinite(out).all()

    @pytest.mark.parametrize("directions", ["gaussian", "orthogonal", "antithetic"])
    def test_points_lie_on_the_sphere(self, tiny_model: nn.Module, directions: str) -> None:
        x = _images(dtype=torch.float64)
        pa = PostAveraging(tiny_model.double(), radius=1.7, samples=6, directions=directions)
        dist = (pa.points(x) - x.unsqueeze(1)).flatten(2).norm(dim=-1)
        torch.testing.assert_close(dist, torch.full_like(dist, 1.7), atol=1e-12, rtol=0)

    def test_clip_option(self, tiny_model: nn.Module) -> None:
        x = _images()
        assert not ((PostAveraging(tiny_model, radius=3.0).points(x) - 0.5).abs() <= 0.5).all()
        pts = PostAveraging(tiny_model, radius=3.0, clip=True).points(x)
        assert pts.min() >= 0 and pts.max() <= 1

    def test_seeded_is_deterministic_and_shared(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        pa = PostAveraging(tiny_model, radius=2.0, samples=5, seed=7)
        assert not pa.randomized
        with torch.no_grad():
            a, b = pa(x), pa(x)
            # Same directions for every image: the output of an image does not depend on its batch.
            c = pa(x[3:5])
            d = PostAveraging(tiny_model, radius=2.0, samples=5, seed=7)(x)
        assert torch.equal(a, b)
        torch.testing.assert_close(c, a[3:5], atol=1e-6, rtol=0)
        assert torch.equal(a, d)

    def test_fresh_mode_varies(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        pa = PostAveraging(tiny_model, radius=2.0, samples=5)
        assert pa.randomized
        with torch.no_grad():
            assert not torch.equal(pa(x), pa(x))
        # Different images of one batch get different directions.
        u = pa.unit_directions(x)
        assert u.shape == (8, 5, 3, 16, 16)
        assert not torch.equal(u[0], u[1])

    def test_generator_makes_fresh_draws_reproducible(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        runs = []
        for _ in range(2):
            pa = PostAveraging(tiny_model, radius=2.0, samples=3, generator=torch.Generator().manual_seed(5))
            with torch.no_grad():
                runs.append(torch.stack([pa(x), pa(x)]))
        assert torch.equal(runs[0], runs[1])
        assert not torch.equal(runs[0][0], runs[0][1])

    def test_global_rng_untouched(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        state = torch.get_rng_state()
        with torch.no_grad():
            PostAveraging(tiny_model, radius=1.0, samples=3)(x)
            PostAveraging(tiny_model, radius=1.0, samples=3, seed=1)(x)
        assert torch.equal(state, torch.get_rng_state())

    @pytest.mark.parametrize("average", ["logits", "probs"])
    @pytest.mark.parametrize("directions", ["gaussian", "antithetic"])
    def test_equals_naive_loop(self, tiny_model: nn.Module, average: str, directions: str) -> None:
        x = _images(3, 3, 16, 16, dtype=torch.float64)
        model = tiny_model.double()
        pa = PostAveraging(model, radius=1.5, samples=6, directions=directions, average=average,
                           generator=torch.Generator().manual_seed(3))  # fmt: skip
        with torch.no_grad():
            out = pa(x)
            u = sample_directions(3, 6, (3, 16, 16), kind=directions, generator=torch.Generator().manual_seed(3),
                                  dtype=torch.float64)  # fmt: skip
            ref = _naive(model, x, u, 1.5, average)
        torch.testing.assert_close(out, ref, atol=1e-12, rtol=0)

    def test_probs_average_is_mean_probability(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        logits_pa = PostAveraging(tiny_model, radius=3.0, samples=4, seed=2)
        probs_pa = PostAveraging(tiny_model, radius=3.0, samples=4, seed=2, average="probs")
        with torch.no_grad():
            u = logits_pa.unit_directions(x)
            per_point = torch.stack([tiny_model(x + 3.0 * u[:, k]) for k in range(4)], dim=1)
            out = probs_pa(x)
        torch.testing.assert_close(out.softmax(dim=1), per_point.softmax(dim=2).mean(dim=1), atol=1e-6, rtol=0)
        torch.testing.assert_close(out.exp().sum(dim=1), torch.ones(8), atol=1e-5, rtol=0)
        # The two averages differ in general (softmax is not linear); confident logits show it.
        sharp = copy.deepcopy(tiny_model)
        with torch.no_grad():
            sharp.head.weight.mul_(300)
            p_logits = PostAveraging(sharp, radius=3.0, samples=4, seed=2)(x).softmax(dim=1)
            p_probs = PostAveraging(sharp, radius=3.0, samples=4, seed=2, average="probs")(x).softmax(dim=1)
        assert (p_logits - p_probs).abs().max() > 1e-2

    def test_probs_average_is_stable_for_huge_logits(self) -> None:
        model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
        with torch.no_grad():
            model[1].weight.mul_(1e4)
        out = PostAveraging(model, radius=1.0, samples=4, seed=0, average="probs")(_images(2, 3, 2, 2))
        assert torch.isfinite(out).all()

    def test_antithetic_is_exact_on_linear_models(self) -> None:
        # Pairs u, -u cancel: the average of an affine model is the model at x, for any radius.
        model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5)).double()
        x = _images(3, 3, 4, 4, dtype=torch.float64)
        pa = PostAveraging(model, radius=10.0, samples=6, directions="antithetic")
        with torch.no_grad():
            torch.testing.assert_close(pa(x), model(x), atol=1e-12, rtol=0)

    def test_chunking_matches_one_batch(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        with torch.no_grad():
            whole = PostAveraging(tiny_model, radius=2.0, samples=5, seed=4)(x)
            for chunk in (1, 7, 40, 1000):
                part = PostAveraging(tiny_model, radius=2.0, samples=5, seed=4, chunk_size=chunk)(x)
                torch.testing.assert_close(part, whole, atol=1e-6, rtol=1e-6)

    def test_one_batched_forward(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        sizes: list[int] = []
        hook = tiny_model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
        try:
            with torch.no_grad():
                PostAveraging(tiny_model, radius=1.0, samples=5, chunk_size=1000)(x)
                PostAveraging(tiny_model, radius=1.0, samples=5, chunk_size=16)(x)
        finally:
            hook.remove()
        assert sizes == [40, 16, 16, 8]  # all K*B points in one call, or in chunks; never K calls of B

    def test_default_chunks_on_the_cpu(self, tiny_model: nn.Module) -> None:
        x = _images(30, 3, 8, 8)  # 30 images x 5 samples = 150 perturbed images > CPU_PASS_SIZE
        sizes: list[int] = []
        hook = tiny_model.register_forward_pre_hook(lambda _m, args: sizes.append(args[0].shape[0]))
        try:
            with torch.no_grad():
                default = PostAveraging(tiny_model, radius=1.0, samples=5, seed=2)(x)
                whole = PostAveraging(tiny_model, radius=1.0, samples=5, seed=2, chunk_size=150)(x)
        finally:
            hook.remove()
        full, rest = divmod(150, CPU_PASS_SIZE)
        assert sizes == [CPU_PASS_SIZE] * full + [rest] * (rest > 0) + [150]
        torch.testing.assert_close(default, whole, atol=1e-6, rtol=1e-6)

    def test_gradient_flows_to_input(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, y = tiny_batch
        x = x.clone().requires_grad_(True)
        loss = nn.functional.cross_entropy(PostAveraging(tiny_model, radius=1.0, samples=4)(x), y)
        loss.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0

    @pytest.mark.parametrize("average", ["logits", "probs"])
    @pytest.mark.parametrize("chunk", [None, 3])
    def test_gradcheck_seeded(self, average: str, chunk: int | None) -> None:
        torch.manual_seed(0)
        model = SmoothNet().double()
        pa = PostAveraging(model, radius=0.5, samples=3, seed=1, average=average, chunk_size=chunk)
        x = _images(2, 2, 4, 4, dtype=torch.float64).requires_grad_(True)
        assert torch.autograd.gradcheck(pa, (x,), eps=1e-6, atol=1e-6)

    def test_built_under_inference_mode_then_differentiated(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, y = tiny_batch
        pa = PostAveraging(tiny_model, radius=1.0, samples=3, seed=0)
        with torch.inference_mode():
            pa(x)
        xg = x.clone().requires_grad_(True)
        nn.functional.cross_entropy(pa(xg), y).backward()
        assert xg.grad is not None

    def test_state_dict_and_copy(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        pa = PostAveraging(tiny_model, radius=1.0, samples=3, seed=0)
        assert set(pa.state_dict()) == {f"model.{k}" for k in tiny_model.state_dict()}
        with torch.no_grad():
            out = pa(x)
            assert torch.equal(copy.deepcopy(pa)(x), out)
        fresh = copy.deepcopy(PostAveraging(tiny_model, radius=1.0, generator=torch.Generator().manual_seed(0)))
        assert fresh.randomized

    def test_metadata_and_config(self, tiny_model: nn.Module) -> None:
        tiny_model.bandlimit_meta = {"architecture": "tiny", "num_classes": 10}
        pa = PostAveraging(tiny_model, radius=2.5, samples=4, directions="antithetic")
        assert pa.bandlimit_meta["architecture"] == "tiny"
        assert pa.bandlimit_meta["defense"]["radius"] == 2.5
        assert "antithetic" in repr(pa)
        assert PostAveraging(tiny_model, radius=0.0).randomized is False

    def test_output_shape_is_checked(self) -> None:
        bad = nn.Flatten(0)  # returns a 1-D tensor instead of (N, classes)
        with pytest.raises(ValueError, match="expected logits of shape"):
            PostAveraging(bad, radius=1.0, samples=2)(_images(2, 1, 2, 2))

    @pytest.mark.gpu
    def test_cuda_matches_cpu_in_seeded_mode(self, tiny_model: nn.Module, tiny_batch: tuple) -> None:
        x, _ = tiny_batch
        pa = PostAveraging(tiny_model, radius=2.0, samples=5, seed=3)
        with torch.no_grad():
            cpu = pa(x)
            gpu = pa.cuda()(x.cuda())
            fresh = PostAveraging(tiny_model.cuda(), radius=2.0, samples=5)(x.cuda())
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-4, rtol=1e-4)
        assert fresh.is_cuda and torch.isfinite(fresh).all()


# --------------------------------------------------------------------------- validation


class TestErrors:
    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            *refused_nonnegative("radius", -1.0, "1"),
            ({"radius": 1.0, "samples": 0}, ValueError, "samples: expected an integer >= 1"),
            ({"radius": 1.0, "samples": 2.0}, TypeError, "samples"),
            ({"radius": 1.0, "directions": "sobol"}, ValueError, "directions: expected one of"),
            ({"radius": 1.0, "average": "votes"}, ValueError, "average: expected one of"),
            ({"radius": 1.0, "directions": "antithetic", "samples": 15}, ValueError, "use 14 or 16"),
            ({"radius": 1.0, "chunk_size": 0}, ValueError, "chunk_size"),
            ({"radius": 1.0, "seed": 1, "generator": torch.Generator()}, ValueError, "at most one"),
            ({"radius": 1.0, "seed": 1.5}, TypeError, "seed"),
            ({"radius": 1.0, "generator": 3}, TypeError, "generator"),
            ({"radius": 1.0, "clip": "yes"}, TypeError, "clip"),
        ],
    )
    def test_bad_settings(self, tiny_model: nn.Module, kwargs: dict, exc: type, match: str) -> None:
        with pytest.raises(exc, match=match):
            PostAveraging(tiny_model, **kwargs)

    def test_bad_model(self) -> None:
        with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
            PostAveraging(lambda x: x, radius=1.0)  # type: ignore[arg-type]

    def test_bad_inputs(self, tiny_model: nn.Module) -> None:
        pa = PostAveraging(tiny_model, radius=1.0, samples=2)
        with pytest.raises(ValueError, match="N, C, H, W"):
            pa(torch.rand(3, 8, 8))
        with pytest.raises(TypeError, match="floating-point"):
            pa(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
        with pytest.raises(TypeError, match=r"torch\.Tensor"):
            pa([[0.5]])

    def test_too_many_orthogonal_directions(self, tiny_model: nn.Module) -> None:
        pa = PostAveraging(tiny_model, radius=1.0, samples=13, directions="orthogonal")
        with pytest.raises(ValueError, match="at most C\\*H\\*W = 12"):
            pa(torch.rand(1, 3, 2, 2))
