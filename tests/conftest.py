"""Shared fixtures: tiny deterministic models and data, device selection, GPU marker."""

from __future__ import annotations

import os

import pytest
import torch
from _doubles import random_batch
from hypothesis import settings
from torch import nn

# CI runs property tests on a fixed example sequence (reproducible failures, no flakiness from
# timing on a loaded 2-core machine); locally hypothesis explores new examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``gpu`` when no CUDA device is present."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


class TinyConvNet(nn.Module):
    """A small ReLU conv net on [0,1] images: fast enough for property tests on CPU."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(width * 4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@pytest.fixture
def tiny_model() -> nn.Module:
    """A seeded tiny conv net (3 channels, 10 classes) in eval mode."""
    torch.manual_seed(0)
    return TinyConvNet().eval()


@pytest.fixture
def tiny_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Eight random 3x16x16 images in [0,1] and labels, from a seeded CPU generator."""
    return random_batch(8, 16)


@pytest.fixture
def device() -> torch.device:
    """The test device: CUDA when present, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@pytest.fixture(autouse=True)
def _private_leaderboard_cache(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """Leaderboard baselines are cached across runs in the user's cache: never the real one in tests."""
    monkeypatch.setenv("BANDLIMIT_LEADERBOARD_CACHE", str(tmp_path) + "/leaderboard-cache")
