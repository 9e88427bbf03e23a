"""What the CIFAR networks share: stages of residual blocks, a pooled linear head, their registration.

The three families (:mod:`~bandlimit.models.cifar_resnet`, :mod:`~bandlimit.models.preact_resnet`,
:mod:`~bandlimit.models.wide_resnet`) keep their own module names, which follow the public
checkpoints of each; what they share is the shape around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch.nn.functional as F
from torch import Tensor, nn

from bandlimit.models.registry import ModelFn, attach_meta, register_model

__all__ = ["PooledNet", "cifar_meta", "make_stage", "register_cifar"]

#: Makes a network from ``(num_classes, mean, std)``.
NetFn = Callable[[int, Sequence[float], Sequence[float]], nn.Module]


def make_stage(block: Callable[..., nn.Module], in_planes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """``blocks`` residual blocks ``block(in, out, stride)``; the first goes from ``in_planes`` at ``stride``."""
    first = block(in_planes, planes, stride)
    return nn.Sequential(first, *(block(planes, planes, 1) for _ in range(blocks - 1)))


class PooledNet(nn.Module):
    """A network whose features are the global average of its last feature map, then one linear layer.

    The timm-style split: :meth:`forward_features` gives ``(N, num_features)``,
    :meth:`forward_head` the logits. A subclass defines :meth:`feature_map` and names its
    linear layer in ``head`` (``linear`` or ``fc``, after the public checkpoints of its family).
    """

    head: ClassVar[str] = "linear"
    num_features: int

    def feature_map(self, x: Tensor) -> Tensor:
        """The last feature map ``(N, num_features, h, w)`` of [0, 1] images."""
        raise NotImplementedError

    def forward_features(self, x: Tensor) -> Tensor:
        """Globally average-pooled features ``(N, num_features)`` of [0, 1] images."""
        return F.adaptive_avg_pool2d(self.feature_map(x), 1).flatten(1)

    def forward_head(self, features: Tensor) -> Tensor:
        """Logits from pooled features."""
        return getattr(self, self.head)(features)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, num_classes)`` of [0, 1] images ``(N, 3, H, W)``."""
        return self.forward_head(self.forward_features(x))


def cifar_meta(
    model: nn.Module, name: str, num_classes: int, mean: Sequence[float], std: Sequence[float], **extra: Any
) -> nn.Module:
    """:func:`~bandlimit.models.attach_meta` for the CIFAR-10 model ``name`` (32x32 RGB inputs)."""
    return attach_meta(
        model,
        architecture=name,
        num_classes=num_classes,
        mean=mean,
        std=std,
        dataset="cifar10",
        input_size=(3, 32, 32),
        **extra,
    )


def register_cifar(
    name: str, net: NetFn, *, family: str, mean: Sequence[float], std: Sequence[float], doc: str
) -> ModelFn:
    """Register the CIFAR-10 model ``name`` (10 classes by default, no options) and return its builder.

    The builder takes the registry's ``(*, num_classes=None, pretrained=False, mean, std)``,
    with ``mean`` / ``std`` defaulting to these; ``pretrained`` is always False here
    (:func:`~bandlimit.models.create_model` rejects True for a name without weights).

    Args:
        name: The registry name.
        net: Makes the network from ``(num_classes, mean, std)``.
        family: The listing's family label.
        mean: Default normalisation means.
        std: Default normalisation standard deviations.
        doc: The builder's docstring (its first line is the listing's help).
    """
    default_mean, default_std = mean, std

    def build(
        *,
        num_classes: int | None = None,
        pretrained: bool = False,
        mean: Sequence[float] = default_mean,
        std: Sequence[float] = default_std,
    ) -> nn.Module:
        del pretrained  # create_model() has already rejected pretrained=True
        classes = 10 if num_classes is None else num_classes
        return cifar_meta(net(classes, mean, std), name, classes, mean, std)

    build.__name__ = build.__qualname__ = name
    build.__doc__ = doc
    return register_model(build, family=family)
