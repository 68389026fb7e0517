"""The request paths' shortcuts on the real PostgreSQL: single-statement blocks run in
autocommit without leaking it to the pool, a pooled connection is pinged only after it
sat idle (and a dead one is then replaced unseen), a new subject key is written once and
not read back, and idempotency reservations behave as before in one statement."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

import shared.db as db
from shared.crypto import Aad
from shared.crypto.testing import CryptoKit
from shared.db import make_engine, single_statements
from shared.web.idempotency import LEASE, IdempotencyStore, idempotency_keys
from tests.support.integration import terminate_backends

pytestmark = pytest.mark.integration
AAD = Aad("emp_acme", "referrals", "ref_1", "employee_name")


@pytest.fixture
def engine(pg_database_url):
    engine = make_engine(pg_database_url, pool_size=1, max_overflow=0)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE notes (id int PRIMARY KEY)"))
    yield engine
    engine.dispose()


def backend_pid(engine):
    with engine.connect() as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_single_statements_run_in_autocommit_and_do_not_leak_it(engine):
    single = single_statements(engine)
    with single.connect() as conn:
        conn.execute(text("INSERT INTO notes VALUES (1)"))  # no commit: autocommit
        assert conn.execute(text("SELECT now() = statement_timestamp()")).scalar()
    # the same pooled connection (pool of one), back in transactional mode
    with engine.connect() as conn:
        conn.execute(text("INSERT INTO notes VALUES (2)"))
        conn.rollback()
        assert conn.execute(text("SELECT array_agg(id) FROM notes")).scalar() == [1]
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO notes VALUES (3)"))
        assert conn.execute(text("SELECT now() <> statement_timestamp()")).scalar()


def test_a_busy_connection_is_not_pinged(engine, monkeypatch):
    backend_pid(engine)
    pings = []
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or True)
    for _ in range(5):
        backend_pid(engine)
    assert pings == []


def test_an_idle_dead_connection_is_replaced_before_use(engine, monkeypatch):
    first = backend_pid(engine)
    terminate_backends(engine, first)
    later = db.time.monotonic() + db.PING_AFTER_IDLE_SECONDS + 1
    monkeypatch.setattr(db.time, "monotonic", lambda: later)
    second = backend_pid(engine)  # no error: the ping found it dead, a new one was made
    assert second != first


def test_a_connection_that_died_within_the_idle_window_fails_once_then_heals(engine):
    first = backend_pid(engine)
    terminate_backends(engine, first)
    with pytest.raises(DBAPIError) as failed:
        backend_pid(engine)
    assert failed.value.connection_invalidated  # answered as 503 by shared.db.outage
    assert backend_pid(engine) != first


def test_new_subjects_keys_are_written_once(tmp_path, pg_database_url, monkeypatch):
    kit = CryptoKit.create(tmp_path, database_url=pg_database_url)
    try:
        monkeypatch.setattr(kit.store, "fetch", lambda subject: pytest.fail("read back"))
        subject = kit.cipher.new_subject()
        token = kit.cipher.encrypt("Ada", subject=subject, aad=AAD)
        monkeypatch.undo()
        assert kit.another_process().decrypt(token, subject=subject, aad=AAD) == "Ada"
        # a subject that has a key keeps it; only the others get one
        assert list(kit.store.create_many([subject, "sub_new"])) == ["sub_new"]
        assert kit.another_process().decrypt(token, subject=subject, aad=AAD) == "Ada"
    finally:
        kit.dispose()


def test_idempotency_reservations(pg_database_url, tmp_path):
    kit = CryptoKit.create(tmp_path, database_url=pg_database_url)
    idempotency_keys.create(kit.engine)
    try:
        store = IdempotencyStore(kit.engine, kit.cipher)
        now = datetime(2027, 1, 4, 9, tzinfo=UTC)
        assert store.reserve("cli_a", "h1", "r1", now) == ("new", None)
        assert store.reserve("cli_a", "h1", "r1", now + timedelta(seconds=1)) == ("busy", None)
        assert store.reserve("cli_b", "h1", "r1", now) == ("new", None)  # per client
        later = now + LEASE + timedelta(seconds=2)
        assert store.reserve("cli_a", "h1", "r1", later) == ("new", None)  # lease over
        store.complete("cli_a", "h1", 201, '{"id": "x"}')
        hour = now + timedelta(hours=1)
        assert store.reserve("cli_a", "h1", "r1", hour) == ("replay", (201, '{"id": "x"}'))
        assert store.reserve("cli_a", "h1", "r2", hour) == ("mismatch", None)
        day = now + timedelta(hours=24, seconds=1)
        assert store.reserve("cli_a", "h1", "r2", day) == ("new", None)  # expired: free
        store.release("cli_a", "h1")
        assert store.reserve("cli_a", "h1", "r3", day) == ("new", None)  # released: free
        # Expired keys go in batches; the one reserved a day later stays.
        assert store.prune(day + timedelta(hours=1), limit=5) == 1  # cli_b's
        assert store.prune(day + timedelta(hours=2), limit=5) == 0  # cli_a's is fresh
        assert store.prune(day + timedelta(hours=25), limit=5) == 1
    finally:
        kit.dispose()


def test_single_statements_have_one_autocommit_pool_disposed_with_the_engine(engine):
    single = single_statements(engine)
    assert single_statements(engine) is single  # made once
    assert single.pool is not engine.pool
    assert single.pool.size() == engine.pool.size() == 1
    with single.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert single.pool.checkedin() == 1
    engine.dispose()
    assert single.pool.checkedin() == 0  # its connections closed with the engine's
