"""Wide ResNets for CIFAR (Zagoruyko & Komodakis 2016), e.g. WRN-28-10 and WRN-34-10.

Three stages of ``(depth - 4) / 6`` pre-activation blocks with ``16k, 32k, 64k`` channels for
widen factor ``k``. Module names (``conv1``, ``block{1,2,3}.layer.{i}.{bn1,conv1,bn2,conv2,
convShortcut}``, ``bn1``, ``fc``) follow the checkpoints published with RobustBench / TRADES,
so such state dicts load unchanged.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bandlimit._checks import check_positive_int
from bandlimit.models._cifar import PooledNet, cifar_meta, make_stage
from bandlimit.models.normalize import CIFAR10_MEAN, CIFAR10_STD, Normalize
from bandlimit.models.registry import ModelFn, register_model

__all__ = ["WideResNet", "wideresnet16_4", "wideresnet28_10", "wideresnet34_10"]

FAMILY = "wide-resnet"


class WideBlock(nn.Module):
    """Pre-activation block; a 1x1 ``convShortcut`` when the width or resolution changes."""

    def __init__(self, in_planes: int, planes: int, stride: int, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.drop_rate = drop_rate
        self.equal_in_out = in_planes == planes and stride == 1
        self.convShortcut: nn.Module | None = (
            None if self.equal_in_out else nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        """Pre-activation residual block (the shortcut also sees the activated input when it is a conv)."""
        act = F.relu(self.bn1(x))
        out = F.relu(self.bn2(self.conv1(act)))
        if self.drop_rate > 0:
            out = F.dropout(out, p=self.drop_rate, training=self.training)
        out = self.conv2(out)
        return out + (x if self.convShortcut is None else self.convShortcut(act))


class NetworkBlock(nn.Module):
    """A stage of ``n`` :class:`WideBlock` (wrapped in ``.layer`` for checkpoint key compatibility)."""

    def __init__(self, n: int, in_planes: int, planes: int, stride: int, drop_rate: float) -> None:
        super().__init__()
        self.layer = make_stage(functools.partial(WideBlock, drop_rate=drop_rate), in_planes, planes, n, stride)

    def forward(self, x: Tensor) -> Tensor:
        """Run the stage."""
        return self.layer(x)


class WideResNet(PooledNet):
    """WRN-``depth``-``widen_factor`` on 32x32 inputs.

    Args:
        depth: Total depth, ``6n + 4`` (16, 22, 28, 34, 40, ...).
        widen_factor: Width multiplier ``k``.
        num_classes: Output logits.
        drop_rate: Dropout between the two convolutions of a block (0 disables it).
        mean: Normalisation means of the first layer.
        std: Normalisation standard deviations of the first layer.
    """

    head = "fc"

    def __init__(
        self,
        depth: int = 28,
        widen_factor: int = 10,
        num_classes: int = 10,
        *,
        drop_rate: float = 0.0,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        check_positive_int(depth, "depth", minimum=10)
        check_positive_int(widen_factor, "widen_factor")
        if (depth - 4) % 6:
            raise ValueError(f"depth: expected 6n + 4 (16, 22, 28, 34, 40, ...), got {depth}")
        if not 0.0 <= drop_rate < 1.0:
            raise ValueError(f"drop_rate: expected a value in [0, 1), got {drop_rate}")
        n = (depth - 4) // 6
        widths = (16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, widths[0], widths[1], 1, drop_rate)
        self.block2 = NetworkBlock(n, widths[1], widths[2], 2, drop_rate)
        self.block3 = NetworkBlock(n, widths[2], widths[3], 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.num_features = widths[3]
        self.fc = nn.Linear(widths[3], num_classes)
        # He-normal fan-out conv init and a zero linear bias, as in the reference implementation.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / (m.kernel_size[0] * m.kernel_size[1] * m.out_channels)))
            elif isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def feature_map(self, x: Tensor) -> Tensor:
        """Normalise, run the stages, final BN-ReLU: ``(N, 64k, 8, 8)`` on 32x32 images."""
        out = self.conv1(self.normalize(x))
        out = self.block3(self.block2(self.block1(out)))
        return F.relu(self.bn1(out))


def _create(
    name: str,
    size: tuple[int, int],
    num_classes: int | None,
    drop_rate: float,
    mean: Sequence[float],
    std: Sequence[float],
    *,
    default_size: tuple[int, int],
) -> nn.Module:
    """WRN of ``size`` = ``(depth, widen_factor)``, registered as ``name`` (whose own size is ``default_size``)."""
    classes = 10 if num_classes is None else num_classes
    model = WideResNet(*size, classes, drop_rate=drop_rate, mean=mean, std=std)
    # Record only non-default architecture options, so load_checkpoint() can rebuild the model.
    kwargs = {k: v for k, v, default in zip(("depth", "widen_factor"), size, default_size, strict=True) if v != default}
    return cifar_meta(model, name, classes, mean, std, **({"kwargs": kwargs} if kwargs else {}))


@register_model(family=FAMILY)
def wideresnet28_10(
    *,
    num_classes: int | None = None,
    pretrained: bool = False,
    depth: int = 28,
    widen_factor: int = 10,
    drop_rate: float = 0.0,
    mean: Sequence[float] = CIFAR10_MEAN,
    std: Sequence[float] = CIFAR10_STD,
) -> nn.Module:
    """WRN-28-10 (36.5M parameters); ``depth`` / ``widen_factor`` build other sizes (e.g. 16, 4).

    ``pretrained`` must be False (no weights are shipped for this name).
    """
    del pretrained
    return _create("wideresnet28_10", (depth, widen_factor), num_classes, drop_rate, mean, std, default_size=(28, 10))


def _fixed_size(depth: int, widen_factor: int, doc: str) -> ModelFn:
    """Register the WRN-``depth``-``widen_factor`` builder (no size options) and return it."""
    name = f"wideresnet{depth}_{widen_factor}"

    def build(
        *,
        num_classes: int | None = None,
        pretrained: bool = False,
        drop_rate: float = 0.0,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> nn.Module:
        del pretrained
        size = (depth, widen_factor)
        return _create(name, size, num_classes, drop_rate, mean, std, default_size=size)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return register_model(build, family=FAMILY)


wideresnet34_10 = _fixed_size(34, 10, "WRN-34-10 (46.2M parameters), the TRADES / PGD-AT benchmark architecture.")
wideresnet16_4 = _fixed_size(16, 4, "WRN-16-4 (2.7M parameters), a small Wide ResNet for quick experiments.")
