"""``npz:PATH`` datasets: arrays ``x`` (uint8 ``N, H, W, C``) and ``y`` (labels), read without pickle.

Every way such a file can be wrong ends in one line that names the fix: not an npz at all
(random bytes, a single ``.npy`` array, an empty file), a truncated or damaged archive, object
arrays (pickled Python objects, never loaded), missing arrays, a wrong dtype or shape, no
images, labels out of range. Optional arrays: ``test_index`` (official index of each image)
and ``classes`` (class names, ``classes[label]``).
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from bandlimit.data.base import TensorImageDataset

__all__ = ["load_npz"]

_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"
_EXPECTED = "arrays 'x' (uint8 images N,H,W,C) and 'y' (integer labels), as numpy.savez(path, x=x, y=y) writes"
_ARRAYS = ("x", "y", "test_index", "classes")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of the file that a dataset uses, read with ``allow_pickle=False``."""
    with path.open("rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if head.startswith(_NPY_MAGIC):
        raise ValueError(f"{path}: holds a single .npy array; expected an npz file with {_EXPECTED}")
    if not head.startswith(_ZIP_MAGIC):
        what = "it is empty" if not head else "it is not a zip archive"
        raise ValueError(f"{path}: not an npz file ({what}); expected {_EXPECTED}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            present = list(arrays.files)
            values = {k: arrays[k] for k in _ARRAYS if k in present}
    except ValueError as exc:
        if "allow_pickle" not in str(exc):
            raise ValueError(f"{path}: the npz file is damaged ({_first_line(exc)}); write it again") from exc
        raise ValueError(
            f"{path}: holds object arrays (pickled Python objects), which bandlimit never loads; "
            "save 'x' as uint8 and 'y' as integers (and 'classes' as strings)"
        ) from exc
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as exc:
        raise ValueError(
            f"{path}: the npz file is truncated or damaged ({type(exc).__name__}: {_first_line(exc)}); "
            "write it again with numpy.savez"
        ) from exc
    missing = [k for k in ("x", "y") if k not in values]
    if missing:
        raise ValueError(f"{path}: expected {_EXPECTED}, missing {missing}; found {present}")
    return values


def _check_labels(path: Path, y: np.ndarray, n: int, classes: list[str] | None) -> None:
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1 or len(y) != n:
        raise ValueError(f"{path}: expected 'y' integer labels of shape ({n},), got {y.dtype} {y.shape}")
    if int(y.min()) < 0:
        first = int(np.argmax(y < 0))
        raise ValueError(f"{path}: expected labels >= 0 in 'y', got {int(y[first])} (sample {first})")
    if classes is not None and int(y.max()) >= len(classes):
        first = int(np.argmax(y >= len(classes)))
        raise ValueError(
            f"{path}: expected labels below {len(classes)} (the number of names in 'classes'), "
            f"got {int(y[first])} (sample {first})"
        )


def load_npz(path: Path, split: str) -> TensorImageDataset:
    """The dataset of the npz file ``path`` (one set of images: ``split`` is not used).

    Raises:
        FileNotFoundError: no such file.
        TypeError: ``x`` is not uint8 (the message shows the conversion).
        ValueError: anything else wrong with the file (see the module docstring).
    """
    del split  # an npz holds one set of images
    if not path.is_file():
        what = "a folder" if path.is_dir() else "nothing"
        raise FileNotFoundError(f"npz file not found: expected a file at {path}, found {what}")
    arrays = _read_arrays(path)
    x, y = arrays["x"], arrays["y"]
    if x.dtype != np.uint8:
        raise TypeError(
            f"{path}: expected 'x' of dtype uint8, got {x.dtype}; convert [0,1] floats with "
            "(x * 255).round().astype(np.uint8)"
        )
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise ValueError(
            f"{path}: expected 'x' of shape (N, H, W, C) with C = 1 or 3, got {x.shape}; "
            "grey images need a channel axis (x[..., None])"
        )
    if len(x) == 0 or 0 in x.shape:
        raise ValueError(f"{path}: holds no images ('x' has shape {x.shape}); expected at least one")
    names = arrays.get("classes")
    classes = [str(c) for c in names.tolist()] if names is not None else None
    _check_labels(path, y, len(x), classes)
    test_index = arrays.get("test_index")
    if test_index is not None and (not np.issubdtype(test_index.dtype, np.integer) or test_index.shape != (len(x),)):
        raise ValueError(
            f"{path}: expected 'test_index' integer indices of shape ({len(x)},), got {test_index.dtype} "
            f"{test_index.shape}"
        )
    if classes is None:
        classes = [str(i) for i in range(int(y.max()) + 1)]
    images = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    indices = None if test_index is None else torch.from_numpy(test_index.astype(np.int64))
    return TensorImageDataset(images, torch.from_numpy(y.astype(np.int64)), classes, indices=indices)
