"""Tests for bandlimit.data's shipped samples (cifar10-sample, imagenet-sample): pinned pixels, labels,
size and provenance, and equality with the team's offline source copies where present."""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from _data_helpers import _as_uint8_chw, _check_item
from PIL import Image
from torchvision import transforms as T

from bandlimit.data import (
    CIFAR10_CLASSES,
    load_dataset,
    sample_files,
)
from bandlimit.data.samples import assets_dir

SHARED = Path(__file__).resolve().parents[2] / "shared"
CIFAR_NPZ = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
IMAGENET_TAR = SHARED / "data" / "imagenet" / "imagenet_samples_256.tar.gz"


# ----------------------------------------------------------------------------------------------
# shipped samples
# ----------------------------------------------------------------------------------------------


class TestSamples:
    def test_cifar10_sample(self) -> None:
        ds = load_dataset("cifar10-sample")
        assert len(ds) == 600 and ds.classes == list(CIFAR10_CLASSES)
        assert ds.indices.tolist() == list(range(600))
        image, label = ds[0]
        _check_item(image, label, (3, 32, 32))
        assert label == 3  # official test image 0 is a cat
        assert ds.targets[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # official first labels
        assert torch.bincount(ds.targets, minlength=10).min() >= 40  # every class present
        assert load_dataset("cifar10-sample", n=20).indices.tolist() == list(range(20))

    def test_cifar10_sample_pixels_are_pinned(self) -> None:
        # SHA-256 of the decoded uint8 (600, 3, 32, 32) tensor; equal to the official lossless
        # test images (checked against the source by test_cifar10_sample_equals_lossless_source).
        images = load_dataset("cifar10-sample").images
        digest = hashlib.sha256(images.contiguous().numpy().tobytes()).hexdigest()
        assert digest == "514362fc2da3e701298b89c3277c83df0917aac942cb3ea00bcdb986235773cb"

    def test_imagenet_sample(self) -> None:
        ds = load_dataset("imagenet-sample", split="val")
        assert len(ds) == 32 and len(ds.classes) == 1000
        assert ds.targets.tolist() == [31 * k for k in range(32)]
        assert ds.classes[0] == "tench" and ds.class_ids[0] == "n01440764"
        image, label = ds[5]
        _check_item(image, label, (3, 224, 224))
        assert float(image.std()) > 0.05  # a real photo, not a blank

    def test_total_size_under_2mb(self) -> None:
        sizes = sample_files()
        assert "README.md" in sizes and len([f for f in sizes if f.startswith("imagenet_sample/")]) == 32
        assert sum(sizes.values()) <= 2_000_000
        folder = Path(str(assets_dir()))
        on_disk = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        assert on_disk == sum(sizes.values())

    def test_notice_states_provenance(self) -> None:
        text = (assets_dir() / "README.md").read_text(encoding="utf-8")
        assert "Krizhevsky" in text and "non-commercial" in text

    def test_samples_refuse_root_and_train(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="root: expected None"):
            load_dataset("cifar10-sample", root=tmp_path)
        with pytest.raises(ValueError, match="test images only"):
            load_dataset("imagenet-sample", split="train")

    @pytest.mark.skipif(not CIFAR_NPZ.is_file(), reason="needs ../shared/data (team offline copies)")
    def test_cifar10_sample_equals_lossless_source(self) -> None:
        with np.load(CIFAR_NPZ) as src:
            x, index, y_all = src["x"], src["test_index"], src["y_all"]
        ds = load_dataset("cifar10-sample")
        pos = {int(t): k for k, t in enumerate(index)}
        expected = x[[pos[int(t)] for t in ds.indices]]
        assert torch.equal(ds.images, _as_uint8_chw(expected))
        assert ds.targets.tolist() == y_all[:600].tolist()

    @pytest.mark.skipif(not IMAGENET_TAR.is_file(), reason="needs ../shared/data (team offline copies)")
    def test_imagenet_sample_matches_source(self, tmp_path: Path) -> None:
        ds = load_dataset("imagenet-sample")
        reference = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
        wanted = {f"imagenet-samples/{ds.class_ids[t]}/" for t in ds.targets.tolist()[:4]}
        with tarfile.open(IMAGENET_TAR) as tar:
            members = [m for m in tar.getmembers() if m.isfile() and any(m.name.startswith(w) for w in wanted)]
            tar.extractall(tmp_path, members=members, filter="data")
        for i in range(4):
            (path,) = (tmp_path / "imagenet-samples" / ds.class_ids[int(ds.targets[i])]).iterdir()
            ref = reference(Image.open(path).convert("RGB"))
            assert float((ds[i][0] - ref).abs().mean()) < 2 / 255  # JPEG q90 re-encoding only
