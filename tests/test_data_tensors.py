"""Tests for bandlimit.data's tensor helpers (to_tensors, iterate_batches) and the decode-once tensor cache.

(The whole-dataset-on-the-device path is the training loop's, tested in test_training.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from _data_helpers import _rand_images, _write_folder
from PIL import Image
from torch.utils.data import DataLoader

from bandlimit.data import (
    TensorImageDataset,
    decode_all,
    iterate_batches,
    load_dataset,
    load_tensor_dataset,
    to_tensors,
)
from bandlimit.data import cache as cache_module

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
