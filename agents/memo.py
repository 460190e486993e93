"""A pure function's result remembered for the last few arguments *by identity*.

A debate hands one frozen market context (agents.schemas.MarketContext) and its bar list to all of
its agents: the rules analysts derive their indicators from the same bars, and every prompt renders
the same context lines. Computing them once per object instead of once per agent keeps that work off
the coordinator's event loop, where it would delay the agents' requests. Keys are object ids; an
entry holds its object, so an id cannot be reused by another object while it is remembered. Only for
objects that are never changed in place (frozen pydantic models, and the lists they hold).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    """``compute(obj)``, remembered for the ``maxsize`` most recently used objects (thread-safe)."""

    def __init__(self, compute: Callable[[K], V], *, maxsize: int = 32) -> None:
        self._compute = compute
        self._maxsize = maxsize
        self._entries: OrderedDict[int, tuple[K, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __call__(self, obj: K) -> V:
        key = id(obj)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None and hit[0] is obj:
                self._entries.move_to_end(key)
                return hit[1]
        result = self._compute(obj)
        with self._lock:
            self._entries[key] = (obj, result)
            while len(self._entries) > self._maxsize:
                self._entries.popitem(last=False)
        return result

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
