"""Test doubles shared by the tests: small networks, seeded batches and attacks on the core protocol.

The attacks implement :class:`bandlimit.attack.Attack` directly, without the ``attacks``
package: the harness must accept any object with that protocol (and stays independent of how
the library's attacks are built). ``config`` and ``replace`` are there for EOT.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from bandlimit.attack import AttackResult, ThreatModel

__all__ = [
    "FGSM",
    "BNConvNet",
    "GradSign",
    "LinearNet",
    "NaNOffClean",
    "Net",
    "Overshoot",
    "ProtocolAttack",
    "Quantized",
    "RandomNoise",
    "Scripted",
    "model_labelled",
    "random_batch",
]


class Net(nn.Module):
    """Conv (6 channels) -> ReLU -> 2x2 average pool -> linear: tiny, fast, attackable."""

    def __init__(self, channels: int = 3, classes: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, 6, 3, padding=1)
        self.head = nn.Linear(6 * 4, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(F.adaptive_avg_pool2d(F.relu(self.conv(x)), 2).flatten(1))


class BNConvNet(nn.Module):
    """Conv (8 channels) -> BatchNorm -> ReLU -> ``pool`` x ``pool`` average -> [dropout] -> linear.

    For training tests: its BatchNorm buffers move in train mode and its dropout draws from
    the global RNG.
    """

    def __init__(self, classes: int = 10, *, pool: int = 2, dropout: float = 0.0) -> None:
        super().__init__()
        layers = [nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(pool), nn.Flatten()]
        self.body = nn.Sequential(*layers, *([nn.Dropout(dropout)] if dropout else []))
        self.head = nn.Linear(8 * pool * pool, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.body(x))


class LinearNet(nn.Module):
    """A random linear classifier: its decision flips under small perturbations (an easy model).

    Weights are ``scale`` times standard normal numbers drawn from ``seed``; the bias is zero.
    """

    def __init__(
        self, shape: tuple[int, int, int] = (3, 8, 8), classes: int = 10, seed: int = 0, scale: float = 1.0
    ) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.fc = nn.Linear(math.prod(shape), classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(classes, math.prod(shape), generator=g) * scale)
            self.fc.bias.zero_()

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.flatten(1) - 0.5)


def random_batch(n: int, size: int, *, classes: int = 10, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` uniform images ``(3, size, size)`` and random labels, from a CPU generator seeded ``seed``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, size, size, generator=g)
    return x, torch.randint(0, classes, (n,), generator=g)


@torch.no_grad()
def model_labelled(model: nn.Module, n: int, *, seed: int, size: int = 8) -> tuple[Tensor, Tensor]:
    """``n`` uniform images ``(3, size, size)`` (generator seeded ``seed``) labelled with ``model``'s predictions."""
    x = torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed))
    return x, model(x).argmax(1)


class Quantized(nn.Module):
    """Input quantisation with round(): the input gradient of ``net`` is exactly zero."""

    def __init__(self, net: nn.Module, levels: int = 4) -> None:
        super().__init__()
        self.net, self.levels = net, levels

    def forward(self, x: Tensor) -> Tensor:
        return self.net(torch.round(x * self.levels) / self.levels)


class NaNOffClean(nn.Module):
    """``net``'s logits on the given clean images, NaN on every other image (broken off the data).

    The model the audit of issue 12 used: finite on the clean pass, NaN on perturbed images.
    """

    def __init__(self, net: nn.Module, clean: Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("clean", clean.clone())

    def forward(self, x: Tensor) -> Tensor:
        out = self.net(x)
        off = (x[:, None] - self.clean[None].to(x.dtype)).flatten(2).abs().amax(2).amin(1) > 0
        return torch.where(off[:, None], torch.full_like(out, math.nan), out)


class ProtocolAttack:
    """Base of the doubles: settings in ``config``, threat ``(norm, eps)``, ``run`` -> ``AttackResult``.

    Subclasses set ``name`` and ``uses_gradients`` and write ``_run(model, x, y, generator)``;
    gradient attacks run with autograd on, the others under ``torch.no_grad()``.
    """

    name: ClassVar[str] = "double"
    uses_gradients: ClassVar[bool] = True

    def __init__(self, **config: Any) -> None:
        self._config = config

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def replace(self, **changes: Any) -> ProtocolAttack:
        return type(self)(**{**self._config, **changes})

    @property
    def threat(self) -> ThreatModel:
        return ThreatModel(self._config.get("norm", "linf"), self._config["eps"])

    @property
    def randomized(self) -> bool:
        return False

    def run(
        self, model: nn.Module, x: Tensor, y: Tensor, *, targets: Tensor | None = None, generator: Any = None
    ) -> AttackResult:
        with torch.enable_grad() if self.uses_gradients else torch.no_grad():
            return self._run(model, x, y, generator)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, **kwargs: Any) -> Tensor:
        return self.run(model, x, y, **kwargs).x_adv

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        raise NotImplementedError


class GradSign(ProtocolAttack):
    """FGSM (steps=1, no random start) or PGD, L∞ or L2, with EOT; small and independent."""

    name: ClassVar[str] = "gradsign"

    def __init__(
        self, *, eps: float, norm: str = "linf", steps: int = 1, random_start: bool = False, eot_samples: int = 1
    ) -> None:
        super().__init__(eps=eps, norm=norm, steps=steps, random_start=random_start, eot_samples=eot_samples)

    @property
    def randomized(self) -> bool:
        return self._config["random_start"]

    def _grad(self, model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        total = torch.zeros_like(x)
        for _ in range(self._config["eot_samples"]):
            xr = x.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(F.cross_entropy(model(xr), y, reduction="sum"), xr)
            total += g
        return total

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        eps, norm, steps = self._config["eps"], self._config["norm"], self._config["steps"]
        x_adv = x.clone()
        if self._config["random_start"]:
            x_adv = (x + (torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1) * eps).clamp(0, 1)
        alpha = eps if steps == 1 else 2.5 * eps / steps
        for _ in range(steps):
            g = self._grad(model, x_adv, y)
            if norm == "linf":
                x_adv = x_adv + alpha * g.sign()
                x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(0, 1)
            else:
                gn = g.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                delta = x_adv + alpha * g / gn - x
                dn = delta.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                x_adv = (x + delta * torch.clamp(eps / dn, max=1.0)).clamp(0, 1)
        return AttackResult(x_adv.detach())


class FGSM(GradSign):
    """One L∞ gradient-sign step of size eps, named like the textbook attack."""

    name: ClassVar[str] = "fgsm"

    def __init__(self, *, eps: float) -> None:
        super().__init__(eps=eps)


class RandomNoise(ProtocolAttack):
    """Black-box: try random ±eps sign images, keep the first that fools the model."""

    name: ClassVar[str] = "noise"
    uses_gradients: ClassVar[bool] = False

    def __init__(self, *, eps: float, tries: int = 10) -> None:
        super().__init__(eps=eps, tries=tries)

    @property
    def randomized(self) -> bool:
        return True

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        x_adv = x.clone()
        queries = torch.zeros(x.shape[0], dtype=torch.long)
        done = torch.zeros(x.shape[0], dtype=torch.bool)
        for _ in range(self._config["tries"]):
            sign = torch.randint(0, 2, x.shape, generator=generator, device=x.device) * 2.0 - 1
            cand = (x + self._config["eps"] * sign).clamp(0, 1)
            fooled = model(cand).argmax(1) != y
            queries += (~done).long()
            take = fooled & ~done
            x_adv[take] = cand[take]
            done |= fooled
        return AttackResult(x_adv, queries=queries)


class Scripted(ProtocolAttack):
    """Returns whatever ``make(x)`` gives (and claims success): for cheating, NaN and overshoot."""

    name: ClassVar[str] = "scripted"
    uses_gradients: ClassVar[bool] = False

    def __init__(self, *, eps: float, make: Callable[[Tensor], Tensor], norm: str = "linf") -> None:
        super().__init__(eps=eps, make=make, norm=norm)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        return AttackResult(self._config["make"](x), info={"success": torch.ones(x.shape[0], dtype=torch.bool)})


class Overshoot(ProtocolAttack):
    """Moves every pixel by twice its L∞ budget: verification fails on the first attacked sample."""

    name: ClassVar[str] = "overshoot"
    uses_gradients: ClassVar[bool] = False

    def __init__(self, *, eps: float) -> None:
        super().__init__(eps=eps)

    def _run(self, model: nn.Module, x: Tensor, y: Tensor, generator: Any) -> AttackResult:
        return AttackResult((x + 2 * self._config["eps"]).clamp(0, 1))
