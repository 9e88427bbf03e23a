"""Defences: every one an ``nn.Module`` from [0, 1] images to logits, plus training recipes.

* :class:`PostAveraging`: band-limited post-averaging (Lin et al. 2019), the library's form;
  :class:`LinPostAveraging`: the authors' released variant exactly (``postavg-lin``).
* :class:`LowPassFilter`, :class:`HighPassFilter`: frequency filters as input layers.
* :func:`smooth_first_conv`: first-layer kernel smoothing (Wang et al. 2020).
* Training recipes (:data:`RECIPES`): natural, Gaussian augmentation, PGD-AT, fast FGSM-RS, TRADES.

Every defence is also known by name (:data:`DEFENSES`: ``postavg``, ``lowpass``,
``highpass``, ``smooth``): ``apply_defense(model, "lowpass", bandwidth=16)``.
"""

from __future__ import annotations

from defenses.filters import HighPassFilter, LowPassFilter, with_input_filter
from defenses.lin_post_averaging import LinPostAveraging
from defenses.post_averaging import PostAveraging, sample_directions
from defenses.recipes import (
    RECIPES,
    TRADES,
    FastFGSMRS,
    GaussianAugmentation,
    NaturalTraining,
    PGDAdversarialTraining,
    create_recipe,
    list_recipes,
)
from defenses.registry import DEFENSES, apply_defense, register_defense
from defenses.smoothing import smooth_first_conv, smooth_kernels, smoothing_kernel

__all__ = [
    "DEFENSES",
    "RECIPES",
    "TRADES",
    "FastFGSMRS",
    "GaussianAugmentation",
    "HighPassFilter",
    "LinPostAveraging",
    "LowPassFilter",
    "NaturalTraining",
    "PGDAdversarialTraining",
    "PostAveraging",
    "apply_defense",
    "create_recipe",
    "list_recipes",
    "register_defense",
    "sample_directions",
    "smooth_first_conv",
    "smooth_kernels",
    "smoothing_kernel",
    "with_input_filter",
]
