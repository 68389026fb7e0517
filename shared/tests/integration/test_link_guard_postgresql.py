"""The guard against guessed link tokens on the real PostgreSQL: failures recorded at the
same moment over many connections are all counted (one atomic upsert, also when they
reopen a lapsed window), pruning alongside them neither deadlocks nor loses a count, and
a lockout recorded by one instance holds in another."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.crypto import BlindIndex
from shared.db import make_engine
from shared.db.migrate import upgrade_service
from shared.services import migration_versions
from shared.web.link_guard import GuessLimiter, link_guard_metadata, link_guesses

pytestmark = pytest.mark.integration

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
KEY = BlindIndex(b"k" * 32)
ALICE = "203.0.113.7"
THREADS, EACH = 8, 25


@pytest.fixture
def engine(pg_database_url):
    engine = make_engine(pg_database_url, pool_size=THREADS, max_overflow=4)
    link_guard_metadata.create_all(engine)
    yield engine
    engine.dispose()


def limiter(engine, now=T0, budget=10_000):
    return GuessLimiter(engine, KEY, "referral", budget=budget, window=WINDOW,
                        clock=lambda: now)


def at_once(work: Callable[[int], object], threads: int = THREADS) -> list[object]:
    """Run work(0) … work(threads - 1) in threads released together; re-raise any error."""
    start = threading.Barrier(threads)
    results: list[object] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        start.wait()
        try:
            results.append(work(i))
        except BaseException as error:  # handed to the test's thread
            errors.append(error)

    pool = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(60)
    if errors:
        raise errors[0]
    return results


def stored(engine):
    with engine.connect() as conn:
        return {row.client_hash: row for row in conn.execute(select(link_guesses))}


def test_concurrent_failures_over_many_connections_are_all_counted(engine):
    guard = limiter(engine)
    counts = at_once(lambda _: [guard.record_failure(ALICE) for _ in range(EACH)])
    seen = sorted(c for batch in counts for c in batch)  # type: ignore[attr-defined]
    # every failure got its own count: none was lost or counted twice
    assert seen == list(range(1, THREADS * EACH + 1))
    (row,) = stored(engine).values()
    assert (row.failures, row.window_ends_at) == (THREADS * EACH, T0 + WINDOW)


def test_concurrent_failures_reopen_a_lapsed_window_exactly_once(engine):
    limiter(engine).record_failure(ALICE)
    later = T0 + WINDOW + timedelta(seconds=1)
    guard = limiter(engine, later)
    at_once(lambda _: [guard.record_failure(ALICE) for _ in range(EACH)])
    (row,) = stored(engine).values()
    assert (row.failures, row.window_ends_at) == (THREADS * EACH, later + WINDOW)


def test_pruning_beside_concurrent_failures_neither_deadlocks_nor_loses_counts(engine):
    addresses = [f"192.0.2.{i}" for i in range(THREADS)]
    for address in addresses:
        limiter(engine).record_failure(address)
    later = T0 + WINDOW  # every row has just lapsed

    def fail_everywhere(i: int) -> None:
        for _ in range(EACH):
            for address in addresses[i:] + addresses[:i]:
                # a fresh limiter per failure, as in many processes: each one prunes
                limiter(engine, later).record_failure(address)

    at_once(fail_everywhere)
    rows = stored(engine)
    assert len(rows) == THREADS
    assert {r.failures for r in rows.values()} == {THREADS * EACH}


def test_a_lockout_recorded_by_one_instance_holds_in_another(engine, pg_database_url):
    other = make_engine(pg_database_url)
    try:
        first, second = limiter(engine, budget=3), limiter(other, budget=3)
        first.record_failure(ALICE)
        second.record_failure(ALICE)
        assert first.lockout(ALICE) is None
        first.record_failure(ALICE)
        assert second.lockout(ALICE) == 900
        assert second.lockout("198.51.100.20") is None
    finally:
        other.dispose()


def test_the_referral_migration_creates_the_table_as_declared(pg_database_url):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade_service(pg_database_url, migration_versions("referral"))
    engine = make_engine(pg_database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, link_guard_metadata)
                           if "link_guesses" in repr(d)]
        assert differences == []
    finally:
        engine.dispose()
