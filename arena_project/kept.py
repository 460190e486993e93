"""What a process keeps between requests under a version the database gives: thread-safe, bounded.

Two things are kept this way - bar histories (debates/market/history.py, under
``Instrument.bars_version``) and panel plans (agents/selectors.py, under ``PanelPlanVersion``). In
both, database triggers change the version on every write to what the value was built from and
never give a version twice, so a value kept under the version just read is current; a different
version means build it again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class KeptByVersion(Generic[K, V]):
    """Values by key, each under the version it was built with; past ``limit()`` keys (read on
    every write, so a setting can change it), the least recently used are dropped first."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: OrderedDict[K, tuple[int, V]] = OrderedDict()

    def get(self, key: K, version: int) -> V | None:
        """The value kept for ``key`` under ``version``, or None (none kept, or another version)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def update(self, key: K, version: int, change: Callable[[V | None], V]) -> None:
        """Keep ``change(current)`` for ``key`` under ``version``, where current is the value kept
        under that version (None if none), in one step: two threads never lose each other's."""
        limit = self._limit()
        if limit <= 0:
            return
        with self._lock:
            entry = self._entries.get(key)
            self._entries[key] = (version, change(entry[1] if entry and entry[0] == version else None))
            self._entries.move_to_end(key)
            while len(self._entries) > limit:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
