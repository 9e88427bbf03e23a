"""Helpers of the command-line tests: a small model the CLI can import as ``<module>:build``.

The model is a linear classifier that interpolates the first 16 CIFAR-10 sample images (least
squares): it classifies those images correctly, has honest gradients and an L∞ margin of about
5.5/255 on each image, so every analysis has something to measure, in well under a second.
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path

import pytest

MODULE = textwrap.dedent(
    """
    import torch
    from torch import nn
    from bandlimit.data import load_dataset, to_tensors

    def build():
        x, y = to_tensors(load_dataset("cifar10-sample", n=16))
        features = x.flatten(1).double()
        targets = 4.0 * torch.nn.functional.one_hot(y, 10).double()
        pinv = torch.linalg.pinv(features)
        # Add a seeded component in the null space of the images: still interpolating, but
        # with an L∞ margin of about 5.5/255 instead of 20/255 (robust at 1/255, not at 8/255).
        noise = torch.randn(features.shape[1], 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        weight = pinv @ targets + 0.05 * (noise - pinv @ (features @ noise))
        layer = nn.Linear(features.shape[1], 10, bias=False)
        layer.weight.data = weight.T.float().contiguous()
        return nn.Sequential(nn.Flatten(), layer)
    """
)


def importable_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Write :data:`MODULE` under a fresh module name into ``tmp_path``; returns ``<module>:build``."""
    name = f"cli_model_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return f"{name}:build"
