"""Autocommit connections kept open between uses, for the single statements of the
request paths.

Checking a connection out of SQLAlchemy's pool and back in, with the `Connection`
wrapped around it, cost about a seventh of the CPU of HR's referral read under load
(measured with `bench/http_bench.py`). `kept_connections(engine)` hands out the
connections of `single_statements(engine)` (autocommit, on PostgreSQL) and keeps them,
`Connection` and all, in a short free list between uses:

    reads = kept_connections(engine)
    with reads.connect() as conn:          # the most recently returned one, or a new one
        row = HR_ONE.first(conn, {...})

Every user of an autocommit sibling goes through its `KeptConnections` (HR's reads, the
idempotency keys, the key store), so keeping them opens no more connections than the
pool did. Transactional engines are not kept: their other users would check out more
connections beside the kept ones.

What the pool gave, this keeps:
- a connection kept longer than `PING_AFTER_IDLE_SECONDS` is pinged before it is handed
  out again, and replaced if it does not answer (`shared.db._ping_when_idle`);
- a disconnect seen on any of the engine's connections retires every kept connection
  from before it, as it invalidates the pool's, so none is handed out unpinged;
- a block that raises returns its connection to the pool (which resets it) instead of
  keeping it; an SQLAlchemy transaction left open is rolled back before it is kept (in
  autocommit that is bookkeeping only, no round trip), so a block may still
  `conn.begin()` (on SQLite, where `kept_connections` is the engine, a real one);
- at most the pool's size are kept; the pool still bounds how many exist at once;
- `engine.dispose()` closes the kept ones; a forked child never uses or closes its
  parent's (they share the sockets).

Kept connections are checked out of their pool, and SQLAlchemy's pool holds its engine
while any of its connections is out: an engine whose connections are kept lives until
`engine.dispose()`, which every runtime calls when it closes. A pool that must not be
bypassed is not: with `pool_pre_ping` a kept connection is pinged at every use, and an
engine with `pool_recycle` or without a queue pool (NullPool, e.g. behind PgBouncer)
gets no kept connections. Nor is a connection kept whose execution options were
changed (`Connection.execution_options()` changes them in place; the pool would not
reset them).

Only on PostgreSQL. Elsewhere `kept_connections` is the engine itself: SQLite's single
statements run in transactions (`BEGIN IMMEDIATE`) that must end with the block.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from sqlalchemy import Connection, Engine, event
from sqlalchemy.pool import QueuePool

from shared.db import PING_AFTER_IDLE_SECONDS, PerEngine, single_statements


class Connects(Protocol):
    """What `kept_connections` returns: a `KeptConnections`, or an engine."""

    def connect(self) -> AbstractContextManager[Connection]: ...


def kept_connections(engine: Engine) -> Connects:
    """The one `KeptConnections` of `engine`'s autocommit sibling
    (`shared.db.single_statements`; made on first use, shared by every caller), for
    blocks of one statement each. On SQLite, the engine itself."""
    source = single_statements(engine)
    pool = source.pool
    if source.dialect.name != "postgresql" or not isinstance(pool, QueuePool) \
            or pool._recycle >= 0:
        # No pool to keep from (NullPool, e.g. behind PgBouncer), or one that must
        # replace its connections by age: the pool does what it was set up to do.
        return source
    return _by_engine(source)


class KeptConnections:
    def __init__(self, engine: Engine, idle_seconds: float = PING_AFTER_IDLE_SECONDS,
                 keep_at_most: int | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        pool = engine.pool
        # An engine made with `pool_pre_ping` pings before every use; so do we.
        self.idle_seconds = 0.0 if pool._pre_ping else idle_seconds
        self.keep_at_most = keep_at_most if keep_at_most is not None else (
            pool.size() if isinstance(pool, QueuePool) else 1)
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._free: list[tuple[Connection, float]] = []  # (connection, kept since)
        # Bumped by a disconnect, a dispose or a fork: a connection taken before the
        # bump is not kept again.
        self.generation = 0
        event.listen(engine, "handle_error", self._on_error)
        event.listen(engine, "engine_disposed", self._on_dispose)
        _instances.add(self)

    def connect(self) -> _Lease:
        return _Lease(self)

    def kept(self) -> int:
        """How many connections are kept, unused, right now."""
        return len(self._free)

    # -- taking and giving back -----------------------------------------------------------
    def _take(self) -> Connection:
        with self._lock:
            conn, since = self._free.pop() if self._free else (None, 0.0)
        if conn is None:
            return self.engine.connect()
        if self.monotonic() - since > self.idle_seconds:
            try:
                alive = self._answers(conn)
            except BaseException:
                _close(conn)
                raise
            if not alive:
                _close(conn)
                return self.engine.connect()  # the pool pings what it hands out after idling
        return conn

    def _give_back(self, conn: Connection, generation: int, failed: bool) -> None:
        # Not kept: after a failure, and with execution options of its own (which
        # `Connection.execution_options()` sets in place and the pool would not reset).
        if not (failed or conn.invalidated or conn.closed
                or conn._execution_options is not conn.engine._execution_options):
            if conn.in_transaction():
                try:
                    conn.rollback()
                except BaseException:
                    _close(conn)
                    raise
            with self._lock:
                if generation == self.generation and len(self._free) < self.keep_at_most:
                    self._free.append((conn, self.monotonic()))
                    return
        _close(conn)

    def _answers(self, conn: Connection) -> bool:
        try:
            driver_connection = conn.connection.dbapi_connection
            if driver_connection is None:
                return False
            self.engine.dialect.do_ping(driver_connection)
        except self.engine.dialect.loaded_dbapi.Error:
            conn.invalidate()
            return False
        return True

    # -- retiring -------------------------------------------------------------------------
    def _retire(self) -> list[Connection]:
        with self._lock:
            self.generation += 1
            retired = [conn for conn, _ in self._free]
            self._free = []
        return retired

    def _on_error(self, context: Any) -> None:
        if context.is_disconnect:
            for conn in self._retire():
                _close(conn)

    def _on_dispose(self, _engine: Engine) -> None:
        for conn in self._retire():
            _close(conn, invalidate=True)

    def _forget_after_fork(self) -> None:
        # The child shares the parent's sockets: closing these would end the parent's
        # sessions, and so would SQLAlchemy on garbage-collecting them. They stay
        # referenced, unused, for the child's life. The lock may have been held by a
        # thread the child does not have.
        self._lock = threading.Lock()
        _orphans.extend(self._retire())


class _Lease:
    __slots__ = ("conn", "generation", "source")

    def __init__(self, source: KeptConnections) -> None:
        self.source = source

    def __enter__(self) -> Connection:
        self.generation = self.source.generation
        self.conn = self.source._take()
        return self.conn

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.source._give_back(self.conn, self.generation, failed=exc_type is not None)


def _close(conn: Connection, invalidate: bool = False) -> None:
    try:
        if invalidate:
            conn.invalidate()  # closes the driver connection outright, not via the pool
        conn.close()
    except Exception:  # noqa: S110 - closing what is being thrown away; nothing to tell
        pass


def _forget_all_after_fork() -> None:
    for kept in list(_instances):
        kept._forget_after_fork()


_by_engine = PerEngine(KeptConnections)
_instances: weakref.WeakSet[KeptConnections] = weakref.WeakSet()
_orphans: list[Connection] = []
os.register_at_fork(after_in_child=_forget_all_after_fork)
