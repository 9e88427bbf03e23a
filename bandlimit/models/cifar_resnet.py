"""CIFAR ResNet-20/32/44/56 (He et al. 2016, section 4.2) with option-A shortcuts.

Three stages of ``n`` basic blocks (16, 32, 64 channels) on 32x32 inputs, depth ``6n + 2``.
Where a stage halves the resolution and doubles the width, the shortcut is option A: take
every second pixel and zero-pad the new channels, so the shortcut has no parameters (the
paper's choice for CIFAR; it is what keeps ResNet-20 at 0.27M parameters).

Module names follow the widely used public CIFAR ResNet checkpoints (``conv1``, ``bn1``,
``layer{1,2,3}.{k}.{conv1,bn1,conv2,bn2}``, ``linear``), so their state dicts load after
stripping the ``module.`` prefix DataParallel added. Those checkpoints were trained with
*ImageNet* normalisation statistics (mean 0.485/0.456/0.406, std 0.229/0.224/0.225) on
CIFAR-10, which is therefore the default here; pass ``mean=CIFAR10_MEAN, std=CIFAR10_STD``
for a model you train yourself if you prefer the CIFAR statistics (the checkpoint metadata
records whichever you use).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bandlimit.models._cifar import PooledNet, make_stage, register_cifar
from bandlimit.models.normalize import IMAGENET_MEAN, IMAGENET_STD, Normalize
from bandlimit.models.registry import ModelFn

__all__ = ["CifarResNet", "PadShortcut", "resnet20", "resnet32", "resnet44", "resnet56"]

FAMILY = "cifar-resnet"


class PadShortcut(nn.Module):
    """Option-A shortcut: spatial subsampling by ``stride`` plus zero channels on both sides.

    Args:
        in_planes: Channels of the input.
        planes: Channels of the output (``>= in_planes``; the difference is split evenly
            between the front and the back, as in the public checkpoints).
        stride: Spatial subsampling factor.
    """

    def __init__(self, in_planes: int, planes: int, stride: int) -> None:
        super().__init__()
        if planes < in_planes or (planes - in_planes) % 2:
            raise ValueError(f"PadShortcut: expected planes - in_planes >= 0 and even, got {in_planes} -> {planes}")
        self.stride = stride
        self.pad = (planes - in_planes) // 2

    def forward(self, x: Tensor) -> Tensor:
        """Subsample and zero-pad the channel dimension."""
        x = x[:, :, :: self.stride, :: self.stride]
        # F.pad pads the last dims first: (W left, W right, H top, H bottom, C front, C back).
        return F.pad(x, (0, 0, 0, 0, self.pad, self.pad))

    def extra_repr(self) -> str:
        """Shown by ``repr(model)``."""
        return f"stride={self.stride}, pad_channels={self.pad}"


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with a parameter-free shortcut (post-activation, He et al. 2016)."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut: nn.Module = (
            PadShortcut(in_planes, planes, stride) if stride != 1 or in_planes != planes else nn.Identity()
        )

    def forward(self, x: Tensor) -> Tensor:
        """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``."""
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(PooledNet):
    """ResNet for 32x32 inputs with ``blocks_per_stage`` basic blocks in each of three stages.

    Args:
        blocks_per_stage: ``n`` (3, 5, 7, 9 give ResNet-20, 32, 44, 56).
        num_classes: Output logits.
        mean: Normalisation means of the first layer.
        std: Normalisation standard deviations of the first layer.
    """

    def __init__(
        self,
        blocks_per_stage: int,
        num_classes: int = 10,
        *,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = make_stage(BasicBlock, 16, 16, blocks_per_stage, stride=1)
        self.layer2 = make_stage(BasicBlock, 16, 32, blocks_per_stage, stride=2)
        self.layer3 = make_stage(BasicBlock, 32, 64, blocks_per_stage, stride=2)
        self.num_features = 64
        self.linear = nn.Linear(64, num_classes)
        # Kaiming-normal (fan-in) weights for every conv and linear layer, like the original
        # CIFAR ResNet training code; BatchNorm keeps PyTorch's (1, 0) init.
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def feature_map(self, x: Tensor) -> Tensor:
        """Normalise and run the stages: ``(N, 64, 8, 8)`` on 32x32 images."""
        out = F.relu(self.bn1(self.conv1(self.normalize(x))))
        return self.layer3(self.layer2(self.layer1(out)))


def _resnet(depth: int, params: str) -> ModelFn:
    """Register the ResNet-``depth`` builder (``depth = 6n + 2``) and return it."""
    name = f"resnet{depth}"
    blocks = (depth - 2) // 6
    doc = f"""ResNet-{depth} for CIFAR ({params} parameters); ImageNet-statistics normalisation by default.

    Pretrained CIFAR weights are separate names (``list_models(pretrained=True)``), so
    ``pretrained`` is always False here (:func:`~bandlimit.models.create_model` checks it).
    """
    return register_cifar(
        name,
        lambda classes, mean, std: CifarResNet(blocks, classes, mean=mean, std=std),
        family=FAMILY,
        mean=IMAGENET_MEAN,
        std=IMAGENET_STD,
        doc=doc,
    )


resnet20 = _resnet(20, "0.27M")
resnet32 = _resnet(32, "0.46M")
resnet44 = _resnet(44, "0.66M")
resnet56 = _resnet(56, "0.85M")
