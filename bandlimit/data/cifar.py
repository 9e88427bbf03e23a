"""CIFAR-10 from torchvision's ``cifar-10-batches-py`` pickles, read without unpickling code.

:func:`load_cifar10` is what ``load_dataset("cifar10")`` calls; nothing is downloaded unless
``download=True`` is passed (then through torchvision).
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bandlimit.data.base import TensorImageDataset

__all__ = ["CIFAR10_CLASSES", "CIFAR10_URL", "default_data_root", "load_cifar10"]

logger = logging.getLogger(__name__)

CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def default_data_root() -> Path:
    """Where datasets live by default: ``$BANDLIMIT_DATA`` or ``~/.cache/bandlimit/data``."""
    env = os.environ.get("BANDLIMIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "bandlimit" / "data"


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and nothing else.

    The CIFAR-10 batches are pickles; a plain ``pickle.load`` would run whatever code a
    tampered file names, so (like ``torch.load(weights_only=True)``) only the globals a numpy
    array needs are allowed.
    """

    _ALLOWED = frozenset(
        {
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "uint8"),
            # Protocol-2 pickles written by Python 3 store bytes as _codecs.encode(str, "latin1").
            ("_codecs", "encode"),
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a CIFAR-10 batch: expected numpy arrays "
                "only; re-download the data with download=True"
            )
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):
            module = "numpy._core.multiarray"  # numpy 2 renamed it; avoids a deprecation warning
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open("rb") as fh:
        entry = _ArrayUnpickler(fh, encoding="latin1").load()
    # Python-2 pickles decode keys to str with latin1; accept bytes keys too.
    entry = {k.decode() if isinstance(k, bytes) else k: v for k, v in entry.items()}
    labels = entry.get("labels", entry.get("fine_labels"))
    if "data" not in entry or labels is None:
        raise ValueError(f"expected a CIFAR-10 batch with 'data' and 'labels', got keys {sorted(entry)}")
    data = np.asarray(entry["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise ValueError(f"{path}: expected 'data' of shape (N, 3072), got {data.shape}")
    return data.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64)


def _cifar_folder(root: Path) -> Path:
    """``root/cifar-10-batches-py``, or ``root`` itself when it already is that folder."""
    return root if (root / "batches.meta").is_file() else root / _CIFAR_DIR


def load_cifar10(root: Path | None, split: str, download: bool) -> TensorImageDataset:
    """The CIFAR-10 ``split`` ("train" or "test") under ``root`` (default :func:`default_data_root`).

    Raises:
        ValueError: ``split="val"`` or a malformed batch file.
        FileNotFoundError: the batches are missing (the message says how to get them).
    """
    if split == "val":
        raise ValueError("split: expected 'train' or 'test' for cifar10, got 'val'")
    root = default_data_root() if root is None else root
    folder = _cifar_folder(root)
    files = [folder / f for f in _CIFAR_FILES[split]]
    if download and not all(f.is_file() for f in files):
        from torchvision.datasets import CIFAR10  # lazy: only a real download needs it

        logger.info("downloading CIFAR-10 into %s", root)
        CIFAR10(str(root), train=split == "train", download=True)
        folder = _cifar_folder(root)
        files = [folder / f for f in _CIFAR_FILES[split]]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"CIFAR-10 {split} data not found: expected torchvision's layout in {folder} "
            f"(missing {', '.join(missing)}). Get it with\n"
            f'  python -c "from bandlimit.data import load_dataset; '
            f"load_dataset('cifar10', root='{root}', download=True)\"\n"
            f"or fetch {CIFAR10_URL} by hand and unpack it into {root} "
            "(set $BANDLIMIT_DATA to change the default root)."
        )
    parts = [_read_cifar_batch(f) for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    classes = list(CIFAR10_CLASSES)
    meta = folder / "batches.meta"
    if meta.is_file():
        with meta.open("rb") as fh:
            info = _ArrayUnpickler(fh, encoding="latin1").load()
        names = info.get("label_names", info.get(b"label_names"))
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return TensorImageDataset(images, labels, classes, indices=torch.arange(len(labels)))
