"""An in-process cache of unwrapped data keys, so the hot path touches no database
and derives nothing.

Bounded (oldest entries go first) and short-lived: an entry lives at most 30 seconds,
which is how long a subject erased by another process can still be read or written
here. The erasing process replaces its own entry at once. Expired entries are dropped
as new ones come in, so the cache holds the keys of the last TTL, not a backlog of stale
ones up to the bound. The clock is injectable so tests can pass the TTL without sleeping.
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
            now = self.clock()
            self._entries.pop(subject, None)
            # Every entry lives one TTL from its put, so they expire in insertion order:
            # drop the expired ones from the front. The cache then holds the keys used
            # within the TTL, not up to `max_entries` stale ones (an open key takes about
            # 3 KB, an AES-GCM context included), and a key leaves memory once it expires.
            while self._entries:  # each entry is dropped once: amortised O(1) per put
                first = next(iter(self._entries))
                if self._entries[first][0] > now:
                    break
                del self._entries[first]
            while len(self._entries) >= self.max_entries:
                del self._entries[next(iter(self._entries))]
            self._entries[subject] = (now + self.ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
