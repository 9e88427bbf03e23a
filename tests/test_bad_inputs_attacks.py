"""The bad-input catalogue, Python API, attacks: settings checked at build time, calls before any work."""

from __future__ import annotations

import pytest
import torch
from _bad_inputs import (
    ApiCase,
    _attacks,
    attack,
    check_api_case,
    conv_net,
    flat_net,
    images,
    labels,
    labels_net,
    nan_net,
    net,
    pgd,
)
from torch import nn

ATTACK_CASES: list[ApiCase] = [
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
]


@pytest.mark.parametrize("case", ATTACK_CASES, ids=lambda c: c.id)
def test_api_case(case: ApiCase) -> None:
    check_api_case(case)
