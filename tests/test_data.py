"""Tests for bandlimit.data: every loader on tiny files made here, the shipped samples, the
tensor helpers, the device-resident dataset and the decode-once tensor cache."""

from __future__ import annotations

import datetime
import hashlib
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import transforms as T

from bandlimit.data import (
    CIFAR10_CLASSES,
    FolderImageDataset,
    GPUTensorDataset,
    TensorImageDataset,
    decode_all,
    imagenet_classes,
    iterate_batches,
    list_datasets,
    load_dataset,
    load_tensor_dataset,
    load_to_device,
    sample_files,
    to_tensors,
)
from bandlimit.data import cache as cache_module
from bandlimit.data.samples import assets_dir

SHARED = Path(__file__).resolve().parents[2] / "shared"
CIFAR_NPZ = SHARED / "data" / "cifar10" / "test_lossless_1028.npz"
IMAGENET_TAR = SHARED / "data" / "imagenet" / "imagenet_samples_256.tar.gz"


def _rand_images(n: int, h: int, w: int, seed: int = 0, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, h, w, channels), dtype=np.uint8)


def _write_folder(root: Path, per_class: dict[str, np.ndarray], suffix: str = ".png") -> None:
    for cls, images in per_class.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for k, img in enumerate(images):
            Image.fromarray(img).save(root / cls / f"{k:04d}{suffix}")


def _check_item(image: torch.Tensor, label: int, shape: tuple[int, ...]) -> None:
    assert image.dtype == torch.float32
    assert tuple(image.shape) == shape
    assert 0.0 <= float(image.min()) and float(image.max()) <= 1.0
    assert isinstance(label, int)


def _as_uint8_chw(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).permute(0, 3, 1, 2)


# ----------------------------------------------------------------------------------------------
# folder:PATH
# ----------------------------------------------------------------------------------------------


class TestFolder:
    def test_png_folder_exact_pixels_labels_and_class_order(self, tmp_path: Path) -> None:
        zebra, ant = _rand_images(2, 8, 6, seed=1), _rand_images(3, 8, 6, seed=2)
        _write_folder(tmp_path, {"zebra": zebra, "ant": ant})
        ds = load_dataset(f"folder:{tmp_path}")
        assert isinstance(ds, FolderImageDataset)
        assert ds.classes == ["ant", "zebra"]  # sorted, like torchvision's ImageFolder
        assert len(ds) == 5 and ds.indices is None
        expected = np.concatenate([ant, zebra])
        for i in range(5):
            image, label = ds[i]
            _check_item(image, label, (3, 8, 6))
            assert label == (0 if i < 3 else 1)
            torch.testing.assert_close(image, _as_uint8_chw(expected[i : i + 1])[0].float() / 255, rtol=0, atol=0)

    def test_jpeg_decoding_matches_pil(self, tmp_path: Path) -> None:
        _write_folder(tmp_path, {"a": _rand_images(2, 16, 16, seed=3)}, suffix=".jpg")
        ds = load_dataset(f"folder:{tmp_path}")
        for i, (path, _) in enumerate(ds.samples):
            ref = np.asarray(Image.open(path).convert("RGB"))
            assert torch.equal(ds.read_uint8(i), torch.from_numpy(ref.copy()).permute(2, 0, 1))

    def test_grey_png_becomes_rgb(self, tmp_path: Path) -> None:
        _write_folder(tmp_path, {"a": _rand_images(1, 5, 7, channels=1)[..., 0]})
        image, _ = load_dataset(f"folder:{tmp_path}")[0]
        assert image.shape == (3, 5, 7)
        assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])

    def test_split_subfolders(self, tmp_path: Path) -> None:
        _write_folder(tmp_path / "train", {"a": _rand_images(3, 4, 4), "b": _rand_images(2, 4, 4)})
        _write_folder(tmp_path / "test", {"a": _rand_images(1, 4, 4), "b": _rand_images(1, 4, 4)})
        assert len(load_dataset(f"folder:{tmp_path}", split="train")) == 5
        assert len(load_dataset(f"folder:{tmp_path}")) == 2
        assert len(load_dataset(f"folder:{tmp_path}", split="val")) == 2  # val falls back to test

    def test_missing_split_folder(self, tmp_path: Path) -> None:
        _write_folder(tmp_path / "train", {"a": _rand_images(1, 4, 4)})
        with pytest.raises(ValueError, match=r"expected one of \['train'\].*got 'test'"):
            load_dataset(f"folder:{tmp_path}", split="test")

    def test_n_is_round_robin_over_classes(self, tmp_path: Path) -> None:
        _write_folder(tmp_path, {"a": _rand_images(3, 4, 4), "b": _rand_images(3, 4, 4)})
        ds = load_dataset(f"folder:{tmp_path}", n=4)
        assert [label for _, label in ds.samples] == [0, 1, 0, 1]
        assert [Path(p).name for p, _ in ds.samples] == ["0000.png", "0000.png", "0001.png", "0001.png"]

    def test_transform_is_applied_to_float_image(self, tmp_path: Path) -> None:
        _write_folder(tmp_path, {"a": _rand_images(1, 4, 6)})
        plain = load_dataset(f"folder:{tmp_path}")[0][0]
        flipped = load_dataset(f"folder:{tmp_path}", transform=lambda x: x.flip(-1))[0][0]
        assert torch.equal(flipped, plain.flip(-1))

    def test_missing_and_empty_folders(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match="nowhere"):
            load_dataset(f"folder:{tmp_path / 'nowhere'}")
        (tmp_path / "empty" / "cls").mkdir(parents=True)
        with pytest.raises(FileNotFoundError, match="expected ImageFolder layout"):
            load_dataset(f"folder:{tmp_path / 'empty'}")


# ----------------------------------------------------------------------------------------------
# npz:PATH
# ----------------------------------------------------------------------------------------------


class TestNpz:
    def test_round_trip_with_indices_and_classes(self, tmp_path: Path) -> None:
        x = _rand_images(6, 5, 4, seed=4)
        y = np.array([2, 0, 1, 2, 0, 1], dtype=np.uint8)
        path = tmp_path / "d.npz"
        np.savez(path, x=x, y=y, test_index=np.array([9, 3, 4, 5, 7, 8]), classes=np.array(["p", "q", "r"]))
        ds = load_dataset(f"npz:{path}")
        assert isinstance(ds, TensorImageDataset)
        assert ds.classes == ["p", "q", "r"]
        assert ds.indices.tolist() == [9, 3, 4, 5, 7, 8]
        image, label = ds[1]
        _check_item(image, label, (3, 5, 4))
        assert label == 0
        xs, ys = to_tensors(ds)
        assert torch.equal(xs, _as_uint8_chw(x).float() / 255)
        assert ys.tolist() == y.tolist() and ys.dtype == torch.int64
        assert load_dataset(f"npz:{path}", n=2).indices.tolist() == [9, 3]

    def test_classes_default_to_label_numbers(self, tmp_path: Path) -> None:
        np.savez(tmp_path / "d.npz", x=_rand_images(2, 3, 3), y=np.array([0, 3]))
        ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
        assert ds.classes == ["0", "1", "2", "3"] and ds.indices is None

    def test_missing_arrays(self, tmp_path: Path) -> None:
        np.savez(tmp_path / "d.npz", images=_rand_images(2, 3, 3), y=np.array([0, 1]))
        with pytest.raises(ValueError, match=r"missing \['x'\]"):
            load_dataset(f"npz:{tmp_path / 'd.npz'}")

    def test_float_images_rejected(self, tmp_path: Path) -> None:
        np.savez(tmp_path / "d.npz", x=np.zeros((2, 3, 3, 3), np.float32), y=np.array([0, 1]))
        with pytest.raises(TypeError, match=r"dtype uint8, got float32.*astype\(np.uint8\)"):
            load_dataset(f"npz:{tmp_path / 'd.npz'}")

    @pytest.mark.parametrize("shape", [(2, 3, 3), (2, 3, 3, 4), (2, 3, 3, 3, 1)])
    def test_bad_image_shape(self, tmp_path: Path, shape: tuple[int, ...]) -> None:
        np.savez(tmp_path / "d.npz", x=np.zeros(shape, np.uint8), y=np.array([0, 1]))
        with pytest.raises(ValueError, match=r"expected 'x' of shape \(N, H, W, C\)"):
            load_dataset(f"npz:{tmp_path / 'd.npz'}")

    def test_bad_labels(self, tmp_path: Path) -> None:
        np.savez(tmp_path / "d.npz", x=_rand_images(3, 3, 3), y=np.array([0.0, 1.0, 1.0]))
        with pytest.raises(ValueError, match=r"expected 'y' integer labels of shape \(3,\)"):
            load_dataset(f"npz:{tmp_path / 'd.npz'}")
        np.savez(tmp_path / "e.npz", x=_rand_images(3, 3, 3), y=np.array([0, 1]))
        with pytest.raises(ValueError, match=r"shape \(3,\)"):
            load_dataset(f"npz:{tmp_path / 'e.npz'}")

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"nope\.npz"):
            load_dataset(f"npz:{tmp_path / 'nope.npz'}")


# ----------------------------------------------------------------------------------------------
# cifar10 (torchvision's cifar-10-batches-py)
# ----------------------------------------------------------------------------------------------


def _make_fake_cifar(root: Path, per_batch: int = 2, test: int = 3) -> dict[str, np.ndarray]:
    """A cifar-10-batches-py folder in the real format: pickled dicts, data uint8 (N, 3072).

    The training batches use bytes keys (what the original Python-2 pickles show when read with
    encoding="bytes"); the test batch uses str keys (what they show with encoding="latin1",
    which torchvision uses), so both spellings are exercised.
    """
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(5)
    made = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = test if name == "test_batch" else per_batch
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).tolist()
        entry = {"batch_label": name, "labels": labels, "data": data, "filenames": [f"{k}.png" for k in range(n)]}
        if name != "test_batch":
            entry = {k.encode(): v for k, v in entry.items()}
        with (folder / name).open("wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        made[name] = data
        made[name + "_labels"] = np.array(labels)
    meta = {"label_names": list(CIFAR10_CLASSES), "num_cases_per_batch": per_batch, "num_vis": 3072}
    with (folder / "batches.meta").open("wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    return made


class TestCifar10:
    def test_test_split_matches_torchvision(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        made = _make_fake_cifar(tmp_path)
        ds = load_dataset("cifar10", root=tmp_path)
        assert len(ds) == 3 and ds.classes == list(CIFAR10_CLASSES)
        assert ds.indices.tolist() == [0, 1, 2]
        assert ds.targets.tolist() == made["test_batch_labels"].tolist()
        # Independent reader: torchvision's own CIFAR10 class (skipping its md5 check).
        monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
        monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
        ref = torchvision.datasets.CIFAR10(str(tmp_path), train=False, download=False, transform=T.ToTensor())
        for i in range(3):
            image, label = ds[i]
            _check_item(image, label, (3, 32, 32))
            ref_image, ref_label = ref[i]
            assert torch.equal(image, ref_image) and label == ref_label

    def test_train_split_concatenates_batches(self, tmp_path: Path) -> None:
        made = _make_fake_cifar(tmp_path)
        ds = load_dataset("cifar10", root=tmp_path, split="train")
        assert len(ds) == 10 and ds.indices.tolist() == list(range(10))
        raw = np.concatenate([made[f"data_batch_{i}"] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
        assert torch.equal(ds.images, torch.from_numpy(raw))

    def test_root_may_be_the_batches_folder(self, tmp_path: Path) -> None:
        _make_fake_cifar(tmp_path)
        assert len(load_dataset("cifar10", root=tmp_path / "cifar-10-batches-py")) == 3

    def test_missing_data_names_folder_and_fix(self, tmp_path: Path) -> None:
        expected = str(tmp_path / "cifar-10-batches-py")
        with pytest.raises(FileNotFoundError, match=r"(?s)" + expected.replace("/", ".") + r".*download=True"):
            load_dataset("cifar10", root=tmp_path)

    def test_default_root_from_environment(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BANDLIMIT_DATA", str(tmp_path / "env-root"))
        with pytest.raises(FileNotFoundError, match="env-root"):
            load_dataset("cifar10")
        _make_fake_cifar(tmp_path / "env-root")
        assert len(load_dataset("cifar10")) == 3

    def test_val_split_rejected(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="expected 'train' or 'test' for cifar10"):
            load_dataset("cifar10", root=tmp_path, split="val")

    def test_pickle_with_foreign_objects_refused(self, tmp_path: Path) -> None:
        _make_fake_cifar(tmp_path)
        entry = {"data": np.zeros((1, 3072), np.uint8), "labels": [0], "when": datetime.date(2020, 1, 1)}
        with (tmp_path / "cifar-10-batches-py" / "test_batch").open("wb") as fh:
            pickle.dump(entry, fh, protocol=2)
        with pytest.raises(pickle.UnpicklingError, match=r"refusing to load datetime\.date"):
            load_dataset("cifar10", root=tmp_path)


# ----------------------------------------------------------------------------------------------
# imagenet
# ----------------------------------------------------------------------------------------------


def _make_fake_imagenet(root: Path) -> None:
    rng = np.random.default_rng(6)
    files = {"n01443537": [3, 1], "n15075141": [2], "n01440764": [5]}  # standard labels 1, 999, 0
    for wnid, numbers in files.items():
        (root / wnid).mkdir(parents=True)
        for k in numbers:
            img = rng.integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / wnid / f"ILSVRC2012_val_{k:08d}.JPEG", quality=95)


class TestImagenet:
    def test_standard_preprocessing_labels_and_indices(self, tmp_path: Path) -> None:
        _make_fake_imagenet(tmp_path / "val")
        ds = load_dataset("imagenet", root=tmp_path)  # split "test" means the validation set
        wnids, names = imagenet_classes()
        assert ds.classes == list(names) and ds.class_ids == list(wnids) and len(ds.classes) == 1000
        assert ds.targets == [0, 1, 1, 999]
        assert ds.indices.tolist() == [4, 0, 2, 1]  # 0-based from ILSVRC2012_val_0000000k
        reference = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
        for i in range(len(ds)):
            image, label = ds[i]
            _check_item(image, label, (3, 224, 224))
            assert torch.equal(image, reference(Image.open(ds.samples[i][0]).convert("RGB")))

    def test_n_takes_first_official_indices(self, tmp_path: Path) -> None:
        _make_fake_imagenet(tmp_path / "val")
        ds = load_dataset("imagenet", root=tmp_path, split="val", n=2)
        assert sorted(ds.indices.tolist()) == [0, 1]

    def test_root_may_be_the_wnid_folder(self, tmp_path: Path) -> None:
        _make_fake_imagenet(tmp_path)
        assert len(load_dataset("imagenet", root=tmp_path)) == 4

    def test_unknown_class_folder(self, tmp_path: Path) -> None:
        _make_fake_imagenet(tmp_path / "val")
        _write_folder(tmp_path / "val", {"n99999999": _rand_images(1, 4, 4)})
        with pytest.raises(ValueError, match=r"wnid folders.*n99999999.*folder:"):
            load_dataset("imagenet", root=tmp_path)

    def test_missing_and_download(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError, match=r"(?s)val.*image-net.org"):
            load_dataset("imagenet", root=tmp_path)
        with pytest.raises(ValueError, match="cannot be downloaded"):
            load_dataset("imagenet", root=tmp_path, download=True)


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


# ----------------------------------------------------------------------------------------------
# name / argument validation
# ----------------------------------------------------------------------------------------------


class TestValidation:
    def test_unknown_name_lists_known(self) -> None:
        with pytest.raises(ValueError, match=r"expected one of .*cifar10-sample.*npz:PATH.*got 'mnist'"):
            load_dataset("mnist")
        assert "imagenet-sample" in list_datasets() and "folder:PATH" in list_datasets()

    def test_existing_path_hint(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=f"folder:{tmp_path}"):
            load_dataset(str(tmp_path))

    def test_bad_split(self) -> None:
        with pytest.raises(ValueError, match=r"split: expected one of \['test', 'train', 'val'\], got 'dev'"):
            load_dataset("cifar10-sample", split="dev")

    def test_bad_n_and_transform(self) -> None:
        with pytest.raises(ValueError, match="n: expected at most 600"):
            load_dataset("cifar10-sample", n=601)
        with pytest.raises(ValueError, match="n: expected an integer >= 1"):
            load_dataset("cifar10-sample", n=0)
        with pytest.raises(TypeError, match="transform: expected a callable"):
            load_dataset("cifar10-sample", transform="flip")

    def test_prefix_arguments(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="expected a path after 'folder:'"):
            load_dataset("folder:")
        with pytest.raises(ValueError, match="root: expected None with npz:PATH"):
            load_dataset("npz:x.npz", root=tmp_path)
        with pytest.raises(TypeError, match="expected a dataset name string"):
            load_dataset(Path("x"))


# ----------------------------------------------------------------------------------------------
# to_tensors / iterate_batches
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def npz_dataset(tmp_path: Path) -> TensorImageDataset:
    np.savez(tmp_path / "d.npz", x=_rand_images(10, 4, 4, seed=7), y=np.arange(10) % 3)
    return load_dataset(f"npz:{tmp_path / 'd.npz'}")


class TestTensorHelpers:
    def test_to_tensors_dataset_equals_items(self, npz_dataset: TensorImageDataset) -> None:
        x, y = to_tensors(npz_dataset)
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and x.shape == (10, 3, 4, 4)
        for i in (0, 9):
            assert torch.equal(x[i], npz_dataset[i][0]) and int(y[i]) == npz_dataset[i][1]
        x3, y3 = to_tensors(npz_dataset, n=3)
        assert torch.equal(x3, x[:3]) and torch.equal(y3, y[:3])

    def test_to_tensors_other_inputs_agree(self, npz_dataset: TensorImageDataset, tmp_path: Path) -> None:
        x, y = to_tensors(npz_dataset)
        loader = DataLoader(npz_dataset, batch_size=4)
        for data in (loader, (x, y), npz_dataset.tensors()):
            xs, ys = to_tensors(data, n=7)
            assert torch.equal(xs, x[:7]) and torch.equal(ys, y[:7])
        npz_dataset.transform = lambda im: 1 - im  # per-item path (no bulk slicing)
        assert torch.equal(to_tensors(npz_dataset)[0], 1 - x)

    def test_to_tensors_errors(self, npz_dataset: TensorImageDataset) -> None:
        with pytest.raises(ValueError, match="n: expected at most 10"):
            to_tensors(npz_dataset, n=11)
        with pytest.raises(ValueError, match=r"expected values in \[0, 1\]"):
            to_tensors((torch.full((2, 3, 4, 4), 2.0), torch.zeros(2, dtype=torch.long)))
        with pytest.raises(ValueError, match=r"y: expected shape \(2,\)"):
            to_tensors((torch.zeros(2, 3, 4, 4), torch.zeros(3, dtype=torch.long)))

    @pytest.mark.parametrize("kind", ["dataset", "folder", "loader", "pair"])
    def test_iterate_batches(self, kind: str, npz_dataset: TensorImageDataset, tmp_path: Path) -> None:
        x, y = to_tensors(npz_dataset)
        if kind == "folder":
            _write_folder(tmp_path / "f", {"a": (x[:10].permute(0, 2, 3, 1) * 255).round().byte().numpy()})
            data, y = load_dataset(f"folder:{tmp_path / 'f'}"), torch.zeros(10, dtype=torch.long)
        else:
            data = {"dataset": npz_dataset, "loader": DataLoader(npz_dataset, batch_size=8), "pair": (x, y)}[kind]
        batches = list(iterate_batches(data, 4, device="cpu"))
        # A DataLoader's batches of 8 are split to at most 4: 4, 4 then the last 2.
        assert [b[0].shape[0] for b in batches] == [4, 4, 2]
        assert torch.equal(torch.cat([b[0] for b in batches]), x)
        assert torch.equal(torch.cat([b[1] for b in batches]), y)
        assert all(b[0].dtype == torch.float32 and b[1].dtype == torch.int64 for b in batches)

    def test_iterate_batches_errors(self, npz_dataset: TensorImageDataset) -> None:
        with pytest.raises(TypeError, match="expected a Dataset, a DataLoader or an"):
            list(iterate_batches([1, 2, 3], 2))
        with pytest.raises(ValueError, match="batch_size: expected an integer >= 1"):
            list(iterate_batches(npz_dataset, 0))


# ----------------------------------------------------------------------------------------------
# GPUTensorDataset / load_to_device
# ----------------------------------------------------------------------------------------------


class TestDeviceDataset:
    def test_uint8_storage_and_float_batches(self, npz_dataset: TensorImageDataset, device: torch.device) -> None:
        gd = load_to_device(npz_dataset, device)
        assert gd.images.dtype == torch.uint8 and gd.images.device.type == device.type
        assert gd.classes == npz_dataset.classes
        x, y = to_tensors(npz_dataset)
        xb, yb = gd.batch(slice(2, 5))
        assert torch.equal(xb.cpu(), x[2:5]) and torch.equal(yb.cpu(), y[2:5])
        assert torch.equal(torch.cat([b[0] for b in gd.batches(4)]).cpu(), x)

    def test_shuffle_is_seeded_permutation(self, npz_dataset: TensorImageDataset) -> None:
        gd = load_to_device(npz_dataset, "cpu")

        def epoch(seed: int) -> list[int]:
            gen = torch.Generator().manual_seed(seed)
            return torch.cat([b[1] for b in gd.batches(3, shuffle=True, generator=gen)]).tolist()

        x_all, _ = to_tensors(npz_dataset)
        gen = torch.Generator().manual_seed(0)
        xs = torch.cat([b[0] for b in gd.batches(3, shuffle=True, generator=gen)])
        order = torch.randperm(10, generator=torch.Generator().manual_seed(0))
        assert torch.equal(xs, x_all[order])
        assert epoch(0) == epoch(0)
        assert sorted(epoch(1)) == sorted(gd.targets.tolist())
        assert [b[0].shape[0] for b in gd.batches(4, drop_last=True)] == [4, 4]

    def test_half_precision_channels_last(self, npz_dataset: TensorImageDataset) -> None:
        gd = load_to_device(npz_dataset, "cpu", dtype=torch.float16, channels_last=True)
        assert gd.images.is_contiguous(memory_format=torch.channels_last)
        xb, _ = gd.batch(torch.tensor([0, 1]))
        assert xb.dtype == torch.float16
        torch.testing.assert_close(xb.float(), to_tensors(npz_dataset, n=2)[0], atol=1e-3, rtol=0)

    def test_other_inputs(self, tmp_path: Path) -> None:
        x = torch.rand(4, 3, 2, 2)
        gd = load_to_device((x, torch.arange(4)), "cpu")
        assert gd.images.dtype == torch.float32 and torch.equal(gd.batch(slice(None))[0], x)
        np.savez(tmp_path / "d.npz", x=_rand_images(3, 2, 2), y=np.arange(3))
        assert len(load_to_device(f"npz:{tmp_path / 'd.npz'}", "cpu")) == 3

    def test_errors(self, npz_dataset: TensorImageDataset) -> None:
        npz_dataset.transform = lambda im: im
        with pytest.raises(ValueError, match="without a per-item transform"):
            load_to_device(npz_dataset, "cpu")
        with pytest.raises(TypeError, match="expected a floating dtype"):
            GPUTensorDataset(
                torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1, dtype=torch.long), dtype=torch.int32
            )
        with pytest.raises(TypeError, match="expected integer labels"):
            GPUTensorDataset(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.zeros(1))
        with pytest.raises(TypeError, match="expected a dataset name"):
            load_to_device(42, "cpu")

    @pytest.mark.gpu
    def test_on_cuda(self) -> None:
        gd = load_to_device(load_dataset("cifar10-sample"), "cuda")
        xb, yb = gd.batch(torch.arange(8, device="cuda"))
        assert gd.images.is_cuda and gd.images.dtype == torch.uint8 and xb.is_cuda and yb.is_cuda
        assert torch.equal(xb.cpu(), to_tensors(load_dataset("cifar10-sample"), n=8)[0])


# ----------------------------------------------------------------------------------------------
# decode-once tensor cache
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def jpeg_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    _write_folder(root / "train", {"a": _rand_images(5, 8, 8, seed=8), "b": _rand_images(4, 8, 8, seed=9)}, ".jpg")
    _write_folder(root / "test", {"a": _rand_images(2, 8, 8, seed=10), "b": _rand_images(2, 8, 8, seed=11)}, ".jpg")
    return root


class TestTensorCache:
    def test_round_trip_is_bit_identical(
        self, jpeg_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        cache = tmp_path / "cache"
        first = load_tensor_dataset(f"folder:{jpeg_tree}", split="train", cache_dir=cache)
        files = list(cache.iterdir())
        assert len(files) == 1 and files[0].name.startswith("tree-train-") and files[0].suffix == ".pt"
        direct = load_dataset(f"folder:{jpeg_tree}", split="train")
        assert torch.equal(first.images, torch.stack([direct.read_uint8(i) for i in range(len(direct))]))

        def boom(*args: object, **kwargs: object) -> None:
            raise AssertionError("decoded again instead of using the cache")

        monkeypatch.setattr(cache_module, "decode_all", boom)
        second = load_tensor_dataset(f"folder:{jpeg_tree}", split="train", cache_dir=cache)
        assert torch.equal(second.images, first.images) and second.images.dtype == torch.uint8
        assert torch.equal(second.targets, first.targets) and second.classes == first.classes == ["a", "b"]

    def test_changes_invalidate(self, jpeg_tree: Path, tmp_path: Path) -> None:
        cache = tmp_path / "cache"
        load_tensor_dataset(f"folder:{jpeg_tree}", split="train", cache_dir=cache)
        load_tensor_dataset(f"folder:{jpeg_tree}", split="test", cache_dir=cache)
        assert len(list(cache.iterdir())) == 2  # split is part of the key
        target = jpeg_tree / "train" / "a" / "0000.jpg"
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(target)
        stat = target.stat()
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        fresh = load_tensor_dataset(f"folder:{jpeg_tree}", split="train", cache_dir=cache)
        assert int(fresh.images[0].max()) <= 8  # the new, black image (JPEG may wobble a little)
        assert not list(cache.glob("*.tmp"))

    def test_corrupt_cache_is_rebuilt(self, jpeg_tree: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        cache = tmp_path / "cache"
        good = load_tensor_dataset(f"folder:{jpeg_tree}", split="test", cache_dir=cache)
        (path,) = cache.iterdir()
        path.write_bytes(b"not a torch file")
        again = load_tensor_dataset(f"folder:{jpeg_tree}", split="test", cache_dir=cache)
        assert torch.equal(again.images, good.images)
        assert "unreadable tensor cache" in caplog.text

    def test_workers_give_same_tensor(self, jpeg_tree: Path) -> None:
        ds = load_dataset(f"folder:{jpeg_tree}", split="train")
        x0, y0 = decode_all(ds, num_workers=0, batch_size=4)
        x2, y2 = decode_all(ds, num_workers=2, batch_size=4)
        assert torch.equal(x0, x2) and torch.equal(y0, y2) and y0.tolist() == [0] * 5 + [1] * 4

    def test_mixed_sizes_rejected(self, tmp_path: Path) -> None:
        _write_folder(tmp_path / "f", {"a": _rand_images(1, 8, 8), "b": _rand_images(1, 6, 8)})
        with pytest.raises(ValueError, match=r"expected every image to be \(3, 8, 8\).*got \(3, 6, 8\)"):
            load_tensor_dataset(f"folder:{tmp_path / 'f'}", cache_dir=tmp_path / "cache")

    def test_array_datasets_need_no_cache(self, tmp_path: Path) -> None:
        ds = load_tensor_dataset("cifar10-sample", split="test", cache_dir=tmp_path / "cache")
        assert isinstance(ds, TensorImageDataset) and len(ds) == 600
        assert not (tmp_path / "cache").exists()
