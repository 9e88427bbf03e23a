"""Atomic file writes: a crash or an exception never leaves a half-written file in place."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(
    path: str | os.PathLike[str], content: str | bytes | Callable[[Path], None], *, mode: int = 0o644
) -> Path:
    """Write ``content`` to ``path`` through a temporary file in the same folder, then rename.

    Args:
        path: Target file; its folder is created if needed.
        content: Text (UTF-8), bytes, or a callable that writes the temporary file it is given
            (e.g. ``lambda p: fig.savefig(p)`` or ``lambda p: torch.save(obj, p)``).
        mode: Permission bits of the result (``mkstemp`` would leave 0600; results are shared).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The real extension last: writers such as savefig infer the format from it.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    tmp = Path(tmp_name)
    try:
        if callable(content):
            os.close(fd)
            content(tmp)
        else:
            data = content.encode("utf-8") if isinstance(content, str) else content
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return path
