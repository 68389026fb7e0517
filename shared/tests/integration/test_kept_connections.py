"""Kept connections (`shared.db.kept`) on the real PostgreSQL: a connection is reused
without a pool checkout, and everything the pool did for health still happens — an idle
one is pinged, a disconnect retires the others, a failed block's connection is not kept,
dispose closes them, and a forked child never touches its parent's."""

import os
import time

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from shared.db import make_engine, single_statements
from shared.db.kept import KeptConnections, kept_connections
from tests.support.integration import terminate_backends

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(pg_database_url):
    engine = make_engine(pg_database_url, pool_size=2, max_overflow=2)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id int PRIMARY KEY)"))
    yield engine
    engine.dispose()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def pid_of(conn):
    return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def live_backends(engine, pids):
    with engine.connect() as conn:
        return set(conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
            {"pids": list(pids)}).scalars())


def checkouts(engine):
    seen = []
    event.listen(single_statements(engine).pool, "checkout", lambda *_: seen.append(1))
    return seen


def test_a_connection_is_kept_between_uses_without_a_pool_checkout(engine):
    kept = kept_connections(engine)
    assert kept_connections(engine) is kept  # one per engine, shared
    seen = checkouts(engine)
    with kept.connect() as conn:
        first = pid_of(conn)
        conn.execute(text("INSERT INTO notes VALUES (1)"))  # autocommit: no commit needed
    with kept.connect() as conn:
        assert pid_of(conn) == first
    assert len(seen) == 1
    assert kept.kept() == 1
    with engine.connect() as other:
        assert other.execute(text("SELECT array_agg(id) FROM notes")).scalar() == [1]


def test_uses_at_once_get_distinct_connections_and_at_most_the_pool_size_is_kept(engine):
    kept = kept_connections(engine)
    with kept.connect() as a, kept.connect() as b, kept.connect() as c:
        pids = {pid_of(a), pid_of(b), pid_of(c)}
    assert len(pids) == 3
    assert kept.kept() == 2  # the pool's size; the third went back to the pool


def test_a_transaction_left_open_is_rolled_back_before_the_connection_is_kept(engine):
    kept = kept_connections(engine)
    with kept.connect() as conn:
        conn.execute(text("SELECT 1"))
        assert conn.in_transaction()  # SQLAlchemy's bookkeeping, even in autocommit
    with kept.connect() as conn:
        assert not conn.in_transaction()
        with conn.begin():  # so a caller can still begin one of its own
            conn.execute(text("INSERT INTO notes VALUES (2)"))


def test_a_block_that_raises_gives_its_connection_back_to_the_pool(engine):
    kept = kept_connections(engine)
    with pytest.raises(ZeroDivisionError), kept.connect() as conn:
        pid_of(conn)
        1 / 0
    assert kept.kept() == 0


def test_a_connection_kept_idle_is_pinged_and_a_dead_one_replaced_unseen(engine, monkeypatch):
    clock = Clock()
    kept = KeptConnections(single_statements(engine), idle_seconds=1.0, monotonic=clock)
    pings = []
    dialect = single_statements(engine).dialect
    real_ping = dialect.do_ping
    monkeypatch.setattr(dialect, "do_ping", lambda c: pings.append(1) or real_ping(c))
    with kept.connect() as conn:
        dead = pid_of(conn)
    clock.now = 0.5  # used a moment ago: not pinged
    with kept.connect() as conn:
        assert pid_of(conn) == dead
    assert pings == []
    terminate_backends(engine, dead)
    clock.now = 5.0
    with kept.connect() as conn:
        assert pid_of(conn) != dead  # no error: the ping found it dead
    assert pings


def test_a_disconnect_retires_every_connection_kept_from_before_it(engine):
    kept = KeptConnections(single_statements(engine), idle_seconds=3600.0)
    with kept.connect() as a, kept.connect() as b:
        old = {pid_of(a), pid_of(b)}
    assert kept.kept() == 2
    terminate_backends(engine, *old)
    with pytest.raises(DBAPIError) as failed, kept.connect() as conn:
        pid_of(conn)
    assert failed.value.connection_invalidated
    assert kept.kept() == 0  # the other one too, unused since the server went away
    with kept.connect() as conn:
        assert pid_of(conn) not in old


def test_dispose_closes_the_kept_connections(engine):
    kept = kept_connections(engine)
    with kept.connect() as a, kept.connect() as b:
        pids = {pid_of(a), pid_of(b)}
    engine.dispose()
    assert kept.kept() == 0
    observer = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        deadline = time.monotonic() + 10
        while live_backends(observer, pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert live_backends(observer, pids) == set()
    finally:
        observer.dispose()


def test_a_forked_child_neither_uses_nor_closes_its_parents_connection(engine):
    kept = kept_connections(engine)
    with kept.connect() as conn:
        parents = pid_of(conn)
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        status = 1
        try:
            single_statements(engine).dispose(close=False)  # SQLAlchemy's own advice
            with kept.connect() as conn:
                os.write(write_end, str(pid_of(conn)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    childs = int(os.read(read_end, 64))
    os.close(read_end)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert childs != parents
    with kept.connect() as conn:
        assert pid_of(conn) == parents  # still the parent's, and alive


def test_sqlite_engines_are_not_kept(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    try:
        assert kept_connections(engine) is engine
    finally:
        engine.dispose()


def test_a_pool_that_must_not_be_bypassed_is_not(pg_database_url):
    recycled = make_engine(pg_database_url, pool_recycle=60)
    unpooled = make_engine(pg_database_url, poolclass=NullPool)
    pinged = make_engine(pg_database_url, pool_pre_ping=True)
    try:
        # the autocommit sibling is set up as its engine, and so respected
        assert kept_connections(recycled) is single_statements(recycled)
        assert kept_connections(unpooled) is single_statements(unpooled)
        reads = kept_connections(pinged)
        assert isinstance(reads, KeptConnections)
        assert reads.idle_seconds == 0.0  # pinged at every use, as the pool would
    finally:
        for engine in (recycled, unpooled, pinged):
            engine.dispose()


def test_a_connection_with_execution_options_of_its_own_is_not_kept(engine):
    kept = kept_connections(engine)
    with kept.connect() as conn:
        conn.execution_options(isolation_level="SERIALIZABLE")
    assert kept.kept() == 0
    with kept.connect() as conn:
        assert conn.execute(text("SHOW transaction_isolation")).scalar() != "serializable"


def test_a_rollback_that_fails_on_the_way_back_closes_the_connection(engine):
    kept = kept_connections(engine)

    def failing_rollback():
        raise RuntimeError("rollback failed")

    with pytest.raises(RuntimeError, match="rollback failed"), kept.connect() as conn:
        conn.execute(text("SELECT 1"))  # SQLAlchemy begins its (empty) transaction
        conn.rollback = failing_rollback
    assert kept.kept() == 0
    assert conn.closed
