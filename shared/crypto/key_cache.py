"""An in-process cache of unwrapped data keys, so the hot path touches no database
and derives nothing.

Bounded (oldest entries go first) and short-lived: an entry lives at most 30 seconds,
which is how long a subject erased by another process can still be read or written
here. The erasing process replaces its own entry at once. The clock is injectable so
tests can pass the TTL without sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

MAX_TTL_SECONDS = 30.0
DEFAULT_TTL_SECONDS = 20.0
DEFAULT_MAX_ENTRIES = 10_000

V = TypeVar("V")


class KeyCache(Generic[V]):
    def __init__(self, *, ttl: float = DEFAULT_TTL_SECONDS,
                 max_entries: int = DEFAULT_MAX_ENTRIES,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 < ttl <= MAX_TTL_SECONDS:
            raise ValueError(f"the key cache TTL must be in (0, {MAX_TTL_SECONDS}] seconds")
        if max_entries < 1:
            raise ValueError("the key cache needs room for at least one entry")
        self.ttl = ttl
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, tuple[float, V]] = {}
        self._lock = threading.Lock()

    def get(self, subject: str) -> V | None:
        # Lock-free: a dict read is atomic, and writers only ever replace whole entries.
        entry = self._entries.get(subject)
        if entry is None or entry[0] <= self.clock():
            return None
        return entry[1]

    def put(self, subject: str, value: V) -> None:
        with self._lock:
            self._entries.pop(subject, None)
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[subject] = (self.clock() + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
