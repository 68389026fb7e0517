"""The audit log on SQLite, migrated by the real migrations: appends, tampering, listing, export.

Tampering happens inside a transaction with the guards off; `verify` runs in that same
transaction, then everything is rolled back, so each hypothesis example starts from the
same intact chain (which the helper re-checks).
"""

from __future__ import annotations

import io
import itertools
import json
import threading
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError

from shared.audit import (
    AuditChainMissing,
    AuditKind,
    AuditLog,
    BreakReason,
    ChainAnchor,
    ChainChecker,
    audit_chain_head,
    audit_log,
    disclosures_for,
    entry_from_line,
    export_jsonl,
    verify,
)
from shared.audit.testing import (
    ENTRY_COLUMNS,
    delete_entry,
    disable_guards,
    edit_entry,
    insert_forged_entry,
    reseal_from,
    sample_event,
    swap_entries,
)
from shared.db import make_engine, session_factory
from shared.db.migrate import upgrade_service
from shared.ids import new_id

LENGTH = 6
TAMPER_SETTINGS = settings(max_examples=40, deadline=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def engine(sqlite_url, tmp_path):
    versions = tmp_path / "service_versions"  # a service without migrations of its own
    versions.mkdir()
    upgrade_service(sqlite_url, versions)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def append_all(engine, events, log=None):
    log = log or AuditLog()
    with session_factory(engine).begin() as session:
        return [log.append(session, event) for event in events]


@pytest.fixture
def chained(engine):
    """An intact chain of LENGTH entries, guards off so tests can tamper with it."""
    subject = new_id("sub")
    entries = append_all(engine, [sample_event(subject, i) for i in range(LENGTH)])
    with engine.begin() as connection:
        disable_guards(connection)
    return entries


def verify_tampered(engine, tamper, anchor=None):
    with engine.connect() as connection:
        transaction = connection.begin()
        tamper(connection)
        result = verify(connection, anchor)
        transaction.rollback()
    assert verify(engine).ok, "the tampering was not rolled back"
    return result


def test_appended_entries_form_a_verified_chain(engine):
    subject = new_id("sub")
    entries = append_all(engine, [sample_event(subject, i) for i in range(5)])
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64
    assert all(later.prev_hash == earlier.hash for earlier, later in itertools.pairwise(entries))
    result = verify(engine)
    assert result.ok and result.entries_checked == 5
    assert result.last == ChainAnchor(5, entries[-1].hash)


def test_an_empty_log_verifies(engine):
    assert verify(engine).ok


def test_a_rolled_back_append_leaves_neither_entry_nor_gap(engine):
    log, subject = AuditLog(), new_id("sub")
    session = session_factory(engine)()
    log.append(session, sample_event(subject))
    session.rollback()
    session.close()
    [entry] = append_all(engine, [sample_event(subject)], log)
    assert entry.seq == 1 and verify(engine).ok


def test_entries_read_back_equal_what_was_appended(engine):
    subject = new_id("sub")
    appended = append_all(engine, [sample_event(subject, i) for i in range(4)])
    with engine.connect() as connection:
        stored = connection.execute(select(audit_log.c.seq, audit_log.c.hash)).all()
    assert [(e.seq, e.hash) for e in appended] == [tuple(row) for row in stored]
    assert disclosures_for(engine, subject) == [e for e in appended if e.event.kind == "disclosure"]


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET purpose = 'other'",
    "DELETE FROM audit_log WHERE seq = 1",
    "DELETE FROM audit_chain_head",
    "UPDATE audit_chain_head SET seq = seq - 1",
    "UPDATE audit_chain_head SET hash = '" + "a" * 64 + "'",
    "INSERT INTO audit_log SELECT seq + 10, recorded_at, kind, actor, subject, resource_type, "
    "resource_ids, fields, purpose, consent_id, recipient_id, recipient_role, prev_hash, hash "
    "FROM audit_log WHERE seq = 1",
])
def test_the_database_refuses_changes_to_the_log(engine, statement):
    append_all(engine, [sample_event(new_id("sub"), i) for i in range(2)])
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text(statement))
    assert verify(engine).ok


@TAMPER_SETTINGS
@given(seq=st.integers(1, LENGTH), column=st.sampled_from(ENTRY_COLUMNS))
def test_editing_any_column_of_any_entry_is_detected_at_that_entry(engine, chained, seq, column):
    result = verify_tampered(engine, lambda c: edit_entry(c, seq, column))
    assert result.first_break is not None
    assert result.first_break.seq == seq


@TAMPER_SETTINGS
@given(seq=st.integers(1, LENGTH))
def test_a_deleted_entry_is_detected_at_its_position(engine, chained, seq):
    result = verify_tampered(engine, lambda c: delete_entry(c, seq))
    assert result.first_break.seq == seq
    expected = BreakReason.HEAD_MISMATCH if seq == LENGTH else BreakReason.MISSING_ENTRY
    assert result.first_break.reason == expected


@TAMPER_SETTINGS
@given(pair=st.lists(st.integers(1, LENGTH), min_size=2, max_size=2, unique=True))
def test_two_swapped_entries_are_detected_at_the_first(engine, chained, pair):
    first, second = sorted(pair)
    result = verify_tampered(engine, lambda c: swap_entries(c, first, second))
    assert (result.first_break.seq, result.first_break.reason) == (first, BreakReason.ENTRY_ALTERED)


@TAMPER_SETTINGS
@given(after=st.integers(0, LENGTH))
def test_an_inserted_entry_is_detected_right_behind_it(engine, chained, after):
    result = verify_tampered(engine, lambda c: insert_forged_entry(c, after))
    # The forged entry itself is well sealed; the renumbered entry behind it is not.
    if after < LENGTH:
        assert (result.first_break.seq, result.first_break.reason) == (
            after + 2, BreakReason.ENTRY_ALTERED)
    else:
        assert (result.first_break.seq, result.first_break.reason) == (
            after + 1, BreakReason.HEAD_MISMATCH)


@TAMPER_SETTINGS
@given(kept=st.integers(0, LENGTH - 1))
def test_entries_cut_off_the_end_are_detected_by_the_head(engine, chained, kept):
    def truncate(connection):
        for seq in range(kept + 1, LENGTH + 1):
            delete_entry(connection, seq)
    result = verify_tampered(engine, truncate)
    assert (result.first_break.seq, result.first_break.reason) == (
        kept + 1, BreakReason.HEAD_MISMATCH)


@TAMPER_SETTINGS
@given(rewritten=st.integers(1, LENGTH), anchored=st.integers(1, LENGTH))
def test_a_resealed_tail_is_caught_only_by_an_earlier_anchor(engine, chained, rewritten, anchored):
    anchor = ChainAnchor(anchored, chained[anchored - 1].hash)
    assert verify_tampered(engine, lambda c: reseal_from(c, rewritten)).ok  # the known limit
    result = verify_tampered(engine, lambda c: reseal_from(c, rewritten), anchor)
    if anchored >= rewritten:
        assert (result.first_break.seq, result.first_break.reason) == (
            anchored, BreakReason.ANCHOR_MISMATCH)
    else:
        assert result.ok


def test_a_moved_head_is_detected(engine, chained):
    result = verify_tampered(engine, lambda c: c.execute(
        update(audit_chain_head).values(seq=LENGTH - 1, hash=chained[-2].hash)))
    assert (result.first_break.seq, result.first_break.reason) == (LENGTH, BreakReason.HEAD_MISMATCH)


def test_a_missing_head_is_detected_and_stops_appends(engine, chained):
    def drop_head(connection):
        connection.execute(audit_chain_head.delete())
        assert verify(connection).first_break.reason == BreakReason.HEAD_MISSING
        with pytest.raises(AuditChainMissing):
            AuditLog().append(connection, sample_event(new_id("sub")))
    verify_tampered(engine, drop_head)


def test_an_unreadable_list_column_is_reported_not_raised(engine, chained):
    result = verify_tampered(engine, lambda c: c.execute(
        update(audit_log).where(audit_log.c.seq == 2).values(fields="not json")))
    assert (result.first_break.seq, result.first_break.reason) == (2, BreakReason.ENTRY_ALTERED)


def test_concurrent_appends_on_separate_connections_keep_one_chain(engine):
    threads, per_thread = 4, 15
    errors = []

    def appender():
        try:
            log, factory = AuditLog(), session_factory(engine)
            for _ in range(per_thread):
                with factory.begin() as session:
                    log.append(session, sample_event(new_id("sub")))
        except Exception as error:  # reported below; a thread cannot fail the test itself
            errors.append(error)

    workers = [threading.Thread(target=appender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    result = verify(engine)
    assert result.ok and result.entries_checked == threads * per_thread


def test_disclosures_are_listed_per_subject_oldest_first(engine):
    alice, bob = new_id("sub"), new_id("sub")
    events = [sample_event(alice, disclosure=True), sample_event(bob, disclosure=True),
              sample_event(alice, disclosure=False), sample_event(alice, disclosure=True)]
    appended = append_all(engine, events)
    listed = disclosures_for(engine, alice)
    assert [e.seq for e in listed] == [appended[0].seq, appended[3].seq]
    assert all(e.event.kind is AuditKind.DISCLOSURE and e.event.subject == alice for e in listed)
    assert disclosures_for(engine, new_id("sub")) == []


def test_export_writes_one_canonical_self_verifying_line_per_entry(engine):
    subject = new_id("sub")
    appended = append_all(engine, [sample_event(subject, i) for i in range(5)])
    out = io.StringIO()
    assert export_jsonl(engine, out) == 5
    lines = out.getvalue().splitlines()
    assert [entry_from_line(line) for line in lines] == appended
    assert set(json.loads(lines[0])) == {
        "v", "seq", "time", "kind", "actor", "subject", "resource_type", "resource_ids",
        "fields", "purpose", "consent_id", "recipient", "prev_hash", "hash"}
    checker = ChainChecker()
    assert not any(checker.check(entry_from_line(line)) for line in lines)


def test_export_selects_by_subject_kind_and_time(engine):
    start = datetime(2027, 1, 1, tzinfo=UTC)
    times = iter(start + timedelta(days=day) for day in range(10))
    log = AuditLog(clock=lambda: next(times))
    alice, bob = new_id("sub"), new_id("sub")
    append_all(engine, [sample_event(alice, i) for i in range(6)] + [sample_event(bob, 1)], log)
    out = io.StringIO()
    export_jsonl(engine, out, subject=alice, kind=AuditKind.DISCLOSURE,
                 since=start + timedelta(days=2), until=start + timedelta(days=5))
    exported = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["seq"], e["time"][:10]) for e in exported] == [(4, "2027-01-04")]
    assert exported[0]["subject"] == alice and exported[0]["kind"] == "disclosure"


def test_time_is_stored_to_the_microsecond(engine):
    moment = datetime(2027, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    subject = new_id("sub")
    append_all(engine, [sample_event(subject, disclosure=True)], AuditLog(clock=lambda: moment))
    [stored] = disclosures_for(engine, subject)
    assert stored.recorded_at == moment
    assert verify(engine).ok
