"""bandlimit: adversarial robustness through the frequency domain, for PyTorch.

The core package holds the spectral tools (:mod:`bandlimit.spectral`), data
(:mod:`bandlimit.data`), models (:mod:`bandlimit.models`), the training loop
(:mod:`bandlimit.training`) and the evaluation harness (:mod:`bandlimit.evaluation`).
Attacks live in the sibling package ``attacks`` and defences in ``defenses``.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
