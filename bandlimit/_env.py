"""The environment record written with every result: versions, machine, command, commit."""

from __future__ import annotations

import datetime
import importlib.metadata
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

__all__ = ["environment"]

_PACKAGES = ("torchvision", "numpy", "scipy", "rich", "matplotlib", "torchattacks")


def _git_commit() -> dict[str, Any] | None:
    """Commit and dirty flag of the checkout bandlimit runs from, or None (not a checkout)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head, "dirty": bool(dirty)}


def environment(device: torch.device | str | None = None, **extra: Any) -> dict[str, Any]:
    """Versions, machine, device, command line and git commit of this run.

    Args:
        device: The device the work ran on (default: the CPU).
        **extra: Further entries (e.g. ``world_size``) added as they are.
    """
    import bandlimit

    dev = torch.device(device) if device is not None else torch.device("cpu")
    versions: dict[str, Any] = {
        "bandlimit": bandlimit.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,  # the build actually imported (e.g. 2.4.0+cu121)
    }
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    env: dict[str, Any] = {
        "versions": versions,
        "platform": platform.platform(),
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "command": [Path(sys.argv[0]).name, *sys.argv[1:]],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "git": _git_commit(),
    }
    if dev.type == "cuda" and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(dev)
    env.update(extra)
    return env
