"""Dataset classes shared by every loader: tensor-backed and folder-backed image datasets.

Both yield ``(image, label)`` with ``image`` a float32 ``(C, H, W)`` tensor in [0, 1]
(un-normalised: normalisation is the model's first layer) and ``label`` a Python ``int``.
Both carry ``classes`` (class names, index = label) and ``indices`` (the official index of
each sample in its source set, or ``None`` where unknown).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

__all__ = [
    "IMAGE_EXTENSIONS",
    "FolderImageDataset",
    "TensorImageDataset",
    "Transform",
    "as_float_images",
    "decode_rgb",
    "imagenet_eval_transform",
]

#: A user transform: takes the float ``(C, H, W)`` image in [0, 1], returns a tensor.
Transform = Callable[[torch.Tensor], torch.Tensor]

#: File suffixes an image folder may hold (lower case).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")

# ImageNet validation files are named ILSVRC2012_val_00000001.JPEG (1-based official order).
_IMAGENET_VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.", re.IGNORECASE)


def decode_rgb(path: str | Path) -> torch.Tensor:
    """Decode an image file to a uint8 RGB tensor ``(3, H, W)`` (grey/alpha/CMYK converted).

    Raises:
        ValueError: the file is not a readable image.
    """
    try:
        with Image.open(path) as img:
            if img.mode != "RGB":
                img = img.convert("RGB")
            # np.array (a writable copy) + permute is ~1.5x faster than pil_to_tensor for small
            # images; PIL rather than torchvision.io, whose decoders are deprecated since 0.29.
            return torch.from_numpy(np.array(img)).permute(2, 0, 1)
    except OSError as err:
        raise ValueError(f"expected a readable image file, got {path} ({err})") from err


def imagenet_eval_transform(path: str | Path, resize: int = 256, crop: int = 224) -> torch.Tensor:
    """The standard ImageNet evaluation pre-processing, as uint8 ``(3, crop, crop)``.

    Shorter side resized to ``resize`` (bilinear with antialiasing, on the PIL image exactly as
    torchvision's reference ``Resize(256)``), then the centre ``crop`` x ``crop`` square.
    """
    # Deferred: importing torchvision costs about a second and only the imagenet loader's
    # pre-processing needs it, so `import bandlimit.data` (and everything that uses CIFAR,
    # npz or plain folders) no longer pays for it.
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img = TF.resize(img, resize, interpolation=InterpolationMode.BILINEAR)
            img = TF.center_crop(img, crop)
            return TF.pil_to_tensor(img)
    except OSError as err:
        raise ValueError(f"expected a readable image file, got {path} ({err})") from err


def as_float_images(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 images (0..255) as ``dtype`` in [0, 1]; floating images are only cast."""
    if x.dtype == torch.uint8:
        return x.to(dtype).div_(255.0)
    return x.to(dtype)


class TensorImageDataset(Dataset):
    """Images held in memory as one uint8 ``(N, C, H, W)`` tensor.

    Indexing converts one image to float [0, 1]; :meth:`tensors` hands back the uint8 storage
    so that bulk consumers (``to_tensors``, ``iterate_batches``, the training loop) convert a
    whole batch at once instead of image by image.

    Attributes:
        images: uint8 tensor ``(N, C, H, W)``.
        targets: int64 tensor ``(N,)``.
        classes: class names, ``classes[label]``.
        indices: int64 tensor ``(N,)`` of official indices in the source set, or ``None``.
        class_ids: dataset-specific class identifiers (ImageNet wnids), or ``None``.
        transform: optional callable applied to each float image in ``__getitem__``.
    """

    def __init__(
        self,
        images: torch.Tensor,
        targets: torch.Tensor,
        classes: Sequence[str],
        *,
        indices: torch.Tensor | None = None,
        class_ids: Sequence[str] | None = None,
        transform: Transform | None = None,
    ) -> None:
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            got = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
            raise TypeError(f"images: expected a uint8 tensor (N, C, H, W), got {got}")
        if images.shape[1] not in (1, 3):
            raise ValueError(
                f"images: expected 1 or 3 channels in dim 1 (N, C, H, W), got shape "
                f"{tuple(images.shape)}; NHWC arrays need .permute(0, 3, 1, 2)"
            )
        targets = torch.as_tensor(targets).to(torch.int64).reshape(-1)
        if targets.shape[0] != images.shape[0]:
            raise ValueError(f"targets: expected {images.shape[0]} labels to match the images, got {targets.shape[0]}")
        if targets.numel() and (int(targets.min()) < 0 or int(targets.max()) >= len(classes)):
            raise ValueError(
                f"targets: expected labels in [0, {len(classes) - 1}] ({len(classes)} classes), "
                f"got values in [{int(targets.min())}, {int(targets.max())}]"
            )
        if indices is not None:
            indices = torch.as_tensor(indices).to(torch.int64).reshape(-1)
            if indices.shape[0] != images.shape[0]:
                raise ValueError(f"indices: expected {images.shape[0]} entries, got {indices.shape[0]}")
        self.images = images
        self.targets = targets
        self.classes = list(classes)
        self.indices = indices
        self.class_ids = None if class_ids is None else list(class_ids)
        self.transform = transform

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = as_float_images(self.images[i])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.targets[i])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the uint8 images ``(N, C, H, W)`` and int64 labels ``(N,)`` (no copy)."""
        return self.images, self.targets

    def subset(self, positions: torch.Tensor | Sequence[int]) -> TensorImageDataset:
        """A new dataset holding the samples at ``positions`` (same classes and transform)."""
        pos = torch.as_tensor(positions, dtype=torch.int64)
        return TensorImageDataset(
            self.images[pos],
            self.targets[pos],
            self.classes,
            indices=None if self.indices is None else self.indices[pos],
            class_ids=self.class_ids,
            transform=self.transform,
        )

    def __repr__(self) -> str:
        shape = "x".join(str(s) for s in self.images.shape[1:])
        return f"TensorImageDataset({len(self)} images {shape}, {len(self.classes)} classes)"


class FolderImageDataset(Dataset):
    """Images decoded from files on demand (an ImageFolder-style list of ``(path, label)``).

    Attributes:
        samples: list of ``(path, label)``.
        targets: list of labels.
        classes: class names, ``classes[label]``.
        indices: int64 tensor of official indices (from ImageNet validation file names), or None.
        class_ids: dataset-specific class identifiers (ImageNet wnids), or ``None``.
        decode: ``path -> uint8 (C, H, W)`` (plain decoding, or the ImageNet resize/crop).
        transform: optional callable applied to each float image in ``__getitem__``.
    """

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        classes: Sequence[str],
        *,
        class_ids: Sequence[str] | None = None,
        decode: Callable[[str], torch.Tensor] = decode_rgb,
        transform: Transform | None = None,
        root: str | Path | None = None,
    ) -> None:
        self.samples = list(samples)
        self.targets = [label for _, label in self.samples]
        self.classes = list(classes)
        self.class_ids = None if class_ids is None else list(class_ids)
        self.decode = decode
        self.transform = transform
        self.root = None if root is None else Path(root)
        self.indices = _official_indices([p for p, _ in self.samples])

    def __len__(self) -> int:
        return len(self.samples)

    def read_uint8(self, i: int) -> torch.Tensor:
        """Decode sample ``i`` to uint8 ``(C, H, W)`` (no user transform)."""
        return self.decode(self.samples[i][0])

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = as_float_images(self.read_uint8(i))
        if self.transform is not None:
            image = self.transform(image)
        return image, self.samples[i][1]

    def subset(self, positions: Sequence[int]) -> FolderImageDataset:
        """A new dataset with the samples at ``positions`` (same classes, decoding, transform)."""
        return FolderImageDataset(
            [self.samples[int(p)] for p in positions],
            self.classes,
            class_ids=self.class_ids,
            decode=self.decode,
            transform=self.transform,
            root=self.root,
        )

    def first_n_positions(self, n: int) -> list[int]:
        """Positions of the ``n`` samples that ``load_dataset(..., n=n)`` keeps.

        The first ``n`` in official order where file names carry it (ImageNet validation);
        otherwise round-robin over classes in file order (the k-th image of every class in
        turn), because an ImageFolder is sorted by class and its first ``n`` files would all
        come from class 0.
        """
        if self.indices is not None:
            return sorted(torch.argsort(self.indices)[:n].tolist())
        per_class: dict[int, list[int]] = {}
        for pos, label in enumerate(self.targets):
            per_class.setdefault(label, []).append(pos)
        queues = [per_class[c] for c in sorted(per_class)]
        chosen: list[int] = []
        depth = 0
        while len(chosen) < n:
            for queue in queues:
                if depth < len(queue) and len(chosen) < n:
                    chosen.append(queue[depth])
            depth += 1
        return chosen

    def __repr__(self) -> str:
        where = f" from {self.root}" if self.root is not None else ""
        return f"FolderImageDataset({len(self)} files, {len(self.classes)} classes{where})"


def _official_indices(paths: Sequence[str]) -> torch.Tensor | None:
    """Official 0-based ImageNet validation indices from file names, when every name has one."""
    found = []
    for p in paths:
        match = _IMAGENET_VAL_NAME.search(Path(p).name)
        if match is None:
            return None
        found.append(int(match.group(1)) - 1)
    return torch.tensor(found, dtype=torch.int64) if found else None
