"""Tests for defenses.smoothing: Wang et al.'s first-layer kernel smoothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _cases import refused_nonnegative
from scipy.signal import convolve2d
from torch import nn

from defenses.smoothing import find_first_conv, smooth_first_conv, smooth_kernels, smoothing_kernel


def _scipy_smooth(weight: torch.Tensor, rho: float) -> np.ndarray:
    """Independent reference: scipy 'same' convolution with symmetric boundary, kernel by kernel."""
    m = np.full((3, 3), rho)
    m[1, 1] = 1.0
    w = weight.detach().double().numpy()
    flat = w.reshape(-1, *w.shape[-2:])
    out = np.stack([convolve2d(k, m, mode="same", boundary="symm") for k in flat])
    return out.reshape(w.shape)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv2(self.stem(x)).mean(dim=(2, 3)))


@pytest.fixture
def net() -> Net:
    torch.manual_seed(0)
    return Net().eval()


class TestSmoothKernels:
    def test_mask(self) -> None:
        m = smoothing_kernel(0.25, dtype=torch.float64)
        expected = torch.tensor([[0.25, 0.25, 0.25], [0.25, 1.0, 0.25], [0.25, 0.25, 0.25]], dtype=torch.float64)
        assert torch.equal(m, expected)

    def test_hand_computed_corner(self) -> None:
        # One-hot at (0, 0): with symmetric reflection the corner is its own neighbour 3 times.
        rho = 0.3
        w = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
        w[0, 0, 0, 0] = 1.0
        expected = torch.tensor([[1 + 3 * rho, 2 * rho, 0], [2 * rho, rho, 0], [0, 0, 0]], dtype=torch.float64)
        torch.testing.assert_close(smooth_kernels(w, rho)[0, 0], expected, atol=1e-15, rtol=0)

    def test_constant_kernel_scales_by_one_plus_8_rho(self) -> None:
        w = torch.full((2, 3, 3, 3), 0.7, dtype=torch.float64)
        torch.testing.assert_close(smooth_kernels(w, 0.5), w * 5.0)
        torch.testing.assert_close(smooth_kernels(w, 0.5, preserve_norm="sum"), w)

    @pytest.mark.parametrize("rho", [0.1, 0.25, 0.5, 1.0, 3.0])
    @pytest.mark.parametrize("shape", [(4, 3, 3, 3), (2, 2, 5, 5), (3, 1, 4, 2), (3, 3, 2, 2)])
    def test_matches_scipy_symmetric_convolution(self, rho: float, shape: tuple[int, ...]) -> None:
        w = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        np.testing.assert_allclose(smooth_kernels(w, rho).numpy(), _scipy_smooth(w, rho), atol=1e-13, rtol=0)

    def test_float32_matches_scipy(self) -> None:
        w = torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(1))
        out = smooth_kernels(w, 0.25)
        assert out.dtype == torch.float32
        np.testing.assert_allclose(out.double().numpy(), _scipy_smooth(w, 0.25), atol=1e-5, rtol=0)

    def test_acts_on_spatial_kernels_not_channel_plane(self) -> None:
        # Each (out, in) kernel is smoothed on its own: changing one kernel changes only its output.
        w = torch.randn(3, 2, 3, 3, dtype=torch.float64)
        w2 = w.clone()
        w2[1, 0] += 1.0
        diff = (smooth_kernels(w2, 0.5) - smooth_kernels(w, 0.5)).abs().sum(dim=(-2, -1))
        assert diff[1, 0] > 0
        diff[1, 0] = 0
        assert torch.equal(diff, torch.zeros_like(diff))

    def test_rho_zero_is_identity(self) -> None:
        w = torch.randn(4, 3, 3, 3)
        assert torch.equal(smooth_kernels(w, 0.0), w)

    def test_preserve_sum_and_l2(self) -> None:
        w = torch.randn(6, 3, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
        s = smooth_kernels(w, 0.4, preserve_norm="sum")
        torch.testing.assert_close(s.sum(dim=(-2, -1)), w.sum(dim=(-2, -1)))
        torch.testing.assert_close(s, torch.from_numpy(_scipy_smooth(w, 0.4)) / (1 + 8 * 0.4))
        l2 = smooth_kernels(w, 0.4, preserve_norm="l2")
        torch.testing.assert_close(l2.norm(dim=(-2, -1)), w.norm(dim=(-2, -1)))
        # Same direction as the paper's kernel, only rescaled.
        raw = smooth_kernels(w, 0.4)
        cos = (raw * l2).sum(dim=(-2, -1)) / (raw.norm(dim=(-2, -1)) * l2.norm(dim=(-2, -1)))
        torch.testing.assert_close(cos, torch.ones_like(cos))

    def test_l2_keeps_zero_kernels_zero(self) -> None:
        w = torch.zeros(2, 1, 3, 3)
        w[0, 0, 1, 1] = 1.0
        out = smooth_kernels(w, 0.5, preserve_norm="l2")
        assert torch.equal(out[1], torch.zeros(1, 3, 3)) and torch.isfinite(out).all()

    def test_smoothing_damps_high_frequencies(self) -> None:
        # The normalised M_rho is a low-pass: a checkerboard kernel loses energy, a constant does not.
        checker = ((torch.arange(3).view(-1, 1) + torch.arange(3)) % 2 * 2.0 - 1.0).view(1, 1, 3, 3)
        out = smooth_kernels(checker.double(), 0.5, preserve_norm="sum")
        assert out.norm() < 0.6 * checker.norm()

    def test_no_autograd_history(self) -> None:
        w = torch.randn(2, 2, 3, 3, requires_grad=True)
        assert not smooth_kernels(w, 0.3).requires_grad

    @pytest.mark.parametrize(
        ("kwargs", "exc", "match"),
        [
            *refused_nonnegative("rho", -0.1, "0.1"),
            ({"rho": 0.1, "preserve_norm": "max"}, ValueError, "preserve_norm"),
            ({"rho": 0.1, "preserve_norm": True}, ValueError, "preserve_norm"),
        ],
    )
    def test_errors(self, kwargs: dict, exc: type, match: str) -> None:
        with pytest.raises(exc, match=match):
            smooth_kernels(torch.randn(2, 2, 3, 3), **kwargs)

    def test_one_pixel_kernels_rejected(self) -> None:
        with pytest.raises(ValueError, match="at least 2x2"):
            smooth_kernels(torch.randn(4, 3, 1, 1), 0.1)
        with pytest.raises(ValueError, match="at least 2x2"):
            smooth_kernels(torch.randn(4, 3, 1, 5), 0.1)
        with pytest.raises(TypeError, match="floating"):
            smooth_kernels(torch.ones(2, 2, 3, 3, dtype=torch.long), 0.1)


class TestSmoothFirstConv:
    def test_original_untouched_and_first_conv_smoothed(self, net: Net) -> None:
        before = {k: v.clone() for k, v in net.state_dict().items()}
        out = smooth_first_conv(net, 0.5)
        assert out is not net
        for k, v in net.state_dict().items():
            assert torch.equal(v, before[k]), k
        np.testing.assert_allclose(
            out.stem[0].weight.detach().double().numpy(), _scipy_smooth(before["stem.0.weight"], 0.5), atol=1e-5
        )
        # Every other tensor (second conv, BatchNorm statistics, head) is copied unchanged.
        for k, v in out.state_dict().items():
            if k != "stem.0.weight":
                assert torch.equal(v, before[k]), k
        assert out.stem[0].weight is not net.stem[0].weight

    def test_rho_zero_gives_same_outputs(self, net: Net) -> None:
        x = torch.rand(2, 3, 8, 8)
        with torch.no_grad():
            assert torch.equal(smooth_first_conv(net, 0.0)(x), net(x))

    def test_named_layer(self, net: Net) -> None:
        out = smooth_first_conv(net, 0.25, layer="conv2", preserve_norm="l2")
        assert torch.equal(out.stem[0].weight, net.stem[0].weight)
        torch.testing.assert_close(out.conv2.weight, smooth_kernels(net.conv2.weight, 0.25, preserve_norm="l2"))
        torch.testing.assert_close(out.conv2.bias, net.conv2.bias)

    def test_find_first_conv_uses_module_order(self, net: Net) -> None:
        name, conv = find_first_conv(net)
        assert name == "stem.0" and conv is net.stem[0]

    def test_model_that_is_a_conv(self) -> None:
        conv = nn.Conv2d(3, 2, 3)
        out = smooth_first_conv(conv, 1.0, preserve_norm="sum")
        torch.testing.assert_close(out.weight, smooth_kernels(conv.weight, 1.0, preserve_norm="sum"))

    def test_keeps_training_mode_and_metadata(self, net: Net) -> None:
        net.bandlimit_meta = {"architecture": "net"}
        net.train()
        out = smooth_first_conv(net, 0.1, preserve_norm="sum")
        assert out.training
        assert out.bandlimit_meta["architecture"] == "net"
        assert out.bandlimit_meta["defense"] == {
            "name": "kernel_smoothing", "rho": 0.1, "preserve_norm": "sum", "layer": "stem.0",
        }  # fmt: skip
        assert "defense" not in net.bandlimit_meta

    def test_errors(self, net: Net) -> None:
        with pytest.raises(ValueError, match="without one"):
            smooth_first_conv(nn.Sequential(nn.Flatten(), nn.Linear(3, 2)), 0.1)
        with pytest.raises(ValueError, match=r"\['stem.0', 'conv2'\]"):
            smooth_first_conv(net, 0.1, layer="conv9")
        with pytest.raises(ValueError, match=r"expected an nn\.Conv2d, got 'head'"):
            smooth_first_conv(net, 0.1, layer="head")
        with pytest.raises(ValueError, match="rho"):
            smooth_first_conv(net, -1.0)
        with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
            smooth_first_conv("resnet20", 0.1)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="at least 2x2"):
            smooth_first_conv(nn.Sequential(nn.Conv2d(3, 3, 1)), 0.1)
