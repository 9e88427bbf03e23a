"""The public ResNet-20 and the lossless CIFAR-10 test images, for the attack benchmarks.

Both live in the ``shared/`` folder beside the repository (``shared/weights`` and
``shared/data/cifar10``); scripts exit with a message naming them when they are missing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
WEIGHTS = SHARED / "weights" / "resnet20-12fca82f.th"
DATA = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"


def resnet20_and_images(n: int, model: str | None = None) -> tuple[nn.Module, Tensor, Tensor]:
    """A model (eval mode) and the first ``n`` lossless test images and labels.

    Args:
        n: Number of images.
        model: None for the public natural ResNet-20 (``shared/weights``), else the name of a
            registered model loaded with ``create_model(model, pretrained=True)``.
    """
    if not (DATA.exists() and (model is not None or WEIGHTS.exists())):
        sys.exit(f"needs {WEIGHTS} and {DATA} (the shared/ folder beside the repository)")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from bandlimit.models import create_model, load_checkpoint

    if model is None:
        net = load_checkpoint(WEIGHTS, create_model("resnet20"))
    else:
        net = create_model(model, pretrained=True)
    data = np.load(DATA)
    x = torch.from_numpy(data["x"][:n]).permute(0, 3, 1, 2).float().div(255).contiguous()
    y = torch.from_numpy(data["y"][:n]).long()
    return net.eval(), x, y


def correct(model: nn.Module, x: Tensor, y: Tensor, batch: int = 256) -> Tensor:
    """Per-sample correctness of the model's predictions, ``(N,)`` bool."""
    with torch.no_grad():
        return torch.cat([model(x[i : i + batch]).argmax(1) == y[i : i + batch] for i in range(0, len(x), batch)])
