"""Models on [0, 1] images with their normalisation inside, a timm-style registry and safe checkpoints.

>>> from bandlimit.models import create_model, list_models
>>> model = create_model("resnet20")            # CIFAR ResNet-20, option-A shortcuts
>>> model.bandlimit_meta["input_size"]
(3, 32, 32)

Names (``list_models()`` / ``bandlimit models``):

* CIFAR-10: ``resnet20/32/44/56`` (He et al. 2016; normalisation with ImageNet statistics by
  default, as the public checkpoints were trained), ``preact_resnet18``, ``wideresnet28_10``
  (``depth=`` / ``widen_factor=`` for other sizes), ``wideresnet34_10``, ``wideresnet16_4``
  (CIFAR-10 statistics by default).
* Shipped pretrained CIFAR-10 models: ``resnet20-natural``, ``resnet20-gaussian``,
  ``resnet20-fastat`` (``pretrained=True``; see :func:`list_pretrained`, :func:`model_card`).
* ImageNet: ``tv_<name>`` for any torchvision classifier (weights from the torch hub cache
  only, ``allow_download=True`` to fetch once) and ``efficientnet_lite0`` (optional packages,
  offline weights).
"""

from __future__ import annotations

# The model modules register their names on import (like timm), so import them all here.
from bandlimit.models import cifar_resnet, imagenet, preact_resnet, wide_resnet  # noqa: F401
from bandlimit.models import normalize as _normalize_module  # the submodule (its function shadows it below)
from bandlimit.models.checkpoint import CheckpointMismatchError, load_checkpoint, read_checkpoint, save_checkpoint
from bandlimit.models.normalize import *  # noqa: F403 - Normalize, normalize and the statistics
from bandlimit.models.pretrained import list_pretrained, model_card
from bandlimit.models.registry import (
    MODELS,
    attach_meta,
    create_model,
    get_model_entry,
    list_models,
    model_info,
    register_model,
)

__all__ = [
    "MODELS",
    "CheckpointMismatchError",
    "attach_meta",
    "create_model",
    "get_model_entry",
    "list_models",
    "list_pretrained",
    "load_checkpoint",
    "model_card",
    "model_info",
    "read_checkpoint",
    "register_model",
    "save_checkpoint",
]
__all__ += _normalize_module.__all__
