"""Tests for bandlimit.data's loaders on tiny files made here (folder:PATH, npz:PATH, cifar10, imagenet)
and the validation of dataset names and arguments."""

from __future__ import annotations

import datetime
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from _data_helpers import _as_uint8_chw, _check_item, _rand_images, _write_folder
from PIL import Image
from torchvision import transforms as T

from bandlimit.data import (
    CIFAR10_CLASSES,
    FolderImageDataset,
    TensorImageDataset,
    imagenet_classes,
    list_datasets,
    load_dataset,
    to_tensors,
)

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
