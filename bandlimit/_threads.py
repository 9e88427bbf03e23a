"""How many CPU threads torch should use: what the user asks, or the cores other work leaves free.

torch starts one thread per core, and its OpenMP threads spin while they wait for each other.
On a machine busy with other processes that collapses: an outside run of ``bandlimit heatmap
--n 16`` took 9 s idle, 66 s beside four busy processes with the default threads, and 35 s with
one thread. ``auto`` therefore takes the cores the 1-minute load average leaves free (at least
one, at most torch's own default), decided once when a command starts.
"""

from __future__ import annotations

import logging
import os

import torch

__all__ = ["auto_threads", "set_threads"]

logger = logging.getLogger(__name__)

# torch's own default (one per core), read once before anything changes it.
_TORCH_DEFAULT = torch.get_num_threads()


def auto_threads(*, load: float | None = None, default: int | None = None) -> int:
    """The cores not busy with other work: ``default - round(load)``, clamped to ``[1, default]``.

    Args:
        load: The 1-minute load average (default: ``os.getloadavg()``; 0 where unavailable).
        default: torch's default thread count (default: the one torch started with).
    """
    top = _TORCH_DEFAULT if default is None else default
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):  # no load average on this platform (Windows)
            load = 0.0
    return max(1, min(top, top - round(load)))


def set_threads(requested: int | None) -> int:
    """Set torch's CPU threads to ``requested``, or to :func:`auto_threads` when None; returns the count.

    Raises:
        ValueError: ``requested`` is below 1.
    """
    if requested is not None and (isinstance(requested, bool) or not isinstance(requested, int) or requested < 1):
        raise ValueError(f"--threads: expected an integer >= 1, got {requested!r}")
    threads = auto_threads() if requested is None else requested
    if requested is None and threads < _TORCH_DEFAULT:
        logger.info(
            "using %d of %d CPU threads: the machine is busy with other work (set --threads to choose)",
            threads, _TORCH_DEFAULT,
        )  # fmt: skip
    torch.set_num_threads(threads)
    return threads
