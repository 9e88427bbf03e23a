"""One registry mechanism for every kind of named thing: models, attacks, defences, suites, recipes.

A :class:`Registry` maps a name to an :class:`Entry` (the object, a one-line help text and
free-form metadata). Objects are registered under **their own name** (``Attack.name``, a
defence's ``name``, a model builder's function name); unknown names raise ``ValueError`` with
the known names and close matches. Names that are not registered one by one (torchvision's
``tv_<any classifier>``) are served by *resolvers*, functions from a name to an entry.

Example:
    >>> colours = Registry("colour")
    >>> _ = colours.register("red", (255, 0, 0), help="warm")
    >>> colours.get("red").obj
    (255, 0, 0)
    >>> colours.get("rde")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: unknown colour 'rde'; did you mean 'red'? Known: red
"""

from __future__ import annotations

import difflib
import fnmatch
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["Entry", "Registry"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered name.

    Attributes:
        name: The key.
        obj: What is registered (a class, a builder function, a suite definition, ...).
        help: One line for listings and ``--help``.
        meta: Anything else the owner of the registry wants to keep with the entry.
    """

    name: str
    obj: T
    help: str = ""
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> :class:`Entry` for one kind of object.

    Args:
        kind: What the entries are, for messages (``"attack"``, ``"model"``, ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._resolvers: dict[str, Callable[[str], Entry[T] | None]] = {}

    def register(self, name: str, obj: T, *, help: str = "", **meta: Any) -> T:
        """Register ``obj`` under ``name`` and return it (re-registering replaces, with a warning).

        Raises:
            TypeError: ``name`` is not a non-empty string.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name: expected a non-empty string, got {name!r}")
        old = self._entries.get(name)
        if old is not None and old.obj is not obj:
            logger.debug("%s %r registered again; the newer definition replaces the older", self.kind, name)
        self._entries[name] = Entry(name, obj, help, dict(meta))
        return obj

    def add_resolver(self, prefix: str, resolver: Callable[[str], Entry[T] | None]) -> None:
        """Serve unregistered names starting with ``prefix`` through ``resolver(name)`` (None = unknown)."""
        self._resolvers[prefix] = resolver

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._entries or self._resolve(name) is not None)

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted registered names matching a shell-style pattern (resolved prefixes not enumerated)."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def _resolve(self, name: str) -> Entry[T] | None:
        for prefix, resolver in self._resolvers.items():
            if name.startswith(prefix):
                entry = resolver(name)
                if entry is not None:
                    return entry
        return None

    def get(self, name: str) -> Entry[T]:
        """The entry of ``name``.

        Raises:
            TypeError: ``name`` is not a string.
            ValueError: unknown name; the message lists the known names and close matches.
        """
        if not isinstance(name, str):
            raise TypeError(f"{self.kind}: expected a name (str), got {type(name).__name__}")
        entry = self._entries.get(name) or self._resolve(name)
        if entry is None:
            raise self.unknown(name)
        return entry

    def unknown(self, name: str) -> ValueError:
        """The error for an unknown ``name`` (close matches first, then every known name)."""
        known = self.names()
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ";"
        extra = "".join(f", {p}<name>" for p in sorted(self._resolvers))
        return ValueError(f"unknown {self.kind} {name!r}{hint} known: {', '.join(known)}{extra}")
