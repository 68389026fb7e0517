"""Engines, sessions and the metadata of the tables every service database carries.

Two kinds of database exist:
- the **directory** database, shared by all services (employers, providers, clients,
  and the subject key store): tables on `shared.directory.tables.metadata`;
- one database **per service**: its own domain tables plus the mechanism tables declared
  on `mechanism_metadata` here (outbox, inbox, idempotency keys, audit log, webhook
  deliveries), created by the "mechanisms" migration branch in `shared/db/migrations`.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

mechanism_metadata = MetaData(naming_convention=NAMING_CONVENTION)

T = TypeVar("T")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on every backend.

    SQLite keeps no offset, so without this a value read back is naive and comparing it
    with `datetime.now(UTC)` raises. Naive values are refused on the way in.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use timezone-aware UTC values")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A pooled connection unused for longer than this is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 1.0
# How many connections one engine's pool lends at once: SQLAlchemy's QueuePool defaults,
# 5 kept and 10 more on demand, which `make_engine` keeps. A thread beyond that waits
# (up to 30 s) for a connection, so it bounds the threads of a web worker.
POOL_CONNECTIONS = 15


def make_engine(url: str, **kwargs: object) -> Engine:
    """An engine with the settings we rely on: WAL and foreign keys on SQLite; on
    PostgreSQL a pooled connection that sat idle is pinged before use, so a restarted
    server is survived without a restart (see `_ping_when_idle`)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("hide_parameters", True)
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = str(parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False))
    # Statement parameters can be ciphertexts or blind indexes; error messages and logs
    # never need them.
    kwargs.setdefault("hide_parameters", True)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    return engine


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection before handing it out only if it sat unused for more
    than `idle_seconds`; a dead one is replaced before anyone sees it.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip per
    transaction, a sixth of the CPU of a small read. A connection used a moment ago
    was alive a moment ago; should the server go away in between, the statement fails
    as a disconnect, which invalidates the whole pool (no later checkout gets a
    connection from before it) and answers 503 (`shared.db.outage`), as a statement
    in flight during a restart does anyway.
    """

    @event.listens_for(engine.pool, "connect")
    def fresh(_dbapi_connection: Any, record: Any) -> None:
        record.info.pop(_IDLE_SINCE, None)

    @event.listens_for(engine.pool, "checkin")
    def returned(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def handed_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since <= idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (or a new one).
            raise DisconnectionError("a pooled connection did not answer a ping") from exc


_IDLE_SINCE = "bridgeline.idle_since"


def single_statements(engine: Engine) -> Engine:
    """An engine for blocks that run one statement: on PostgreSQL its connections are in
    autocommit, so a lookup or an atomic `INSERT ... ON CONFLICT` costs one round trip
    instead of three (BEGIN, the statement, COMMIT or ROLLBACK). Only for work that
    needs no transaction around several statements; SQLite keeps its transactions.

    A sibling engine with its own pool (same size and settings), made once per engine
    and disposed with it: switching a shared pool's connections into autocommit and back
    on every checkout cost a third of a small read's CPU. The connections are opened
    lazily, so the extra pool holds only as many as single statements run at once.
    Request paths take its connections through `shared.db.kept.kept_connections`, which
    keeps them between uses: every user of a sibling must, or the kept connections and
    the pool's would add up."""
    if engine.dialect.name != "postgresql":
        return engine
    return _autocommit_siblings(engine)


def _autocommit_sibling(engine: Engine) -> Engine:
    pool = engine.pool
    sizing: dict[str, Any] = (
        {"pool_size": pool.size(), "max_overflow": pool._max_overflow}
        if isinstance(pool, QueuePool) else {"poolclass": type(pool)})
    sibling = make_engine(
        engine.url.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT",
        # Nothing to roll back in autocommit: no reset round trip when a connection returns.
        pool_reset_on_return=None, hide_parameters=engine.hide_parameters,
        pool_pre_ping=pool._pre_ping, pool_recycle=pool._recycle, **sizing)

    @event.listens_for(engine, "engine_disposed")
    def dispose_sibling(_engine: Engine) -> None:
        sibling.dispose()

    return sibling


class PerEngine(Generic[T]):
    """One value per engine, made on first use (once, whatever the threads). Both are
    held weakly: what keeps the value alive is its engine (an event listener), so the
    two are forgotten together."""

    def __init__(self, make: Callable[[Engine], T]) -> None:
        self._make = make
        self._values: weakref.WeakKeyDictionary[Engine, weakref.ref[Any]] = (
            weakref.WeakKeyDictionary())
        self._lock = threading.Lock()
        _per_engine.add(self)

    def __call__(self, engine: Engine) -> T:
        with self._lock:
            ref = self._values.get(engine)
            value = ref() if ref is not None else None
            if value is None:
                value = self._make(engine)
                self._values[engine] = weakref.ref(value)
        return value

    def _after_fork(self) -> None:
        self._lock = threading.Lock()  # it may have been held by a thread not forked


def _per_engine_after_fork() -> None:
    for per_engine in list(_per_engine):
        per_engine._after_fork()


_per_engine: weakref.WeakSet[PerEngine[Any]] = weakref.WeakSet()
os.register_at_fork(after_in_child=_per_engine_after_fork)


_autocommit_siblings = PerEngine(_autocommit_sibling)


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # pysqlite would open a transaction only at the first write, so a read-then-write
    # (accept a link, revoke a consent) could interleave with another writer and lose an
    # update. We begin every transaction ourselves, IMMEDIATE: writers then take turns,
    # which is what the PostgreSQL code gets from SELECT ... FOR UPDATE.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


def ping(engine: Engine) -> None:
    """Raise if the database cannot answer a trivial query."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"
