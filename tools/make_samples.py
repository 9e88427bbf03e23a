"""Build the data samples shipped in ``bandlimit/data/assets`` from the team's offline copies.

Claim: the assets are a pure function of two files in ``shared/data`` (checked by SHA-256)
and of the settings below; running this script again reproduces them byte for byte.

    python tools/make_samples.py [--shared ../shared] [--cifar-count 600]

Outputs (all in bandlimit/data/assets/):
    cifar10_test.png         CIFAR-10 test images 0..K-1, lossless, as one PNG mosaic
    cifar10_sample.json      labels, official test indices, mosaic layout, provenance
    imagenet_sample/*.jpg    32 ImageNet images (every 31st class), resize 256 / crop 224, q90
    imagenet_sample.json     file, wnid, label, source file name of each image
    imagenet_classes.json    the 1000 wnids (sorted = standard index) and category names
The hand-written README.md in the same folder states provenance and licence caveats.
Both samples together must stay under 2 MB (the script fails otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "bandlimit" / "data" / "assets"
CIFAR_SOURCE = "data/cifar10/test_lossless_1028.npz"
IMAGENET_SOURCE = "data/imagenet/imagenet_samples_256.tar.gz"
CIFAR_COLUMNS = 20  # mosaic width in images; the layout barely changes the PNG size
IMAGENET_QUALITY = 90
BUDGET_BYTES = 2_000_000

logger = logging.getLogger("make_samples")


def sha256(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_json(path: Path, obj: object) -> None:
    """Write stable, diff-friendly JSON."""
    path.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n", encoding="utf-8")


def make_cifar(shared: Path, count: int) -> None:
    """Mosaic of official test images 0..count-1 (lossless) plus their labels."""
    source = shared / CIFAR_SOURCE
    with np.load(source, allow_pickle=False) as arrays:
        x, y, index = arrays["x"], arrays["y"], arrays["test_index"]
        classes = [str(c) for c in arrays["classes"].tolist()]
    order = np.argsort(index, kind="stable")[:count]
    if not np.array_equal(index[order], np.arange(count)):
        raise SystemExit(f"{source} does not hold every test index in 0..{count - 1}")
    if count % CIFAR_COLUMNS:
        raise SystemExit(f"--cifar-count must be a multiple of {CIFAR_COLUMNS}, got {count}")
    images = x[order]
    rows = count // CIFAR_COLUMNS
    mosaic = images.reshape(rows, CIFAR_COLUMNS, 32, 32, 3).transpose(0, 2, 1, 3, 4)
    mosaic = mosaic.reshape(rows * 32, CIFAR_COLUMNS * 32, 3)
    Image.fromarray(mosaic).save(ASSETS / "cifar10_test.png", format="PNG", optimize=True)
    write_json(
        ASSETS / "cifar10_sample.json",
        {
            "description": f"CIFAR-10 official test images 0..{count - 1}, lossless (PNG mosaic)",
            "file": "cifar10_test.png",
            "count": count,
            "columns": CIFAR_COLUMNS,
            "image_size": [32, 32],
            "layout": "row-major mosaic: image k at row k // columns, column k % columns",
            "classes": classes,
            "labels": [int(v) for v in y[order]],
            "test_indices": [int(v) for v in index[order]],
            "source": {"file": CIFAR_SOURCE, "sha256": sha256(source)},
        },
    )


def make_imagenet(shared: Path, count: int, step: int) -> None:
    """``count`` images, one from every ``step``-th class, pre-cropped to 224 x 224."""
    from torchvision.models import ResNet50_Weights
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as TF

    source = shared / IMAGENET_SOURCE
    names = list(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])  # offline, in wnid order
    out_dir = ASSETS / "imagenet_sample"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(source) as tar:
            tar.extractall(tmp, filter="data")
        top = Path(tmp) / "imagenet-samples"
        wnids = sorted(p.name for p in top.iterdir() if p.is_dir())
        if len(wnids) != len(names):
            raise SystemExit(f"expected {len(names)} class folders in {source}, got {len(wnids)}")
        entries = []
        for k in range(count):
            label = k * step
            files = sorted((top / wnids[label]).iterdir())
            with Image.open(files[0]) as img:
                img = img.convert("RGB")
                img = TF.resize(img, 256, interpolation=InterpolationMode.BILINEAR)
                img = TF.center_crop(img, 224)
                name = f"{k:02d}_{wnids[label]}.jpg"
                img.save(out_dir / name, format="JPEG", quality=IMAGENET_QUALITY, optimize=True)
            entries.append({"file": name, "wnid": wnids[label], "label": label, "source_file": files[0].name})
    write_json(ASSETS / "imagenet_classes.json", {"wnids": wnids, "names": names})
    write_json(
        ASSETS / "imagenet_sample.json",
        {
            "description": f"{count} ImageNet-1k images, one from every {step}th class",
            "preprocessing": (
                f"shorter side resized to 256 (bilinear, PIL), centre crop 224, JPEG quality {IMAGENET_QUALITY}"
            ),
            "directory": "imagenet_sample",
            "images": entries,
            "source": {"file": IMAGENET_SOURCE, "sha256": sha256(source)},
        },
    )


def main(argv: list[str] | None = None) -> int:
    """Build every asset, then check the size budget."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--cifar-count", type=int, default=600)
    parser.add_argument("--imagenet-count", type=int, default=32)
    parser.add_argument("--imagenet-step", type=int, default=31)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ASSETS.mkdir(parents=True, exist_ok=True)
    make_cifar(args.shared, args.cifar_count)
    make_imagenet(args.shared, args.imagenet_count, args.imagenet_step)
    sizes = {str(p.relative_to(ASSETS)): p.stat().st_size for p in ASSETS.rglob("*") if p.is_file()}
    total = sum(sizes.values())
    cifar = sizes["cifar10_test.png"]
    imagenet = sum(v for k, v in sizes.items() if k.startswith("imagenet_sample/"))
    logger.info("CIFAR-10 mosaic: %d bytes (%d images)", cifar, args.cifar_count)
    logger.info("ImageNet JPEGs: %d bytes (%d images)", imagenet, args.imagenet_count)
    logger.info("assets total: %d bytes (budget %d)", total, BUDGET_BYTES)
    if total > BUDGET_BYTES:
        logger.error("over budget: lower --cifar-count")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
