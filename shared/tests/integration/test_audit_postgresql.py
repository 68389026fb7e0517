"""The audit log on the real PostgreSQL: guards, tampering, and appends racing from many
connections — the chain must stay one unbroken line with no gaps."""

from __future__ import annotations

import random
import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from shared.audit import (
    AuditKind,
    AuditLog,
    BreakReason,
    audit_log,
    disclosures_for,
    verify,
)
from shared.audit.testing import (
    ENTRY_COLUMNS,
    delete_entry,
    disable_guards,
    edit_entry,
    insert_forged_entry,
    sample_event,
    swap_entries,
)
from shared.db import make_engine, session_factory
from shared.db.migrate import upgrade_service
from shared.ids import new_id

pytestmark = pytest.mark.integration

LENGTH = 5
TAMPER_SETTINGS = settings(max_examples=25, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def engine(pg_database_url, tmp_path):
    versions = tmp_path / "service_versions"  # a service without migrations of its own
    versions.mkdir()
    upgrade_service(pg_database_url, versions)
    engine = make_engine(pg_database_url, pool_size=12, max_overflow=0)
    yield engine
    engine.dispose()


def append_all(engine, events):
    log = AuditLog()
    with session_factory(engine).begin() as session:
        return [log.append(session, event) for event in events]


@pytest.fixture
def chained(engine):
    subject = new_id("sub")
    return append_all(engine, [sample_event(subject, i) for i in range(LENGTH)])


def verify_tampered(engine, tamper):
    """Tamper and verify in one transaction, then roll back (PostgreSQL DDL included)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        disable_guards(connection)
        tamper(connection)
        result = verify(connection)
        transaction.rollback()
    assert verify(engine).ok, "the tampering was not rolled back"
    return result


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET purpose = 'other'",
    "DELETE FROM audit_log WHERE seq = 2",
    "TRUNCATE audit_log",
    "DELETE FROM audit_chain_head",
    "UPDATE audit_chain_head SET seq = seq - 1",
    "INSERT INTO audit_log SELECT seq + 10, recorded_at, kind, actor, subject, resource_type, "
    "resource_ids, fields, purpose, consent_id, recipient_id, recipient_role, prev_hash, hash "
    "FROM audit_log WHERE seq = 1",
])
def test_the_database_refuses_changes_to_the_log(engine, chained, statement):
    with pytest.raises(DBAPIError, match="audit"), engine.begin() as connection:
        connection.execute(text(statement))
    assert verify(engine).ok


@TAMPER_SETTINGS
@given(seq=st.integers(1, LENGTH), column=st.sampled_from(ENTRY_COLUMNS))
def test_editing_any_column_of_any_entry_is_detected_there(engine, chained, seq, column):
    assert verify_tampered(engine, lambda c: edit_entry(c, seq, column)).first_break.seq == seq


@TAMPER_SETTINGS
@given(seq=st.integers(1, LENGTH))
def test_a_deleted_entry_is_detected_at_its_position(engine, chained, seq):
    assert verify_tampered(engine, lambda c: delete_entry(c, seq)).first_break.seq == seq


@TAMPER_SETTINGS
@given(pair=st.lists(st.integers(1, LENGTH), min_size=2, max_size=2, unique=True))
def test_swapped_entries_are_detected_at_the_first(engine, chained, pair):
    first, second = sorted(pair)
    result = verify_tampered(engine, lambda c: swap_entries(c, first, second))
    assert (result.first_break.seq, result.first_break.reason) == (first, BreakReason.ENTRY_ALTERED)


@TAMPER_SETTINGS
@given(after=st.integers(0, LENGTH))
def test_an_inserted_entry_is_detected_right_behind_it(engine, chained, after):
    result = verify_tampered(engine, lambda c: insert_forged_entry(c, after))
    assert result.first_break.seq == min(after + 2, LENGTH + 1)


def race(engine, threads, appends, work):
    """Run `work(log, session_factory, thread_index)` in threads; re-raise their errors."""
    errors, start = [], threading.Barrier(threads)

    def worker(index):
        try:
            start.wait()
            work(AuditLog(), session_factory(engine), index, appends)
        except Exception as error:
            errors.append(error)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []


def append_slowly(log, factory, index, appends):
    """Hold the lock a little while other threads queue; every fifth transaction rolls back."""
    for number in range(appends):
        session = factory()
        with session.begin():
            log.append(session, sample_event(new_id("sub"), number))
            time.sleep(random.uniform(0, 0.002))
            if number % 5 == 4:
                session.rollback()
        session.close()


def test_concurrent_appends_from_separate_connections_keep_one_chain(engine):
    threads, appends = 8, 25
    race(engine, threads, appends, append_slowly)
    committed = threads * (appends - appends // 5)
    result = verify(engine)
    assert result.ok, result.first_break
    assert result.entries_checked == committed
    with engine.connect() as connection:
        seqs = connection.execute(select(audit_log.c.seq).order_by(audit_log.c.seq)).scalars()
        assert list(seqs) == list(range(1, committed + 1))


def test_verify_is_correct_while_others_append(engine):
    stop, results = threading.Event(), []

    def verifier():
        while not stop.is_set():
            results.append(verify(engine))

    checking = threading.Thread(target=verifier)
    checking.start()
    try:
        race(engine, 6, 20, append_slowly)
    finally:
        stop.set()
        checking.join()
    assert results and all(result.ok for result in results), [
        r.first_break for r in results if not r.ok]
    assert verify(engine).ok


def test_disclosures_are_listed_per_subject(engine):
    alice, bob = new_id("sub"), new_id("sub")
    appended = append_all(engine, [sample_event(alice, disclosure=True),
                                   sample_event(bob, disclosure=True),
                                   sample_event(alice, disclosure=False),
                                   sample_event(alice, disclosure=True)])
    with session_factory(engine)() as session:
        listed = disclosures_for(session, alice)
    assert listed == [appended[0], appended[3]]
    assert all(entry.event.kind is AuditKind.DISCLOSURE for entry in listed)
