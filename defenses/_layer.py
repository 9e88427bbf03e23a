"""What the defence layers share: their settings, named once, give their ``config``."""

from __future__ import annotations

from typing import Any, ClassVar

from torch import nn

__all__ = ["DefenceLayer"]


class DefenceLayer(nn.Module):
    """An ``nn.Module`` defence whose settings are the attributes named in ``settings``.

    Class attributes:
        settings: The names of the settings, in the order ``config`` (and so results,
            model metadata and ``repr``) lists them.
    """

    settings: ClassVar[tuple[str, ...]] = ()

    @property
    def config(self) -> dict[str, Any]:
        """The layer's settings, JSON-friendly (for results and model metadata)."""
        return {name: getattr(self, name) for name in self.settings}
