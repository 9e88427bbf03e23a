"""``load_dataset``: one entry point for CIFAR-10, ImageNet, image folders, npz files and samples.

Every dataset yields ``(image, label)``: ``image`` a float32 ``(C, H, W)`` tensor in [0, 1]
(un-normalised), ``label`` an ``int``; it has ``classes`` and ``indices`` (official index of
each sample, or ``None``). Nothing is downloaded unless ``download=True`` is passed.

Names:
    ``cifar10``          torchvision's ``cifar-10-batches-py`` under ``root``
    ``imagenet``         an ImageNet ``val/<wnid>/*`` folder (resize 256, centre crop 224)
    ``folder:PATH``      any ImageFolder (``PATH/<class>/<image>``, or ``PATH/{train,test}/...``)
    ``npz:PATH``         arrays ``x`` (uint8 NHWC) and ``y``; optional ``test_index``, ``classes``
    ``cifar10-sample``   600 lossless CIFAR-10 test images shipped with the package
    ``imagenet-sample``  32 ImageNet images shipped with the package (pre-cropped to 224)
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable
from pathlib import Path

from bandlimit._checks import check_bool, check_choice, check_positive_int
from bandlimit.data.base import (
    IMAGE_EXTENSIONS,
    FolderImageDataset,
    TensorImageDataset,
    Transform,
    imagenet_eval_transform,
)
from bandlimit.data.cifar import CIFAR10_CLASSES, CIFAR10_URL, default_data_root, load_cifar10
from bandlimit.data.npz import load_npz
from bandlimit.data.samples import imagenet_classes, load_cifar10_sample, load_imagenet_sample

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_URL",
    "SPLITS",
    "default_data_root",
    "list_datasets",
    "load_dataset",
    "resolve_source",
]

#: Splits a name may ask for. ImageNet's test labels are not public, so there "test" = "val".
SPLITS = ("train", "test", "val")

_WNID = re.compile(r"n\d{8}")

AnyDataset = TensorImageDataset | FolderImageDataset


# --------------------------------------------------------------------------------------------
# Image folders and ImageNet
# --------------------------------------------------------------------------------------------


def _scan_classes(directory: Path) -> list[tuple[str, list[str]]]:
    """Sorted ``(class folder, sorted image files)`` pairs; files found recursively."""
    found = []
    for entry in sorted(p for p in directory.iterdir() if p.is_dir()):
        files = []
        for dirpath, _, names in os.walk(entry, followlinks=True):
            files.extend(os.path.join(dirpath, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS))
        found.append((entry.name, sorted(files)))
    return found


def _split_folder(path: Path, split: str) -> Path:
    """Pick ``path/<split>`` when ``path`` holds split folders, else ``path`` itself."""
    present = [s for s in SPLITS if (path / s).is_dir()]
    if not present:
        return path
    # "test" and "val" stand in for each other: ImageNet calls its held-out set "val".
    for candidate in (split, {"test": "val", "val": "test"}.get(split)):
        if candidate in present:
            return path / candidate
    raise ValueError(f"split: expected one of {present} (the split folders in {path}), got {split!r}")


def _load_folder(path: Path, split: str) -> FolderImageDataset:
    if not path.is_dir():
        raise FileNotFoundError(f"image folder not found: expected a directory at {path}")
    directory = _split_folder(path, split)
    scanned = [(name, files) for name, files in _scan_classes(directory) if files]
    if not scanned:
        raise FileNotFoundError(
            f"no images found in {directory}: expected ImageFolder layout "
            f"{directory}/<class>/<image> with suffixes {', '.join(IMAGE_EXTENSIONS)}"
        )
    classes = [name for name, _ in scanned]
    samples = [(f, label) for label, (_, files) in enumerate(scanned) for f in files]
    return FolderImageDataset(samples, classes, root=directory)


def _load_imagenet(root: Path | None, split: str) -> FolderImageDataset:
    root = (default_data_root() / "imagenet") if root is None else root
    split = "val" if split == "test" else split
    directory = root / split
    if not directory.is_dir():
        # Accept root pointing straight at the split folder (its children are wnid folders).
        has_wnids = root.is_dir() and any(_WNID.fullmatch(p.name) for p in root.iterdir())
        if not has_wnids:
            raise FileNotFoundError(
                f"ImageNet {split} images not found: expected {directory}/<wnid>/<image> "
                f"(or {root}/<wnid>/<image>). ImageNet cannot be downloaded automatically: get "
                "ILSVRC2012 from https://image-net.org, arrange the validation set by class "
                "(one folder per wnid) and pass its parent as root."
            )
        directory = root
    wnids, names = imagenet_classes()
    index = {w: i for i, w in enumerate(wnids)}
    scanned = [(w, files) for w, files in _scan_classes(directory) if files]
    unknown = [w for w, _ in scanned if w not in index]
    if unknown:
        raise ValueError(
            f"expected ImageNet-1k wnid folders (e.g. n01440764) in {directory}, got "
            f"{unknown[:5]}; for other class folders use load_dataset('folder:{directory}')"
        )
    if not scanned:
        raise FileNotFoundError(f"no images found under {directory}/<wnid>/")
    # Labels are the standard 0..999 indices even when only some classes are present.
    samples = [(f, index[w]) for w, files in scanned for f in files]
    return FolderImageDataset(samples, names, class_ids=wnids, decode=imagenet_eval_transform, root=directory)


# --------------------------------------------------------------------------------------------
# Registry and entry point
# --------------------------------------------------------------------------------------------


def _no_root(name: str, root: Path | None) -> None:
    if root is not None:
        raise ValueError(f"root: expected None for {name!r} (it ships with bandlimit), got {root}")


def _sample_split(name: str, split: str) -> None:
    if split == "train":
        raise ValueError(f"split: expected 'test' for {name!r} (test images only), got 'train'")


def _cifar10_sample(root: Path | None, split: str, download: bool) -> AnyDataset:
    del download
    _no_root("cifar10-sample", root)
    _sample_split("cifar10-sample", split)
    return load_cifar10_sample()


def _imagenet_sample(root: Path | None, split: str, download: bool) -> AnyDataset:
    del download
    _no_root("imagenet-sample", root)
    _sample_split("imagenet-sample", split)
    return load_imagenet_sample()


def _imagenet(root: Path | None, split: str, download: bool) -> AnyDataset:
    if download:
        raise ValueError(
            "download: ImageNet cannot be downloaded automatically (its licence needs a login at "
            "https://image-net.org); pass download=False and root=<folder with val/>"
        )
    return _load_imagenet(root, split)


# Plain names -> loader(root, split, download). Prefixed names are handled in resolve_source.
_LOADERS: dict[str, Callable[[Path | None, str, bool], AnyDataset]] = {
    "cifar10": load_cifar10,
    "imagenet": _imagenet,
    "cifar10-sample": _cifar10_sample,
    "imagenet-sample": _imagenet_sample,
}
_PREFIXES: dict[str, Callable[[Path, str], AnyDataset]] = {"folder": _load_folder, "npz": load_npz}


def list_datasets() -> list[str]:
    """Dataset names ``load_dataset`` accepts (prefixed forms shown as ``folder:PATH``)."""
    return sorted(_LOADERS) + [f"{p}:PATH" for p in _PREFIXES]


def resolve_source(name: str, root: str | os.PathLike[str] | None = None) -> tuple[str, Path | None]:
    """Split a dataset name into its kind and path: ``("folder", Path)``, ``("cifar10", root)``.

    Raises:
        TypeError: ``name`` is not a string.
        ValueError: unknown name (the message lists the known ones).
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name string, got {type(name).__name__}")
    root_path = None if root is None else Path(root).expanduser()
    kind, sep, rest = name.partition(":")
    if sep and kind in _PREFIXES:
        if not rest:
            raise ValueError(f"name: expected a path after '{kind}:', got {name!r}")
        if root_path is not None:
            raise ValueError(f"root: expected None with {kind}:PATH (the path is in the name), got {root}")
        return kind, Path(rest).expanduser()
    if name in _LOADERS:
        return name, root_path
    hint = ""
    if Path(name).expanduser().exists():
        hint = f"; to load this path use 'folder:{name}' or 'npz:{name}'"
    elif close := difflib.get_close_matches(name, list(_LOADERS), n=1):
        hint = f"; did you mean {close[0]!r}?"
    raise ValueError(f"name: expected one of {list_datasets()}, got {name!r}{hint}")


def load_dataset(
    name: str,
    root: str | os.PathLike[str] | None = None,
    split: str = "test",
    *,
    download: bool = False,
    transform: Transform | None = None,
    n: int | None = None,
) -> AnyDataset:
    """Load a dataset of ``(image float32 (C, H, W) in [0, 1], int label)``.

    Args:
        name: ``cifar10``, ``imagenet``, ``folder:PATH``, ``npz:PATH``, ``cifar10-sample`` or
            ``imagenet-sample`` (see the module docstring).
        root: Data folder for ``cifar10`` / ``imagenet``; default ``$BANDLIMIT_DATA`` or
            ``~/.cache/bandlimit/data`` (``imagenet`` looks in ``<default>/imagenet``).
        split: ``"train"``, ``"test"`` or ``"val"``. ImageNet's ``"test"`` means its validation
            set; a folder with ``train/`` and ``test/`` (or ``val/``) subfolders uses the one named.
        download: Fetch CIFAR-10 into ``root`` if it is missing (the only downloadable one).
        transform: Callable applied to each float ``(C, H, W)`` image after decoding (and after
            ImageNet's standard resize 256 / centre crop 224).
        n: Keep ``n`` samples: the first ``n`` in official order where it is known (CIFAR-10,
            npz files in file order, ImageNet validation file names); for other image folders
            ``n`` spread round-robin over the classes.

    Returns:
        A ``TensorImageDataset`` (in-memory uint8) or ``FolderImageDataset`` (decoded per item),
        both with ``classes`` and ``indices``.

    Raises:
        ValueError: unknown name, bad split, bad ``n`` or malformed files.
        FileNotFoundError: the data is not there (the message names the folder and how to get it).
    """
    kind, path = resolve_source(name, root)
    check_choice(split, "split", SPLITS)
    check_bool(download, "download")
    if transform is not None and not callable(transform):
        raise TypeError(f"transform: expected a callable on (C, H, W) tensors, got {transform!r}")
    if n is not None:
        check_positive_int(n, "n")
    if kind in _PREFIXES:
        if download:
            raise ValueError(f"download: expected False for {kind}:PATH (local files), got True")
        dataset = _PREFIXES[kind](path, split)
    else:
        dataset = _LOADERS[kind](path, split, download)
    if n is not None:
        if n > len(dataset):
            raise ValueError(f"n: expected at most {len(dataset)} (the size of {name!r}), got {n}")
        if isinstance(dataset, FolderImageDataset):
            dataset = dataset.subset(dataset.first_n_positions(n))
        else:
            dataset = dataset.subset(range(n))
    dataset.transform = transform
    return dataset
