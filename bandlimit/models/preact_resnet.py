"""Pre-activation ResNet-18 for CIFAR (He et al. 2016, "Identity mappings in deep residual networks").

The standard architecture of the adversarial-training literature (fast FGSM-RS training,
robust overfitting): four stages of two pre-activation blocks (64, 128, 256, 512 channels),
1x1 convolution shortcuts where the shape changes, a final BN-ReLU before pooling. Module
names (``conv1``, ``layer{1..4}.{k}.{bn1,conv1,bn2,conv2,shortcut.0}``, ``bn``, ``linear``)
follow the public checkpoints of that literature, so their state dicts load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from bandlimit.models._cifar import PooledNet, make_stage, register_cifar
from bandlimit.models.normalize import CIFAR10_MEAN, CIFAR10_STD, Normalize

__all__ = ["PreActResNet", "preact_resnet18"]

FAMILY = "preact-resnet"


class PreActBlock(nn.Module):
    """BN-ReLU-conv, BN-ReLU-conv; the shortcut branches off after the first BN-ReLU."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.shortcut: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        """Pre-activation residual block."""
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(PooledNet):
    """Pre-activation ResNet on 32x32 inputs.

    Args:
        blocks: Blocks per stage, e.g. ``(2, 2, 2, 2)`` for PreAct ResNet-18.
        num_classes: Output logits.
        mean: Normalisation means of the first layer.
        std: Normalisation standard deviations of the first layer.
    """

    def __init__(
        self,
        blocks: Sequence[int] = (2, 2, 2, 2),
        num_classes: int = 10,
        *,
        mean: Sequence[float] = CIFAR10_MEAN,
        std: Sequence[float] = CIFAR10_STD,
    ) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
        self.layer1 = make_stage(PreActBlock, 64, 64, blocks[0], stride=1)
        self.layer2 = make_stage(PreActBlock, 64, 128, blocks[1], stride=2)
        self.layer3 = make_stage(PreActBlock, 128, 256, blocks[2], stride=2)
        self.layer4 = make_stage(PreActBlock, 256, 512, blocks[3], stride=2)
        self.bn = nn.BatchNorm2d(512)
        self.num_features = 512
        self.linear = nn.Linear(512, num_classes)

    def feature_map(self, x: Tensor) -> Tensor:
        """Normalise, run the stages, final BN-ReLU: ``(N, 512, 4, 4)`` on 32x32 images."""
        out = self.conv1(self.normalize(x))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        return F.relu(self.bn(out))


preact_resnet18 = register_cifar(
    "preact_resnet18",
    lambda classes, mean, std: PreActResNet((2, 2, 2, 2), classes, mean=mean, std=std),
    family=FAMILY,
    mean=CIFAR10_MEAN,
    std=CIFAR10_STD,
    doc="""PreAct ResNet-18 for CIFAR (11.2M parameters), CIFAR-10 normalisation by default.

    ``pretrained`` must be False (no weights are shipped for this name).
    """,
)
