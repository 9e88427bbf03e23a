"""Pretrained CIFAR-10 models shipped inside the package (``bandlimit/models/assets/``).

Each entry names a bare architecture, a checkpoint file (a :func:`save_checkpoint` file) and a
model card (Markdown: recipe, data, accuracy, robustness, how it was trained). The names are
registry names: ``create_model("resnet20-natural", pretrained=True)`` loads the weights,
``create_model("resnet20-natural")`` builds the bare architecture with the entry's
normalisation. Adding a model = dropping ``<file>`` and ``<card>`` into ``assets/`` and calling
:func:`register_pretrained` with its :class:`PretrainedEntry` (with its SHA-256, checked at load
time). The entry is kept in the model registry (``MODELS.get(name).meta["shipped"]``), the one
place every lookup reads it from.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from bandlimit.models.checkpoint import load_checkpoint, read_checkpoint
from bandlimit.models.normalize import CIFAR10_MEAN, CIFAR10_STD
from bandlimit.models.registry import (
    MODELS,
    WEIGHTS_AVAILABLE,
    WEIGHTS_MISSING,
    create_model,
    list_models,
    register_model,
)

__all__ = ["PretrainedEntry", "asset_path", "list_pretrained", "model_card", "register_pretrained", "shipped_entry"]

ASSETS_PACKAGE = "bandlimit.models"
ASSETS_DIR = "assets"
FAMILY = "cifar-pretrained"


@dataclass(frozen=True)
class PretrainedEntry:
    """A shipped pretrained model.

    Attributes:
        name: Registry name (``<architecture>-<recipe>``).
        architecture: Registry name of the bare architecture.
        file: Checkpoint file name inside ``bandlimit/models/assets/``.
        card: Model-card file name inside ``bandlimit/models/assets/``.
        recipe: Training recipe (``natural``, ``gaussian``, ``fast_fgsm_rs``, ...).
        description: One line for listings.
        mean: Normalisation means the weights were trained with (the checkpoint's metadata must agree).
        std: Normalisation standard deviations.
        sha256: Expected SHA-256 of ``file`` (``None`` until the file is added; then set it).
        dataset: Training dataset.
        num_classes: Output classes.
    """

    name: str
    architecture: str
    file: str
    card: str
    recipe: str
    description: str
    mean: tuple[float, ...] = CIFAR10_MEAN
    std: tuple[float, ...] = CIFAR10_STD
    sha256: str | None = None
    dataset: str = "cifar10"
    num_classes: int = 10


def shipped_entry(name: str) -> PretrainedEntry:
    """The :class:`PretrainedEntry` registered under ``name``.

    Raises:
        ValueError: ``name`` is not a shipped pretrained model.
    """
    meta = MODELS.get(name).meta if name in MODELS.names() else {}
    if "shipped" not in meta:
        raise ValueError(f"unknown pretrained model {name!r}; expected one of {list_pretrained()}")
    return meta["shipped"]


def asset_path(file: str) -> Any:
    """A ``Traversable`` for ``bandlimit/models/assets/<file>`` (may not exist)."""
    return importlib.resources.files(ASSETS_PACKAGE).joinpath(ASSETS_DIR, file)


def list_pretrained(pattern: str | Sequence[str] = "*", *, available_only: bool = False) -> list[str]:
    """Names of the shipped pretrained CIFAR models matching ``pattern``.

    Args:
        pattern: Shell-style pattern(s), as for :func:`~bandlimit.models.list_models`.
        available_only: Only those whose checkpoint file is installed.
    """
    names = [n for n in list_models(pattern, pretrained=True) if "shipped" in MODELS.get(n).meta]
    return [n for n in names if asset_path(shipped_entry(n).file).is_file()] if available_only else names


def model_card(name: str) -> str:
    """The Markdown model card of a shipped model.

    Raises:
        ValueError: unknown name.
        FileNotFoundError: the card is not installed yet.
    """
    entry = shipped_entry(name)
    card = asset_path(entry.card)
    if not card.is_file():
        raise FileNotFoundError(f"model card {entry.card!r} of {name!r} is not installed in bandlimit/models/assets/")
    return card.read_text(encoding="utf-8")


def _read_pretrained(entry: PretrainedEntry) -> tuple[Any, dict[str, Any]]:
    """``(resource, meta)`` of an installed checkpoint, after the integrity checks."""
    resource = asset_path(entry.file)
    if not resource.is_file():
        raise FileNotFoundError(
            f"pretrained weights for {entry.name!r} are not installed: expected {entry.file!r} in "
            f"bandlimit/models/assets/. Train them with `bandlimit train` (recipe {entry.recipe!r}) or use "
            f"create_model({entry.name!r}) for the untrained architecture."
        )
    with importlib.resources.as_file(resource) as path:
        if entry.sha256 is not None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest != entry.sha256:
                raise ValueError(
                    f"{entry.file}: expected SHA-256 {entry.sha256}, got {digest}; the installed file is damaged "
                    "or was replaced, reinstall bandlimit"
                )
        meta = dict(read_checkpoint(path).get("meta") or {})
    if meta.get("architecture") not in (None, entry.architecture):
        raise ValueError(
            f"{entry.file}: expected a {entry.architecture!r} checkpoint, got {meta.get('architecture')!r}"
        )
    return resource, meta


def _builder(name: str, description: str, file: str) -> Any:
    def build(
        *,
        num_classes: int | None = None,
        pretrained: bool = False,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> nn.Module:
        # Looked up at call time: the registry entry is the single source of truth (e.g. its SHA-256).
        entry = shipped_entry(name)
        resource, meta = _read_pretrained(entry) if pretrained else (None, {})
        if pretrained and num_classes not in (None, entry.num_classes):
            raise ValueError(
                f"num_classes: the pretrained weights of {entry.name!r} have {entry.num_classes} classes, "
                f"got {num_classes}"
            )
        # Weights come with the normalisation they were trained with (checkpoint metadata);
        # the entry's statistics are the default for the bare architecture.
        model = create_model(
            entry.architecture,
            num_classes=entry.num_classes if num_classes is None else num_classes,
            mean=mean if mean is not None else meta.get("mean") or entry.mean,
            std=std if std is not None else meta.get("std") or entry.std,
        )
        model.bandlimit_meta = {
            **model.bandlimit_meta,
            "dataset": entry.dataset,
            "pretrained": entry.name,
            "recipe": entry.recipe,
        }
        if resource is None:
            return model
        with importlib.resources.as_file(resource) as path:
            return load_checkpoint(path, model)

    build.__name__ = name.replace("-", "_")
    build.__doc__ = f"{description} (shipped weights: {file})."
    return build


def register_pretrained(entry: PretrainedEntry) -> None:
    """Register a shipped model under ``entry.name`` (re-registering replaces the entry)."""

    def status() -> str:
        return WEIGHTS_AVAILABLE if asset_path(shipped_entry(entry.name).file).is_file() else WEIGHTS_MISSING

    builder = _builder(entry.name, entry.description, entry.file)
    register_model(builder, name=entry.name, family=FAMILY, weights=status, shipped=entry)


# The shipped models. Their weights are trained by ``bandlimit train`` (see each card).
for _shipped in (
    PretrainedEntry(
        "resnet20-natural",
        "resnet20",
        "resnet20-natural.pt",
        "resnet20-natural.md",
        recipe="natural",
        description="ResNet-20, standard training on CIFAR-10",
        sha256="489dfe1aeb9f4107f211974af6fe85908e6ca2d664944fa8be9f6984970f0573",
    ),
    PretrainedEntry(
        "resnet20-gaussian",
        "resnet20",
        "resnet20-gaussian.pt",
        "resnet20-gaussian.md",
        recipe="gaussian",
        description="ResNet-20, Gaussian data augmentation on CIFAR-10",
        sha256="57bcbc84cfbb881c2496fc895e0d7a1553e05b65510205cf451130cdf23c37aa",
    ),
    PretrainedEntry(
        "resnet20-fastat",
        "resnet20",
        "resnet20-fastat.pt",
        "resnet20-fastat.md",
        recipe="fast_fgsm_rs",
        description="ResNet-20, fast adversarial training (FGSM with random start) on CIFAR-10",
        sha256="f38f5a1cc962524d4f96d30559d147ba1e8d0af2d6fd19eab3d054099d1ca532",
    ),
    PretrainedEntry(
        "resnet20-gaussian-lossless",
        "resnet20",
        "resnet20-gaussian-lossless.pt",
        "resnet20-gaussian-lossless.md",
        recipe="gaussian",
        description="ResNet-20, Gaussian augmentation (sigma 0.1) fine-tuned on 4,660 lossless CIFAR-10 images "
        "from the public lossless ResNet-20 (no JPEG: for frequency analyses)",
        sha256="1f3aaa2f03ece248c1213e3eaec5cbf692f22607afde1d5eb59522b6f194cbe4",
    ),
    PretrainedEntry(
        "resnet20-pgdat-lossless",
        "resnet20",
        "resnet20-pgdat-lossless.pt",
        "resnet20-pgdat-lossless.md",
        recipe="pgd_at",
        description="ResNet-20, PGD adversarial training (8/255) fine-tuned on 4,660 lossless CIFAR-10 images "
        "from the public lossless ResNet-20 (no JPEG: for frequency analyses)",
        sha256="5582555279e0cdcf0e8f8f7f411b6b3e5dad91acfb6fbad2e2acb80f786cc325",
    ),
):
    register_pretrained(_shipped)
