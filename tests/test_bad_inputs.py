"""The bad-input catalogue: one line per case, for the Python API and for the command line.

Every API case names the call, the exception (or warning) it must raise and words its message
must contain; every CLI case names the arguments, and the run must end with exit code 2, one
clear error line on stderr and no traceback. A new case is one line in :data:`API_CASES` or
:data:`CLI_CASES`. Helpers at the top build small models and files lazily, so collecting the
catalogue costs nothing.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from bandlimit.cli import main


# ------------------------------------------------------------------------------ helpers
def net(classes: int = 10, channels: int = 3) -> nn.Module:
    """A small linear classifier on 8x8 images, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(channels * 8 * 8, classes)).eval()


def images(n: int = 4, channels: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``n`` random 8x8 images in [0, 1]."""
    return torch.rand(n, channels, 8, 8, generator=torch.Generator().manual_seed(1)).to(dtype)


def labels(n: int = 4, value: int | None = None) -> torch.Tensor:
    """``n`` labels (0..n-1, or all ``value``)."""
    return torch.full((n,), value, dtype=torch.long) if value is not None else torch.arange(n) % 10


# ------------------------------------------------------------------------------ API cases
@dataclass(frozen=True)
class ApiCase:
    """``call()`` must raise ``error`` (or, with ``warns``, emit it) with every word in its message."""

    id: str
    call: Callable[[], Any]
    error: type[BaseException] | type[Warning]
    words: tuple[str, ...]
    warns: bool = False


def conv_net(classes: int = 10) -> nn.Module:
    """A small convolutional classifier on 3-channel 8x8 images, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 8 * 8, classes)).eval()


class _Scaled(nn.Module):
    """``net()`` with its logits multiplied by ``factor`` (NaN: a model that breaks on every input)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.net, self.factor = net(), factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x) * self.factor


def nan_net() -> nn.Module:
    """A model whose every logit is NaN."""
    return _Scaled(float("nan"))


def flat_net() -> nn.Module:
    """A model with one score per image, shape ``(N,)`` instead of ``(N, classes)``."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1), nn.Flatten(0)).eval()


class _Labels(nn.Module):
    """``net()``'s predicted labels, one-hot but as int64: a model that returns no scores."""

    def __init__(self) -> None:
        super().__init__()
        self.net = net()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(self.net(x).argmax(1), 10)


def labels_net() -> nn.Module:
    """A model whose output is int64 one-hot labels instead of float logits."""
    return _Labels()


def data(n: int = 4, **kw: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """``(images(n, **kw), labels(n))``."""
    return images(n, **kw), labels(n)


def _attacks() -> Any:
    import attacks

    return attacks


def _ev() -> Any:
    import bandlimit.evaluation

    return bandlimit.evaluation


def _defenses() -> Any:
    import defenses

    return defenses


def _spectral() -> Any:
    import bandlimit.spectral

    return bandlimit.spectral


def pgd(**kw: Any) -> Any:
    """A one-step PGD (eps 0.1 unless given)."""
    return _attacks().PGD(**{"eps": 0.1, "steps": 1, **kw})


def attack(make: Callable[[], Any], model: Any = None, x: Any = None, y: Any = None, **kw: Any) -> Any:
    """``make()(model, x, y, **kw)`` with ``net()``, ``images()``, ``labels()`` for what is not given."""
    return make()(net() if model is None else model, images() if x is None else x, labels() if y is None else y, **kw)


def evaluate(**kw: Any) -> Any:
    """``evaluate`` of ``net()`` on ``data()`` under ``[pgd()]``, without checks, unless given."""
    model, batch, attacks = kw.pop("model", None), kw.pop("data", None), kw.pop("attacks", None)
    kw = {"checks": False, **kw}
    return _ev().evaluate(
        net() if model is None else model, data() if batch is None else batch, attacks or [pgd()], **kw
    )


def heatmap(model: Any = None, batch: Any = None, **kw: Any) -> Any:
    """``fourier_heatmap`` of ``net()`` on ``data()`` (norm 1, one central cell unless given)."""
    kw = {"norm": 1.0, "cells": "central:1", **kw}
    return _ev().fourier_heatmap(net() if model is None else model, data() if batch is None else batch, **kw)


def filtered(model: Any = None, batch: Any = None, **kw: Any) -> Any:
    """``filtered_accuracy`` of ``net()`` on ``data()`` (one bandwidth, one radius unless given)."""
    kw = {"bandwidths": [4], "radii": [2], **kw}
    return _ev().filtered_accuracy(net() if model is None else model, data() if batch is None else batch, **kw)


def spectrum(model: Any = None, batch: Any = None, attacks: Any = None, **kw: Any) -> Any:
    """``perturbation_spectrum`` of ``net()`` on ``data()`` under ``pgd()`` unless given."""
    model, batch = net() if model is None else model, data() if batch is None else batch
    return _ev().perturbation_spectrum(model, batch, pgd() if attacks is None else attacks, **kw)


def post_averaging(model: Any = None, **kw: Any) -> Any:
    """``PostAveraging`` of ``net()`` (radius 1 unless given)."""
    return _defenses().PostAveraging(net() if model is None else model, **{"radius": 1.0, **kw})


#: A state file in a folder that does not exist (this test file is no folder, and none is created).
_NO_FOLDER = Path(__file__) / "state.pt"


API_CASES: list[ApiCase] = [
    ApiCase("pgd-negative-eps", lambda: _attacks().PGD(eps=-1.0), ValueError, ("eps", ">= 0")),
    ApiCase("pgd-steps-zero", lambda: _attacks().PGD(eps=0.1, steps=0), ValueError, ("steps", ">= 1")),
    ApiCase("pgd-unknown-norm", lambda: _attacks().PGD(eps=0.1, norm="l1"), ValueError, ("norm", "linf")),
    ApiCase(
        "attack-model-not-module",
        lambda: _attacks().PGD(eps=0.1)(object(), images(), labels()),
        TypeError,
        ("model", "torch.nn.Module"),
    ),
    ApiCase(
        "attack-images-out-of-range",
        lambda: _attacks().PGD(eps=0.1)(net(), images() * 255, labels()),
        ValueError,
        ("[0, 1]",),
    ),
    # ---- attack settings (checked when the attack is built)
    ApiCase("pgd-eps-nan", lambda: pgd(eps=float("nan")), ValueError, ("eps", "finite")),
    ApiCase("pgd-eps-string", lambda: pgd(eps="8/255"), TypeError, ("eps", "number", "str")),
    ApiCase("pgd-eps-bool", lambda: pgd(eps=True), TypeError, ("eps", "bool")),
    ApiCase("pgd-eps-missing", lambda: _attacks().create_attack("pgd"), TypeError, ("missing", "eps")),
    ApiCase(
        "pgd-unknown-setting", lambda: _attacks().create_attack("pgd", eps=0.1, foo=1), TypeError, ("foo", "steps")
    ),
    ApiCase("pgd-steps-float", lambda: pgd(steps=1.5), TypeError, ("steps", "1.5")),
    ApiCase("pgd-steps-bool", lambda: pgd(steps=True), TypeError, ("steps", "True")),
    ApiCase("pgd-rel-stepsize-zero", lambda: pgd(rel_stepsize=0), ValueError, ("rel_stepsize", "> 0")),
    ApiCase("pgd-abs-stepsize-negative", lambda: pgd(abs_stepsize=-1), ValueError, ("abs_stepsize", "> 0")),
    ApiCase("pgd-restarts-zero", lambda: pgd(restarts=0), ValueError, ("restarts", ">= 1")),
    ApiCase("pgd-loss-unknown", lambda: pgd(loss="hinge"), ValueError, ("loss", "'ce'", "'cw'")),
    ApiCase("pgd-early-stop-string", lambda: pgd(early_stop="yes"), TypeError, ("early_stop", "True or False")),
    ApiCase("pgd-random-start-int", lambda: pgd(random_start=1), TypeError, ("random_start", "True or False")),
    ApiCase("pgd-eot-samples-zero", lambda: pgd(eot_samples=0), ValueError, ("eot_samples", ">= 1")),
    ApiCase("pgd-norm-capitalised", lambda: pgd(norm="L2"), ValueError, ("norm", "'l2'")),
    ApiCase("pgd-band-unknown", lambda: pgd(band="middle"), ValueError, ("band", "'mid'")),
    ApiCase(
        "pgd-band-space-unknown", lambda: pgd(band="low", band_space="wavelet"), ValueError, ("band_space", "'dct'")
    ),
    ApiCase(
        "pgd-band-edges-crossed", lambda: pgd(band="mid", band_low=0.6, band_high=0.2), ValueError, ("low <= high",)
    ),
    ApiCase("pgd-band-low-negative", lambda: pgd(band="low", band_low=-1), ValueError, ("low", ">= 0")),
    ApiCase("pgd-band-mask-3d", lambda: pgd(band=torch.ones(2, 8, 8, 8)), ValueError, ("band", "(H, W)")),
    ApiCase(
        "pgd-band-mask-not-binary",
        lambda: attack(lambda: pgd(band=torch.full((8, 8), 2.0))),
        ValueError,
        ("band", "0s and 1s"),
    ),
    ApiCase(
        "pgd-band-mask-empty", lambda: attack(lambda: pgd(band=torch.zeros(8, 8))), ValueError, ("band", "all zeros")
    ),
    ApiCase(
        "pgd-band-mask-size",
        lambda: attack(lambda: pgd(band=torch.ones(5, 5))),
        ValueError,
        ("band", "(8, 8)", "(5, 5)"),
    ),
    ApiCase("pgd-amp-string", lambda: pgd(amp="yes"), TypeError, ("amp", "True or False")),
    ApiCase("pgd-replace-bad-value", lambda: pgd().replace(steps=0), ValueError, ("steps", ">= 1")),
    ApiCase("pgd-replace-unknown", lambda: pgd().replace(stepz=2), TypeError, ("stepz", "valid settings")),
    ApiCase("pgd-eps-8-warns", lambda: pgd(eps=8), UserWarning, ("eps=8", "8/255"), warns=True),
    ApiCase(
        "pgd-l2-eps-beyond-diameter-warns",
        lambda: attack(lambda: pgd(eps=30.0, norm="l2")),
        UserWarning,
        ("eps=30", "l2 budget", "30/255"),
        warns=True,
    ),
    ApiCase("apgd-loss-unknown", lambda: _attacks().APGD(eps=0.1, loss="cw"), ValueError, ("loss", "'dlr'")),
    ApiCase("apgd-rho-above-one", lambda: _attacks().APGD(eps=0.1, rho=2), ValueError, ("rho", "[0, 1]")),
    ApiCase(
        "apgd-momentum-negative", lambda: _attacks().APGD(eps=0.1, momentum=-1), ValueError, ("momentum", "[0, 1]")
    ),
    ApiCase("apgd-targets-zero", lambda: _attacks().APGD(eps=0.1, targets=0), ValueError, ("targets", ">= 1")),
    ApiCase(
        "apgd-target-order-unknown",
        lambda: _attacks().APGD(eps=0.1, targets=3, target_order="random"),
        ValueError,
        ("target_order", "'logit'"),
    ),
    ApiCase(
        "apgd-as-many-targets-as-classes",
        lambda: attack(lambda: _attacks().APGD(eps=0.1, targets=10, steps=1)),
        ValueError,
        ("targets", "fewer", "10"),
    ),
    ApiCase(
        "apgd-dlr-two-classes",
        lambda: attack(lambda: _attacks().APGD(eps=0.1, loss="dlr", steps=1), net(2), y=labels(value=1)),
        ValueError,
        ("DLR", "3 classes", "loss='ce'"),
    ),
    ApiCase("fgsm-abs-stepsize-zero", lambda: _attacks().FGSM(eps=0.1, abs_stepsize=0), ValueError, ("abs_stepsize",)),
    ApiCase("fgsm-eps-8-warns", lambda: _attacks().FGSM(eps=8), UserWarning, ("eps=8", "8/255"), warns=True),
    ApiCase("simba-step-zero", lambda: _attacks().SimBA(step=0), ValueError, ("step", "> 0")),
    ApiCase("simba-eps-zero", lambda: _attacks().SimBA(eps=0), ValueError, ("eps", "> 0")),
    ApiCase("simba-basis-unknown", lambda: _attacks().SimBA(basis="fourier"), ValueError, ("basis", "'pixel'")),
    ApiCase("simba-max-queries-zero", lambda: _attacks().SimBA(max_queries=0), ValueError, ("max_queries", ">= 1")),
    ApiCase("simba-order-unknown", lambda: _attacks().SimBA(order="zigzag"), ValueError, ("order", "'strided'")),
    ApiCase("simba-stride-zero", lambda: _attacks().SimBA(stride=0), ValueError, ("stride", ">= 1")),
    ApiCase("simba-eps-negative", lambda: _attacks().SimBA(eps=-1), ValueError, ("eps", "> 0")),
    ApiCase(
        "simba-eps-8-warns",
        lambda: _attacks().SimBA(eps=8),
        UserWarning,
        ("eps=8", "8/255"),
        warns=True,
    ),
    ApiCase(
        "simba-freq-dims-beyond-image",
        lambda: attack(lambda: _attacks().SimBA(freq_dims=99, max_queries=2)),
        ValueError,
        ("freq_dims", "8x8", "None"),
    ),
    ApiCase("square-p-init-zero", lambda: _attacks().Square(eps=0.1, p_init=0), ValueError, ("p_init", "(0, 1]")),
    ApiCase("square-p-init-above-one", lambda: _attacks().Square(eps=0.1, p_init=1.5), ValueError, ("p_init", "1.5")),
    ApiCase("square-loss-unknown", lambda: _attacks().Square(eps=0.1, loss="dlr"), ValueError, ("loss", "'margin'")),
    ApiCase(
        "square-one-pixel-images",
        lambda: attack(
            lambda: _attacks().Square(eps=0.1, max_queries=2),
            nn.Sequential(nn.Flatten(), nn.Linear(3, 10)),
            torch.rand(4, 3, 1, 1),
        ),
        ValueError,
        ("2x2", "1x1"),
    ),
    ApiCase("square-eps-8-warns", lambda: _attacks().Square(eps=8), UserWarning, ("eps=8", "8/255"), warns=True),
    ApiCase("fourier-norm-negative", lambda: _attacks().FourierBasisAttack(norm_l2=-1), ValueError, ("norm_l2", "> 0")),
    ApiCase("fourier-cells-flat", lambda: _attacks().FourierBasisAttack(cells=(1, 2)), ValueError, ("cells", "(P, 2)")),
    ApiCase("fourier-order-unknown", lambda: _attacks().FourierBasisAttack(order="random"), ValueError, ("order",)),
    ApiCase(
        "fourier-cells-beyond-image",
        lambda: attack(lambda: _attacks().FourierBasisAttack(cells=((99, 99),))),
        ValueError,
        ("cells", "[0, 7]", "(99, 99)"),
    ),
    ApiCase(
        "fourier-channels-mismatch",
        lambda: attack(lambda: _attacks().FourierBasisAttack(channels=1, cells=((1, 1),))),
        ValueError,
        ("1-channel", "channels=3"),
    ),
    ApiCase("torchattacks-unknown", lambda: _attacks().TorchAttack("NoSuch", eps=0.1), ValueError, ("NoSuch", "'PGD'")),
    ApiCase("torchattacks-not-a-name", lambda: _attacks().TorchAttack(123), TypeError, ("name_or_class", "123")),
    ApiCase(
        "torchattacks-unknown-argument",
        lambda: _attacks().TorchAttack("PGD", eps=0.1, foo=3),
        TypeError,
        ("foo", "steps"),
    ),
    ApiCase(
        "transfer-source-not-module",
        lambda: _attacks().TransferAttack(source=object(), attack=pgd()),
        TypeError,
        ("source", "torch.nn.Module"),
    ),
    ApiCase(
        "transfer-attack-string",
        lambda: _attacks().TransferAttack(source=net(), attack="pgd"),
        TypeError,
        ("attack", "str"),
    ),
    ApiCase(
        "create-attack-typo",
        lambda: _attacks().create_attack("pgdd", eps=0.1),
        ValueError,
        ("unknown attack", "did you mean", "'pgd'"),
    ),
    # ---- attack calls (checked before any work)
    ApiCase("attack-images-3d", lambda: attack(pgd, x=images()[0]), ValueError, ("(N, C, H, W)", "unsqueeze(0)")),
    ApiCase(
        "attack-images-uint8",
        lambda: attack(pgd, x=(images() * 255).to(torch.uint8)),
        TypeError,
        ("uint8", "x.float() / 255"),
    ),
    ApiCase(
        "attack-images-nan",
        lambda: attack(pgd, x=images().masked_fill(images() > 0.9, float("nan"))),
        ValueError,
        ("x", "NaN"),
    ),
    ApiCase("attack-images-empty", lambda: attack(pgd, x=images()[:0], y=labels()[:0]), ValueError, ("empty batch",)),
    ApiCase("attack-images-numpy", lambda: attack(pgd, x=images().numpy()), TypeError, ("x", "ndarray")),
    ApiCase("attack-labels-float", lambda: attack(pgd, y=labels().float()), TypeError, ("y", "y.long()")),
    ApiCase("attack-labels-list", lambda: attack(pgd, y=[0, 1, 2, 3]), TypeError, ("y", "list")),
    ApiCase("attack-labels-too-few", lambda: attack(pgd, y=labels(3)), ValueError, ("y", "(4,)", "(3,)")),
    ApiCase("attack-labels-column", lambda: attack(pgd, y=labels()[:, None]), ValueError, ("y", "(4, 1)")),
    ApiCase(
        "attack-label-equal-to-classes",
        lambda: attack(pgd, y=labels(value=10)),
        ValueError,
        ("y", "[0, 9]", "10 outputs", "sample 0"),
    ),
    ApiCase("attack-label-negative", lambda: attack(pgd, y=labels(value=-1)), ValueError, ("y", "-1", "[0, 9]")),
    ApiCase(
        "attack-targets-beyond-classes",
        lambda: attack(pgd, targets=labels(value=10)),
        ValueError,
        ("targets", "[0, 9]"),
    ),
    ApiCase(
        "attack-targets-equal-labels",
        lambda: attack(pgd, targets=labels()),
        ValueError,
        ("targets", "other than the true label", "sample 0"),
    ),
    ApiCase("attack-generator-int", lambda: attack(pgd, generator=123), TypeError, ("generator", "torch.Generator")),
    ApiCase(
        "attack-model-tuple-output",
        lambda: attack(pgd, nn.Sequential(net(), nn.Unflatten(1, (2, 5)))),
        ValueError,
        ("(4, classes)", "(4, 2, 5)"),
    ),
    ApiCase("attack-model-one-score", lambda: attack(pgd, flat_net()), ValueError, ("(4, classes)", "(4,)")),
    ApiCase(
        "attack-model-predicts-labels", lambda: attack(pgd, labels_net()), TypeError, ("floating-point logits", "int64")
    ),
    ApiCase(
        "attack-model-one-class",
        lambda: attack(pgd, net(1), y=labels(value=0)),
        ValueError,
        ("at least 2 classes", "torch.cat([-z, z], dim=1)"),
    ),
    ApiCase("attack-model-nan", lambda: attack(pgd, nan_net()), ValueError, ("finite logits", "sample 0")),
    ApiCase(
        "attack-simba-model-nan",
        lambda: attack(lambda: _attacks().SimBA(max_queries=2), nan_net()),
        ValueError,
        ("clean images", "finite logits"),
    ),
    ApiCase(
        "attack-grey-images",
        lambda: attack(pgd, conv_net(), images(channels=1)),
        ValueError,
        ("3-channel", "1-channel", "expand(-1, 3, -1, -1)"),
    ),
    ApiCase(
        "attack-image-size",
        lambda: attack(pgd, x=torch.rand(4, 3, 16, 16)),
        ValueError,
        ("(4, 3, 16, 16)", "channels, size and dtype"),
    ),
    ApiCase("attack-half-model", lambda: attack(pgd, net().half()), TypeError, ("torch.float16", "model.float()")),
    ApiCase(
        "attack-transfer-grey-source",
        lambda: attack(
            lambda: _attacks().TransferAttack(source=conv_net(), attack=pgd()),
            nn.Sequential(nn.Flatten(), nn.Linear(64, 10)),
            images(channels=1),
        ),
        ValueError,
        ("3-channel", "1-channel"),
    ),
    # ---- evaluate
    ApiCase(
        "evaluate-attacks-none",
        lambda: _ev().evaluate(net(), data(), None),
        TypeError,
        ("attacks", "PGD(eps=8 / 255)", "None"),
    ),
    ApiCase(
        "evaluate-attacks-empty", lambda: _ev().evaluate(net(), data(), []), ValueError, ("attacks", "at least one")
    ),
    ApiCase("evaluate-attack-name", lambda: evaluate(attacks=["pgd"]), TypeError, ("attacks[0]", "str")),
    ApiCase(
        "evaluate-attack-class",
        lambda: evaluate(attacks=[_attacks().PGD]),
        TypeError,
        ("class PGD", "PGD(eps=8 / 255)"),
    ),
    ApiCase("evaluate-model-not-module", lambda: evaluate(model=object()), TypeError, ("model", "torch.nn.Module")),
    ApiCase("evaluate-data-string", lambda: evaluate(data="cifar10"), TypeError, ("data", "(x, y)", "str")),
    ApiCase(
        "evaluate-data-lengths",
        lambda: evaluate(data=(images(), labels(3))),
        ValueError,
        ("data", "as many labels as images"),
    ),
    ApiCase("evaluate-n-zero", lambda: evaluate(n=0), ValueError, ("n", ">= 1")),
    ApiCase("evaluate-n-float", lambda: evaluate(n=2.5), TypeError, ("n", "2.5")),
    ApiCase("evaluate-batch-size-zero", lambda: evaluate(batch_size=0), ValueError, ("batch_size", ">= 1")),
    ApiCase("evaluate-mode-unknown", lambda: evaluate(mode="worst"), ValueError, ("mode", "'cascade'")),
    ApiCase("evaluate-eot-unknown", lambda: evaluate(eot="always"), ValueError, ("eot", "'auto'")),
    ApiCase("evaluate-eot-samples-zero", lambda: evaluate(eot_samples=0), ValueError, ("eot_samples", ">= 1")),
    ApiCase("evaluate-votes-string", lambda: evaluate(votes="many"), TypeError, ("votes", "'many'")),
    ApiCase("evaluate-checks-string", lambda: evaluate(checks="yes"), TypeError, ("checks", "True or False")),
    ApiCase("evaluate-seed-string", lambda: evaluate(seed="0"), TypeError, ("seed", "int", "str")),
    ApiCase("evaluate-seed-float", lambda: evaluate(seed=1.5), TypeError, ("seed", "float")),
    ApiCase(
        "evaluate-state-path-folder",
        lambda: evaluate(state_path=Path(__file__).parent),
        ValueError,
        ("state_path", "a file", "folder"),
    ),
    ApiCase(
        "evaluate-state-path-no-folder",
        lambda: evaluate(state_path=_NO_FOLDER),
        ValueError,
        ("state_path", "does not exist"),
    ),
    ApiCase(
        "evaluate-state-path-foreign-file",
        lambda: evaluate(state_path=__file__),
        ValueError,
        ("state_path", "cannot read", "evaluation state"),
    ),
    ApiCase("evaluate-state-path-int", lambda: evaluate(state_path=3), TypeError, ("state_path", "file path", "int")),
    ApiCase("evaluate-budget-negative", lambda: evaluate(budget_s=-1), ValueError, ("budget_s", ">= 0")),
    ApiCase("evaluate-index-offset-negative", lambda: evaluate(index_offset=-1), ValueError, ("index_offset", ">= 0")),
    ApiCase("evaluate-index-offset-string", lambda: evaluate(index_offset="1"), TypeError, ("index_offset", "str")),
    ApiCase("evaluate-device-unknown", lambda: evaluate(device="gpu"), ValueError, ("device", "'cuda'", "'gpu'")),
    ApiCase(
        "evaluate-sanity-attack-l2-small",
        lambda: evaluate(checks=True, sanity_attack=pgd(norm="l2")),
        ValueError,
        ("sanity_attack", "mid-grey"),
    ),
    ApiCase("evaluate-progress-string", lambda: evaluate(progress="yes"), TypeError, ("progress", "callable")),
    ApiCase(
        "evaluate-label-beyond-classes",
        lambda: evaluate(data=(images(), labels(value=10))),
        ValueError,
        ("data labels", "[0, 9]", "10 outputs"),
    ),
    ApiCase(
        "evaluate-labels-float",
        lambda: evaluate(data=(images(), labels().float())),
        TypeError,
        ("data labels", "use labels.long()"),
    ),
    ApiCase(
        "evaluate-images-uint8",
        lambda: evaluate(data=((images() * 255).to(torch.uint8), labels())),
        TypeError,
        ("data images", "use images.float() / 255"),
    ),
    ApiCase(
        "evaluate-images-0-255",
        lambda: evaluate(data=(images() * 255, labels())),
        ValueError,
        ("data images", "[0, 1]", "Normalize"),
    ),
    ApiCase("evaluate-model-one-score", lambda: evaluate(model=flat_net()), ValueError, ("(4, classes)", "(4,)")),
    ApiCase(
        "evaluate-model-predicts-labels", lambda: evaluate(model=labels_net()), TypeError, ("floating-point logits",)
    ),
    ApiCase("evaluate-n-string", lambda: evaluate(n="5"), TypeError, ("n", "'5'")),
    ApiCase("evaluate-model-nan", lambda: evaluate(model=nan_net()), ValueError, ("clean images", "finite logits")),
    ApiCase(
        "evaluate-grey-images",
        lambda: evaluate(model=conv_net(), data=data(channels=1)),
        ValueError,
        ("data images", "3-channel", "1-channel"),
    ),
    ApiCase(
        "evaluate-bfloat16-model",
        lambda: evaluate(model=net().bfloat16()),
        TypeError,
        ("torch.bfloat16", "model.float()"),
    ),
    ApiCase("evaluate-n-beyond-data-warns", lambda: evaluate(n=1000), UserWarning, ("n=1000", "4 samples"), warns=True),
    # ---- fourier_heatmap
    ApiCase("heatmap-norm-negative", lambda: heatmap(norm=-1), ValueError, ("norm", ">= 0")),
    ApiCase("heatmap-norm-nan", lambda: heatmap(norm=float("nan")), ValueError, ("norm", "finite")),
    ApiCase("heatmap-norm-missing", lambda: _ev().fourier_heatmap(net(), data()), TypeError, ("norm",)),
    ApiCase(
        "heatmap-cells-beyond-image", lambda: heatmap(cells="central:99"), ValueError, ("central:99", "K <= 8", "8x8")
    ),
    ApiCase("heatmap-cells-zero", lambda: heatmap(cells="central:0"), ValueError, ("cells", "K >= 1")),
    ApiCase("heatmap-cells-word", lambda: heatmap(cells="all"), ValueError, ("cells", "'central:K'", "'all'")),
    ApiCase("heatmap-cells-empty", lambda: heatmap(cells=[]), ValueError, ("cells", "at least one", "None")),
    ApiCase("heatmap-cells-outside", lambda: heatmap(cells=[(99, 0)]), ValueError, ("cells", "[0, 7]", "(99, 0)")),
    ApiCase("heatmap-cells-flat", lambda: heatmap(cells=[1, 2]), ValueError, ("cells", "(P, 2)")),
    ApiCase("heatmap-random-sign-string", lambda: heatmap(random_sign="yes"), TypeError, ("random_sign",)),
    ApiCase("heatmap-pass-size-zero", lambda: heatmap(pass_size=0), ValueError, ("pass_size", ">= 1")),
    ApiCase("heatmap-seed-string", lambda: heatmap(seed="x"), TypeError, ("seed", "int")),
    ApiCase("heatmap-model-one-score", lambda: heatmap(flat_net()), ValueError, ("(4, classes)", "(4,)")),
    ApiCase("heatmap-model-predicts-labels", lambda: heatmap(labels_net()), TypeError, ("floating-point logits",)),
    ApiCase(
        "heatmap-label-beyond-classes",
        lambda: heatmap(batch=(images(), labels(value=10))),
        ValueError,
        ("data labels", "[0, 9]"),
    ),
    ApiCase("heatmap-model-nan", lambda: heatmap(nan_net()), ValueError, ("clean images", "finite logits")),
    ApiCase(
        "heatmap-grey-images", lambda: heatmap(conv_net(), data(channels=1)), ValueError, ("3-channel", "1-channel")
    ),
    ApiCase("heatmap-n-beyond-data-warns", lambda: heatmap(n=100), UserWarning, ("n=100", "4 samples"), warns=True),
    ApiCase("heatmap-cells-helper", lambda: _ev().heatmap_cells(8, 8, "central:99"), ValueError, ("K <= 8",)),
    ApiCase("fourier-noise-norm-zero", lambda: _ev().fourier_noise_norm(0), ValueError, ("image_size", ">= 1")),
    # ---- filtered_accuracy
    ApiCase("filtered-bandwidth-negative", lambda: filtered(bandwidths=[-1]), ValueError, ("bandwidths", "> 0")),
    ApiCase("filtered-bandwidths-string", lambda: filtered(bandwidths="3"), TypeError, ("bandwidths", "sequence")),
    ApiCase(
        "filtered-bandwidth-nan", lambda: filtered(bandwidths=[float("nan")]), ValueError, ("bandwidths", "finite")
    ),
    ApiCase("filtered-bandwidth-beyond-image", lambda: filtered(bandwidths=[99]), ValueError, ("bandwidth", "(0, 8]")),
    ApiCase("filtered-radius-zero", lambda: filtered(radii=[0]), ValueError, ("radii", "> 0")),
    ApiCase(
        "filtered-both-sweeps-empty",
        lambda: filtered(bandwidths=[], radii=[]),
        ValueError,
        ("bandwidths, radii", "empty"),
    ),
    ApiCase("filtered-shape-unknown", lambda: filtered(shape="circle"), ValueError, ("shape", "'disc'")),
    ApiCase("filtered-rescale-string", lambda: filtered(rescale="yes"), TypeError, ("rescale", "True or False")),
    ApiCase(
        "filtered-label-negative",
        lambda: filtered(batch=(images(), labels(value=-1))),
        ValueError,
        ("data labels", "-1"),
    ),
    ApiCase("filtered-model-nan", lambda: filtered(nan_net()), ValueError, ("clean images", "finite logits")),
    ApiCase("filtered-model-one-score", lambda: filtered(flat_net()), ValueError, ("(4, classes)",)),
    ApiCase("filtered-n-string", lambda: filtered(n="5"), TypeError, ("n", "'5'")),
    # ---- perturbation_spectrum
    ApiCase(
        "spectrum-first-argument-list",
        lambda: _ev().perturbation_spectrum([1, 2], images()),
        TypeError,
        ("x", "clean images", "a model", "list"),
    ),
    ApiCase(
        "spectrum-shapes-differ",
        lambda: _ev().perturbation_spectrum(images(), images(2)),
        ValueError,
        ("x_adv", "(4, 3, 8, 8)", "(2, 3, 8, 8)"),
    ),
    ApiCase(
        "spectrum-edges-crossed",
        lambda: _ev().perturbation_spectrum(images(), images(), low=0.6, high=0.2),
        ValueError,
        ("low <= high",),
    ),
    ApiCase(
        "spectrum-x-adv-nan",
        lambda: _ev().perturbation_spectrum(images(), images() * float("nan")),
        ValueError,
        ("x_adv", "NaN"),
    ),
    ApiCase(
        "spectrum-images-uint8",
        lambda: _ev().perturbation_spectrum((images() * 255).to(torch.uint8), images()),
        TypeError,
        ("uint8", "/ 255"),
    ),
    ApiCase(
        "spectrum-tensors-with-attacks",
        lambda: _ev().perturbation_spectrum(images(), images(), pgd()),
        TypeError,
        ("attacks", "None"),
    ),
    ApiCase(
        "spectrum-model-without-attacks",
        lambda: _ev().perturbation_spectrum(net(), data()),
        TypeError,
        ("attacks", "with a model"),
    ),
    ApiCase("spectrum-attack-name", lambda: spectrum(attacks="pgd"), TypeError, ("'pgd'", "create_attack")),
    ApiCase("spectrum-batch-size-zero", lambda: spectrum(batch_size=0), ValueError, ("batch_size", ">= 1")),
    ApiCase("spectrum-seed-string", lambda: spectrum(seed="0"), TypeError, ("seed", "int")),
    ApiCase(
        "spectrum-label-beyond-classes",
        lambda: spectrum(batch=(images(), labels(value=10))),
        ValueError,
        ("data labels", "[0, 9]"),
    ),
    ApiCase("spectrum-model-nan", lambda: spectrum(nan_net()), ValueError, ("clean images", "finite logits")),
    # ---- defences
    ApiCase("postavg-radius-negative", lambda: post_averaging(radius=-1), ValueError, ("radius", ">= 0")),
    ApiCase("postavg-radius-nan", lambda: post_averaging(radius=float("nan")), ValueError, ("radius", "finite")),
    ApiCase("postavg-samples-zero", lambda: post_averaging(samples=0), ValueError, ("samples", ">= 1")),
    ApiCase(
        "postavg-directions-unknown",
        lambda: post_averaging(directions="uniform"),
        ValueError,
        ("directions", "'gaussian'"),
    ),
    ApiCase("postavg-average-unknown", lambda: post_averaging(average="votes"), ValueError, ("average", "'probs'")),
    ApiCase("postavg-chunk-size-zero", lambda: post_averaging(chunk_size=0), ValueError, ("chunk_size", ">= 1")),
    ApiCase("postavg-seed-string", lambda: post_averaging(seed="x"), TypeError, ("seed", "str")),
    ApiCase(
        "postavg-seed-and-generator",
        lambda: post_averaging(seed=1, generator=torch.Generator()),
        ValueError,
        ("seed/generator", "at most one"),
    ),
    ApiCase("postavg-model-not-module", lambda: post_averaging(object()), TypeError, ("model", "torch.nn.Module")),
    ApiCase(
        "postavg-antithetic-odd",
        lambda: post_averaging(samples=3, directions="antithetic"),
        ValueError,
        ("samples", "even", "use 2 or 4"),
    ),
    ApiCase(
        "postavg-too-many-orthogonal",
        lambda: post_averaging(samples=400, directions="orthogonal")(images()),
        ValueError,
        ("samples", "192", "orthogonal"),
    ),
    ApiCase("postavg-images-3d", lambda: post_averaging()(images()[0]), ValueError, ("x", "(N, C, H, W)")),
    ApiCase(
        "postavg-images-float64",
        lambda: post_averaging()(images(dtype=torch.float64)),
        TypeError,
        ("torch.float32", "x.to(torch.float32)"),
    ),
    ApiCase(
        "postavg-grey-images",
        lambda: post_averaging(conv_net())(images(channels=1)),
        ValueError,
        ("3-channel", "1-channel"),
    ),
    ApiCase(
        "postavg-one-class-attacked",
        lambda: attack(pgd, post_averaging(net(1)), y=labels(value=0)),
        ValueError,
        ("at least 2 classes",),
    ),
    ApiCase(
        "directions-shape-int",
        lambda: _defenses().sample_directions(2, 3, 8),
        TypeError,
        ("shape", "tuple of positive ints"),
    ),
    ApiCase("lowpass-no-size", lambda: _defenses().LowPassFilter(), ValueError, ("exactly one of bandwidth",)),
    ApiCase(
        "lowpass-both-sizes",
        lambda: _defenses().LowPassFilter(bandwidth=2, radius=2),
        ValueError,
        ("exactly one of bandwidth",),
    ),
    ApiCase(
        "lowpass-shape-unknown",
        lambda: _defenses().LowPassFilter(bandwidth=2, shape="circle"),
        ValueError,
        ("shape", "'disc'"),
    ),
    ApiCase("lowpass-order-zero", lambda: _defenses().LowPassFilter(bandwidth=2, order=0), ValueError, ("order",)),
    ApiCase(
        "lowpass-bandwidth-beyond-image",
        lambda: _defenses().LowPassFilter(bandwidth=99)(images()),
        ValueError,
        ("bandwidth", "(0, 8]"),
    ),
    ApiCase(
        "highpass-bandwidth-string",
        lambda: _defenses().HighPassFilter(bandwidth="2"),
        TypeError,
        ("bandwidth", "number"),
    ),
    ApiCase(
        "filter-images-uint8",
        lambda: _defenses().LowPassFilter(bandwidth=2)((images() * 255).to(torch.uint8)),
        TypeError,
        ("x", "x.float()"),
    ),
    ApiCase("smoothing-rho-negative", lambda: _defenses().smoothing_kernel(-1), ValueError, ("rho", ">= 0")),
    ApiCase("smooth-no-conv", lambda: _defenses().smooth_first_conv(net(), 0.5), ValueError, ("nn.Conv2d",)),
    ApiCase(
        "smooth-layer-unknown",
        lambda: _defenses().smooth_first_conv(conv_net(), 0.5, layer="conv9"),
        ValueError,
        ("layer", "'conv9'", "['0']"),
    ),
    ApiCase(
        "smooth-layer-not-conv",
        lambda: _defenses().smooth_first_conv(conv_net(), 0.5, layer="2"),
        ValueError,
        ("layer", "Linear"),
    ),
    ApiCase(
        "smooth-preserve-norm-unknown",
        lambda: _defenses().smooth_first_conv(conv_net(), 0.5, preserve_norm="l1"),
        ValueError,
        ("preserve_norm", "'sum'"),
    ),
    ApiCase(
        "smooth-kernels-int",
        lambda: _defenses().smooth_kernels(torch.ones(4, 3, 3, 3, dtype=torch.long), 0.5),
        TypeError,
        ("weight", "weight.float()"),
    ),
    ApiCase(
        "apply-defence-typo",
        lambda: _defenses().apply_defense(net(), "lowpas"),
        ValueError,
        ("unknown defence", "'lowpass'"),
    ),
    ApiCase(
        "apply-defence-unknown-setting",
        lambda: _defenses().apply_defense(net(), "lowpass", foo=1),
        ValueError,
        ("foo", "bandwidth"),
    ),
    ApiCase(
        "apply-defence-missing-setting",
        lambda: _defenses().apply_defense(net(), "postavg"),
        ValueError,
        ("missing", "radius"),
    ),
    ApiCase(
        "input-filter-layer-string",
        lambda: _defenses().with_input_filter(net(), "lowpass"),
        TypeError,
        ("layer", "torch.nn.Module"),
    ),
    # ---- spectral functions
    ApiCase("dct2-vector", lambda: _spectral().dct2(torch.ones(8)), ValueError, ("at least 2 dims", "(8,)")),
    ApiCase("dct2-int", lambda: _spectral().dct2(torch.ones(8, 8, dtype=torch.long)), TypeError, ("x.float()",)),
    ApiCase("dct2-list", lambda: _spectral().dct2([[1.0]]), TypeError, ("torch.Tensor", "list")),
    ApiCase("fft2c-vector", lambda: _spectral().fft2c(torch.ones(8)), ValueError, ("at least 2 dims",)),
    ApiCase("band-mask-unknown", lambda: _spectral().band_mask(8, 8, "middle"), ValueError, ("band", "'mid'")),
    ApiCase("band-mask-space", lambda: _spectral().band_mask(8, 8, "low", space="wavelet"), ValueError, ("space",)),
    ApiCase("band-mask-size-float", lambda: _spectral().band_mask(8.0, 8, "low"), TypeError, ("h", "8.0")),
    ApiCase("frequency-mask-no-size", lambda: _spectral().frequency_mask(8, 8), ValueError, ("exactly one of",)),
    ApiCase("fourier-basis-outside", lambda: _spectral().fourier_basis(8, 8, 99, 0), ValueError, ("i", "[0, 7]", "99")),
    ApiCase(
        "fourier-basis-stack-outside",
        lambda: _spectral().fourier_basis_stack(8, 8, torch.tensor([[99, 0]])),
        ValueError,
        ("cells", "(99, 0)"),
    ),
    ApiCase(
        "radial-profile-bins-zero",
        lambda: _spectral().radial_profile(torch.ones(8, 8), bins=0),
        ValueError,
        ("bins", ">= 1"),
    ),
    ApiCase(
        "lowpass-negative-bandwidth",
        lambda: _spectral().lowpass(images(), bandwidth=-1),
        ValueError,
        ("bandwidth", "> 0"),
    ),
    ApiCase(
        "frequency-mask-shape-mismatch",
        lambda: _spectral().apply_frequency_mask(images(), torch.ones(5, 5)),
        ValueError,
        ("mask", "(8, 8)", "(5, 5)"),
    ),
    ApiCase(
        "rfft-mask-shape-mismatch",
        lambda: _spectral().apply_rfft_mask(images(), torch.ones(5, 5)),
        ValueError,
        ("half", "(8, 5)", "(5, 5)"),
    ),
    ApiCase(
        "frequency-split-radius-negative",
        lambda: _spectral().frequency_split(images(), -1),
        ValueError,
        ("radius", "> 0"),
    ),
    ApiCase("dct-matrix-zero", lambda: _spectral().dct_matrix(0), ValueError, ("n", ">= 1")),
    ApiCase(
        "band-energy-edges-crossed",
        lambda: _spectral().band_energy(images(), low=0.6, high=0.2),
        ValueError,
        ("low <= high",),
    ),
]


@pytest.mark.parametrize("case", API_CASES, ids=lambda c: c.id)
def test_api_case(case: ApiCase) -> None:
    if case.warns:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            case.call()
        hits = [w for w in seen if issubclass(w.category, case.error)]
        assert hits, f"no {case.error.__name__} was emitted"
        message = str(hits[0].message)
    else:
        with pytest.raises(case.error) as info:  # type: ignore[arg-type]
            case.call()
        message = str(info.value)
    for word in case.words:
        assert word in message, f"{word!r} not in {message!r}"


# ------------------------------------------------------------------------------ CLI cases
@dataclass(frozen=True)
class CliCase:
    """``bandlimit <argv>`` must exit 2 with every word on stderr and no traceback.

    ``argv`` may use ``{tmp}`` (a fresh folder) and ``{out}`` (``{tmp}/out``); ``setup(tmp)``
    prepares files in the folder first.
    """

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...]
    setup: Callable[[Path], None] | None = None


# Bad files for the CLI cases, written into the test's folder by ``setup``.
def _write(name: str, data: bytes | str) -> Callable[[Path], None]:
    """``setup`` writing ``data`` (bytes, or UTF-8 text) to ``tmp/name`` (folders created)."""

    def setup(tmp: Path) -> None:
        path = tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))

    return setup


def _folder(name: str) -> Callable[[Path], None]:
    """``setup`` making the folder ``tmp/name``."""
    return lambda tmp: (tmp / name).mkdir(parents=True)


def _npz(name: str, truncate: bool = False, **arrays: Any) -> Callable[[Path], None]:
    """``setup`` writing an npz of ``arrays`` (numpy-converted) to ``tmp/name``, cut in half if ``truncate``."""

    def setup(tmp: Path) -> None:
        import numpy as np

        path = tmp / name
        np.savez(path, **{k: np.asarray(v) for k, v in arrays.items()})
        if truncate:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _uint8_images(n: int = 4) -> Any:
    """``n`` 8x8 RGB uint8 images in N,H,W,C (the layout of an npz dataset)."""
    return (images(n) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _checkpoint(name: str, *, nan: bool = False, truncate: bool = False, bare: bool = False) -> Callable[[Path], None]:
    """``setup`` saving the weights of :func:`net` to ``tmp/name``: with NaN weights, cut in half,
    or ``bare`` (a plain state_dict without bandlimit metadata)."""

    def setup(tmp: Path) -> None:
        from bandlimit.models import save_checkpoint

        model, path = net(), tmp / name
        if bare:
            torch.save(model.state_dict(), path)
        else:
            save_checkpoint(path, model)
        if nan:  # written by torch.save directly: save_checkpoint itself would refuse NaN weights
            state = torch.load(path, weights_only=True)
            state["state_dict"]["1.weight"][0, 0] = float("nan")
            torch.save(state, path)
        if truncate:
            path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    return setup


def _defended_checkpoint(name: str) -> Callable[[Path], None]:
    """``setup`` saving a ResNet-20 behind a low-pass filter (its metadata names the defence)."""

    def setup(tmp: Path) -> None:
        from bandlimit.models import create_model, save_checkpoint
        from defenses import apply_defense

        save_checkpoint(tmp / name, apply_defense(create_model("resnet20"), "lowpass", bandwidth=8))

    return setup


def _pickled(name: str) -> Callable[[Path], None]:
    """``setup`` saving a Python object beyond tensors (an argparse.Namespace) with torch.save."""

    def setup(tmp: Path) -> None:
        import argparse

        torch.save({"state_dict": argparse.Namespace(weights=1)}, tmp / name)

    return setup


def _toml(text: str) -> Callable[[Path], None]:
    """``setup`` writing ``text`` to ``tmp/c.toml``."""
    return _write("c.toml", text)


def _state(payload: dict[str, Any]) -> Callable[[Path], None]:
    """``setup`` saving ``payload`` as ``tmp/out/state.pt`` (a foreign state file)."""

    def setup(tmp: Path) -> None:
        (tmp / "out").mkdir()
        torch.save(payload, tmp / "out" / "state.pt")

    return setup


_RANDOM = bytes(range(256)) * 8  # not a zip, not a pickle, not text
# A cheap evaluation of a model with weights (an architecture alone is refused).
_EV = ("evaluate", "--model", "resnet20-natural", "--attack", "fgsm", "--n", "2", "--out", "{out}")
_HM = ("heatmap", "--model", "resnet20-natural", "--n", "2", "--out", "{out}")
_SP = ("spectrum", "--model", "resnet20-natural", "--n", "2", "--out", "{out}")
_TR = ("train", "--data", "cifar10-sample", "--train-split", "test", "--epochs", "1", "--out", "{out}")
_CFG = ("--config", "{tmp}/c.toml")
_NPZ = ("--data", "npz:{tmp}/d.npz")

CLI_CASES: list[CliCase] = [
    # ---- the command line itself: one line, exit 2, no usage dump
    CliCase("unknown-command", ("evalute",), ("invalid choice", "evaluate")),
    CliCase("option-without-value", ("evaluate", "--eps"), ("--eps", "expected one argument")),
    CliCase("int-option-text", ("evaluate", "--n", "eight"), ("--n", "invalid int value")),
    CliCase("choice-option", ("evaluate", "--split", "dev"), ("--split", "invalid choice")),
    CliCase("norm-l1", ("evaluate", "--norm", "l1"), ("--norm", "invalid choice")),
    CliCase(
        "unknown-option",
        ("heatmap", "--cellz", "central:3"),
        ("unrecognized arguments", "--cellz", "bandlimit heatmap --help"),
    ),
    # ---- evaluate: attacks and budgets
    CliCase("evaluate-unknown-attack", ("evaluate", "--attack", "pgdd", "--out", "{out}"), ("unknown attack", "pgd")),
    CliCase("evaluate-bad-eps", ("evaluate", "--eps", "-1", "--out", "{out}"), ("eps", "> 0")),
    CliCase("evaluate-eps-8", ("evaluate", "--eps", "8", "--out", "{out}"), ("--eps", "8/255")),
    CliCase(
        "evaluate-model-without-weights",
        ("evaluate", "--model", "resnet20", "--n", "2", "--out", "{out}"),
        ("resnet20", "without shipped weights", "--checkpoint", "resnet20-natural"),
    ),
    CliCase(
        "heatmap-model-without-weights",
        ("heatmap", "--model", "wideresnet28_10", "--n", "2", "--out", "{out}"),
        ("wideresnet28_10", "random weights"),
    ),
    CliCase(
        "evaluate-data-did-you-mean",
        ("evaluate", "--model", "resnet20-natural", "--data", "cifar10-samples", "--out", "{out}"),
        ("--data", "did you mean", "'cifar10-sample'"),
    ),
    CliCase("evaluate-threads-zero", (*_EV, "--threads", "0"), ("--threads", ">= 1")),
    CliCase("heatmap-threads-negative", (*_HM, "--threads", "-1"), ("--threads", ">= 1")),
    CliCase("spectrum-threads-text", (*_SP, "--threads", "two"), ("--threads", "int")),
    CliCase("evaluate-eps-list-8", ("evaluate", "--eps", "2/255,8", "--out", "{out}"), ("8/255",)),
    CliCase("evaluate-eps-nan", ("evaluate", "--eps", "nan", "--out", "{out}"), ("eps > 0", "nan")),
    CliCase("evaluate-eps-inf", ("evaluate", "--eps", "inf", "--out", "{out}"), ("finite", "inf")),
    CliCase("evaluate-eps-text", ("evaluate", "--eps", "big", "--out", "{out}"), ("--eps", "big")),
    CliCase("evaluate-eps-empty", ("evaluate", "--eps", ",", "--out", "{out}"), ("--eps",)),
    CliCase("evaluate-pgd-eps-8", ("evaluate", "--attack", "pgd:eps=8", "--out", "{out}"), ("pgd:eps=8", "8/255")),
    CliCase(
        "evaluate-pgd-norm-l1",
        ("evaluate", "--attack", "pgd:norm=l1", "--out", "{out}"),
        ("pgd:norm=l1", "norm: expected one of"),
    ),
    CliCase("evaluate-attack-typo", ("evaluate", "--attack", "pgd:stepz=3", "--out", "{out}"), ("stepz",)),
    CliCase("evaluate-attack-steps-0", ("evaluate", "--attack", "pgd:steps=0", "--out", "{out}"), ("steps", ">= 1")),
    CliCase("evaluate-attack-no-value", ("evaluate", "--attack", "pgd:steps", "--out", "{out}"), ("pgd:steps",)),
    CliCase("evaluate-n-zero", ("evaluate", "--n", "0", "--out", "{out}"), ("--n", ">= 1")),
    CliCase("evaluate-batch-size-zero", ("evaluate", "--batch-size", "0", "--out", "{out}"), ("--batch-size", ">= 1")),
    CliCase("evaluate-seed-negative", ("evaluate", "--seed", "-1", "--out", "{out}"), ("--seed", ">= 0")),
    CliCase("evaluate-analysis-n-zero", ("evaluate", "--analysis-n", "0", "--out", "{out}"), ("--analysis-n",)),
    CliCase("evaluate-budget-negative", ("evaluate", "--budget", "-5", "--out", "{out}"), ("--budget", ">= 0")),
    CliCase("evaluate-budget-nan", ("evaluate", "--budget", "nan", "--out", "{out}"), ("--budget", ">= 0")),
    CliCase("evaluate-eot-text", ("evaluate", "--eot", "many", "--out", "{out}"), ("--eot", "many")),
    CliCase("evaluate-device-unknown", (*_EV, "--device", "tpu"), ("device", "tpu")),
    CliCase("evaluate-l2-eps-huge", (*_EV, "--norm", "l2", "--eps", "1000"), ("exceeds", "0.5")),
    # ---- evaluate: models, checkpoints and defences
    CliCase("evaluate-unknown-model", ("evaluate", "--model", "resnet2O", "--out", "{out}"), ("resnet2O", "resnet20")),
    CliCase("evaluate-model-missing-file", ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"), ("no such",)),
    CliCase(
        "evaluate-model-folder", ("evaluate", "--model", "{tmp}/m", "--out", "{out}"), ("folder",), setup=_folder("m")
    ),
    CliCase(
        "evaluate-model-random-bytes",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "not a PyTorch checkpoint"),
        setup=_write("m.pt", _RANDOM),
    ),
    CliCase(
        "evaluate-model-empty-file",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "empty"),
        setup=_write("m.pt", b""),
    ),
    CliCase(
        "evaluate-model-truncated",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("--model", "truncated"),
        setup=_checkpoint("m.pt", truncate=True),
    ),
    CliCase(
        "evaluate-model-nan-weights",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("non-finite weights", "1.weight"),
        setup=_checkpoint("m.pt", nan=True),
    ),
    CliCase(
        "evaluate-model-python-objects",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("refusing", "weights_only"),
        setup=_pickled("m.pt"),
    ),
    CliCase(
        "evaluate-checkpoint-of-a-defended-model",
        ("evaluate", "--model", "resnet20", "--checkpoint", "{tmp}/blur.pt", "--n", "2", "--out", "{out}"),
        ("LowPassFilter", "drop the defence", "--model"),
        setup=_defended_checkpoint("blur.pt"),
    ),
    CliCase(
        "evaluate-model-no-metadata",
        ("evaluate", "--model", "{tmp}/m.pt", "--out", "{out}"),
        ("no bandlimit metadata",),
        setup=_checkpoint("m.pt", bare=True),
    ),
    CliCase(
        "evaluate-model-unknown-module",
        ("evaluate", "--model", "no_such_mod_xyz:build", "--out", "{out}"),
        ("no_such",),
    ),
    CliCase(
        "evaluate-checkpoint-mismatch",
        (*_EV, "--checkpoint", "{tmp}/m.pt"),
        ("does not match", "resnet20"),
        setup=_checkpoint("m.pt"),
    ),
    CliCase("evaluate-checkpoint-missing", (*_EV, "--checkpoint", "{tmp}/m.pt"), ("--checkpoint", "m.pt")),
    CliCase(
        "evaluate-checkpoint-folder", (*_EV, "--checkpoint", "{tmp}/m"), ("--checkpoint", "folder"), setup=_folder("m")
    ),
    CliCase(
        "evaluate-checkpoint-random-bytes",
        (*_EV, "--checkpoint", "{tmp}/m.pt"),
        ("--checkpoint", "not a PyTorch"),
        setup=_write("m.pt", _RANDOM),
    ),
    CliCase("evaluate-unknown-defense", (*_EV, "--defense", "postavgg"), ("postavgg", "postavg")),
    CliCase("evaluate-defense-missing-setting", (*_EV, "--defense", "postavg"), ("postavg", "radius")),
    CliCase("evaluate-defense-bad-setting", (*_EV, "--defense", "lowpass:bandwidth=-3"), ("lowpass", "bandwidth")),
    # ---- data files
    CliCase("data-unknown", (*_EV, "--data", "cifar11"), ("--data", "cifar11")),
    CliCase("data-npz-missing", (*_EV, *_NPZ), ("--data", "not found")),
    CliCase("data-npz-random-bytes", (*_EV, *_NPZ), ("not an npz file",), setup=_write("d.npz", _RANDOM)),
    CliCase("data-npz-empty-file", (*_EV, *_NPZ), ("not an npz file", "empty"), setup=_write("d.npz", b"")),
    CliCase(
        "data-npz-truncated",
        (*_EV, *_NPZ),
        ("truncated",),
        setup=_npz("d.npz", truncate=True, x=_uint8_images(64), y=labels(64)),
    ),
    CliCase(
        "data-npz-single-npy", (*_EV, *_NPZ), ("single .npy",), setup=_write("d.npz", b"\x93NUMPY\x01\x00" + _RANDOM)
    ),
    CliCase(
        "data-npz-negative-label",
        (*_EV, *_NPZ),
        ("labels >= 0", "'y'", "-1"),
        setup=_npz("d.npz", x=_uint8_images(), y=[0, 1, -1, 2]),
    ),
    CliCase(
        "data-npz-float-images",
        (*_EV, *_NPZ),
        ("--data", "uint8"),
        setup=_npz("d.npz", x=_uint8_images().astype("float32") / 255, y=labels()),
    ),
    CliCase(
        "data-npz-no-images",
        (*_EV, *_NPZ),
        ("no images",),
        setup=_npz("d.npz", x=_uint8_images()[:0], y=labels()[:0]),
    ),
    CliCase("data-npz-no-labels", (*_EV, *_NPZ), ("missing", "'y'"), setup=_npz("d.npz", x=_uint8_images())),
    CliCase(
        "data-npz-object-arrays",
        (*_EV, *_NPZ),
        ("object arrays",),
        setup=_npz("d.npz", x=_uint8_images(), y=__import__("numpy").array([0, 1, 2, None], dtype=object)),
    ),
    CliCase("data-folder-missing", (*_EV, "--data", "folder:{tmp}/imgs"), ("--data", "imgs")),
    # ---- the results folder
    CliCase("out-is-a-file", (*_EV,), ("existing file",), setup=_write("out", "x")),
    CliCase(
        "out-holds-results",
        (*_EV,),
        ("already holds", "results.json", "--overwrite"),
        setup=_write("out/results.json", "{}"),
    ),
    CliCase(
        "out-holds-evaluation-state",
        (*_EV,),
        ("already holds", "--resume", "--overwrite"),
        setup=_write("out/state.pt", _RANDOM),
    ),
    CliCase(
        "resume-random-bytes-state", (*_EV, "--resume"), ("--resume", "state.pt"), setup=_write("out/state.pt", _RANDOM)
    ),
    CliCase("resume-empty-state", (*_EV, "--resume"), ("--resume", "empty"), setup=_write("out/state.pt", b"")),
    CliCase(
        "resume-training-state",
        (*_EV, "--resume"),
        ("training state", "evaluate"),
        setup=_state({"format": "bandlimit-train-state/1", "run_id": "abc"}),
    ),
    CliCase(
        "resume-foreign-state",
        (*_EV, "--resume"),
        ("some other file", "evaluate run"),
        setup=_state({"weights": torch.ones(2)}),
    ),
    # ---- --config files
    CliCase("config-missing", (*_EV, *_CFG), ("--config", "c.toml")),
    CliCase("config-folder", (*_EV, "--config", "{tmp}"), ("--config", "folder")),
    CliCase("config-not-toml", (*_EV, *_CFG), ("not valid TOML",), setup=_toml("n = = 3")),
    CliCase("config-not-text", (*_EV, *_CFG), ("--config", "UTF-8"), setup=_write("c.toml", b"\xff\xfe\x00n = 3")),
    CliCase("config-unknown-key", (*_EV, *_CFG), ("unknown key", "attak"), setup=_toml('attak = "fgsm"')),
    CliCase("config-checks-no", (*_EV, *_CFG), ("checks", "true or false", "c.toml"), setup=_toml('checks = "no"')),
    CliCase("config-quiet-1", (*_EV, *_CFG), ("quiet", "true or false"), setup=_toml("quiet = 1")),
    CliCase("config-n-eight", (*_EV, *_CFG), ("n expected", "integer", "c.toml"), setup=_toml('n = "eight"')),
    CliCase(
        "config-n-zero", ("evaluate", "--out", "{out}", *_CFG), ("n expected", ">= 1", "c.toml"), setup=_toml("n = 0")
    ),
    CliCase("config-seed-float", (*_EV, *_CFG), ("seed", "integer"), setup=_toml("seed = 1.5")),
    CliCase("config-budget-soon", (*_EV, *_CFG), ("budget", "number", "c.toml"), setup=_toml('budget = "soon"')),
    CliCase("config-out-5", ("evaluate", *_CFG), ("out", "a string", "c.toml"), setup=_toml("out = 5")),
    CliCase("config-model-list", (*_EV, *_CFG), ("model", "a string"), setup=_toml('model = ["a", "b"]')),
    CliCase("config-attack-int", ("evaluate", *_CFG), ("attack", "list of strings"), setup=_toml("attack = 5")),
    CliCase("config-eps-true", (*_EV, *_CFG), ("eps",), setup=_toml("eps = true")),
    CliCase("config-eps-8", (*_EV, *_CFG), ("8/255",), setup=_toml("eps = 8")),
    CliCase("config-split-dev", (*_EV, *_CFG), ("split", "one of"), setup=_toml('split = "dev"')),
    CliCase("config-table", (*_EV, *_CFG), ("attack",), setup=_toml("[attack]\npgd = 1")),
    # ---- heatmap
    CliCase("heatmap-cells-99", (*_HM, "--cells", "central:99"), ("--cells", "K <= 32")),
    CliCase("heatmap-cells-zero", (*_HM, "--cells", "central:0"), ("--cells", "K >= 1")),
    CliCase("heatmap-cells-form", (*_HM, "--cells", "all"), ("--cells", "central:K")),
    CliCase("heatmap-norm-negative", (*_HM, "--norm-l2", "-1"), ("--norm-l2", "positive")),
    CliCase("heatmap-norm-nan", (*_HM, "--norm-l2", "nan"), ("--norm-l2", "positive")),
    CliCase("heatmap-n-zero", ("heatmap", "--n", "0", "--out", "{out}"), ("--n", ">= 1")),
    CliCase(
        "heatmap-out-holds-evaluation",
        (*_HM,),
        ("already holds", "--overwrite"),
        setup=_write("out/report.html", "<html></html>"),
    ),
    CliCase("heatmap-config-cells", (*_HM, *_CFG), ("cells", "a string"), setup=_toml("cells = 9")),
    # ---- spectrum
    CliCase("spectrum-low-above-high", (*_SP, "--low", "0.6", "--high", "0.2"), ("--low/--high", "low <= high")),
    CliCase("spectrum-low-negative", (*_SP, "--low", "-0.1"), ("--low/--high",)),
    CliCase("spectrum-eps-8", (*_SP, "--eps", "8"), ("8/255",)),
    CliCase("spectrum-unknown-attack", (*_SP, "--attack", "pgdd"), ("unknown attack",)),
    CliCase("spectrum-out-holds-results", (*_SP,), ("already holds",), setup=_write("out/results.json", "{}")),
    # ---- train
    CliCase("train-n-train-zero", (*_TR, "--n-train", "0"), ("--n-train", ">= 1")),
    CliCase("train-threads-zero", (*_TR, "--threads", "0"), ("--threads", ">= 1")),
    CliCase("train-threads-negative", (*_TR, "--threads", "-3"), ("--threads", ">= 1")),
    CliCase("train-epochs-zero", (*_TR, "--epochs", "0"), ("--epochs", ">= 1")),
    CliCase("train-unknown-recipe", (*_TR, "--recipe", "pgd-at"), ("--recipe", "pgd_at")),
    CliCase("train-unknown-model", (*_TR, "--model", "resnet2O"), ("--model", "resnet2O")),
    CliCase("train-eps-8", (*_TR, "--recipe", "pgd_at", "--eps", "8"), ("eps", "8/255")),
    CliCase("train-lr-text", (*_TR, "--lr", "fast"), ("--lr", "fast")),
    CliCase("train-config-lr-text", (*_TR, *_CFG), ("lr", "c.toml"), setup=_toml('lr = "fast"')),
    CliCase("train-config-augment-no", (*_TR, *_CFG), ("augment", "true or false"), setup=_toml('augment = "no"')),
    CliCase(
        "train-out-holds-results", (*_TR,), ("already holds", "--overwrite"), setup=_write("out/metrics.json", "{}")
    ),
    CliCase(
        "train-resume-random-bytes",
        (*_TR, "--resume"),
        ("resume", "state.pt"),
        setup=_write("out/state.pt", _RANDOM),
    ),
    CliCase(
        "train-resume-evaluation-state",
        (*_TR, "--resume"),
        ("resume", "training state", "bandlimit evaluate"),
        setup=_state({"fingerprint": "x", "batches": {}}),
    ),
    # ---- demo, models, bench
    CliCase("demo-n-zero", ("demo", "--n", "0", "--out", "{out}"), ("--n", "positive")),
    CliCase("demo-threads-zero", ("demo", "--threads", "0", "--out", "{out}"), ("--threads", ">= 1")),
    CliCase("demo-seed-negative", ("demo", "--seed", "-2", "--out", "{out}"), ("--seed", ">= 0")),
    CliCase(
        "demo-out-holds-other-run",
        ("demo", "--out", "{out}"),
        ("already holds", "--overwrite"),
        setup=_write("out/results.json", '{"schema_version": 1, "kind": "evaluation"}'),
    ),
    CliCase("models-card-unknown", ("models", "--card", "resnet2O"), ("resnet2O",)),
    CliCase("bench-unknown", ("bench", "nosuchbench"), ("nosuchbench",)),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=lambda c: c.id)
def test_cli_case(case: CliCase, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if case.setup is not None:
        case.setup(tmp_path)
    argv = [a.format(tmp=tmp_path, out=tmp_path / "out") for a in case.argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, f"exit {code}, stderr: {err}"
    assert "Traceback" not in err
    for word in case.words:
        assert word in err, f"{word!r} not in {err!r}"


def test_catalogue_size() -> None:
    """The issue asks for at least 150 cases across the API and the command line."""
    assert len(API_CASES) >= 150 and len(CLI_CASES) >= 100
    assert len({c.id for c in API_CASES}) == len(API_CASES)  # every case named once
    assert len({c.id for c in CLI_CASES}) == len(CLI_CASES)
