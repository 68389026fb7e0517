"""Writing, reading and verifying the audit log of one service database.

Appends happen in the caller's transaction: the access or disclosure and its record
commit together or not at all.

Taking turns. Every append starts by writing the single chain-head row (`UPDATE
audit_chain_head ... RETURNING`) and only then reads the previous hash from it; the final
write moves the head to the new entry. On PostgreSQL that first write takes the row lock,
so concurrent appenders — threads or processes — queue on it until the holder commits or
rolls back, and under READ COMMITTED the next one then reads the committed head. On
SQLite the first write takes the database write lock, which serialises every writer.
Either way each append sees the previous append's entry, so there is one unbroken chain
and no gap (`seq` is assigned here, not by a database sequence). The price: the lock is
held until the caller's transaction ends, so append late in a transaction and keep it
short. Under REPEATABLE READ or SERIALIZABLE, PostgreSQL aborts the second of two
concurrent appenders with a serialization error; retry the transaction as usual.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, select, update
from sqlalchemy.orm import Session

from shared.audit.chain import ChainAnchor, ChainChecker, VerificationResult, seal
from shared.audit.model import AuditEntry, AuditEvent, AuditKind, InvalidAuditEvent, Recipient
from shared.audit.tables import HEAD_ROW_ID, audit_chain_head, audit_log

Target = Session | Connection
STREAM_BATCH = 1000
# Concurrent appends can move the head while `verify` reads; each round catches up with
# them. A log still growing after this many rounds is reported as checked up to where it
# had got (its newest entries are left to the next run).
CATCH_UP_ROUNDS = 50


class AuditChainMissing(RuntimeError):
    """The chain-head row is absent: the audit migration has not run, or it was removed."""


class AuditLog:
    """Appends entries to the hash chain. `purposes`, when given, is the closed set of
    purpose codes this service may record; anything else is refused."""

    def __init__(self, purposes: Collection[str] | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.purposes = frozenset(purposes) if purposes is not None else None
        self.clock = clock

    def append(self, target: Target, event: AuditEvent) -> AuditEntry:
        """Record `event` in `target`'s current transaction; returns the sealed entry."""
        if self.purposes is not None and event.purpose not in self.purposes:
            raise InvalidAuditEvent("purpose is not one of this service's purposes")
        connection = _connection_of(target)
        head = connection.execute(
            update(audit_chain_head).where(audit_chain_head.c.id == HEAD_ROW_ID)
            .values(seq=audit_chain_head.c.seq)  # a write that changes nothing: the lock
            .returning(audit_chain_head.c.seq, audit_chain_head.c.hash)).one_or_none()
        if head is None:
            raise AuditChainMissing("no audit chain head; run the database migrations")
        # The clock is read inside the lock, so times never run backwards along the chain
        # (unless the wall clock itself does).
        entry = seal(head.hash, head.seq + 1, self.clock(), event)
        connection.execute(audit_log.insert().values(_row_values(entry)))
        connection.execute(update(audit_chain_head).where(audit_chain_head.c.id == HEAD_ROW_ID)
                           .values(seq=entry.seq, hash=entry.hash))
        return entry


def verify(source: Target | Engine, anchor: ChainAnchor | None = None) -> VerificationResult:
    """Re-hash the whole chain and compare its end with the head row (and `anchor`).

    Reports the first break: an edited entry, a removed one, one inserted, two swapped,
    entries cut off the end. Safe while other processes append.
    """
    head: ChainAnchor | None = None
    with reading(source) as connection:
        checker = ChainChecker(anchor=anchor)
        _check_entries_after(connection, checker)
        for _ in range(CATCH_UP_ROUNDS):
            if checker.first_break:
                break
            head = _read_head(connection)
            if head is None or head.seq <= checker.last.seq:
                break
            # An entry and its head move commit together, so entries up to this head are
            # visible now; if none are newer than what we checked, they were removed.
            checked_before = checker.last.seq
            _check_entries_after(connection, checker)
            if checker.last.seq == checked_before:
                break
        else:
            head = checker.last  # still growing: what was checked so far is consistent
        return checker.finish(head)


def disclosures_for(target: Target | Engine, subject: str) -> list[AuditEntry]:
    """Every disclosure about one employee, oldest first (the employee's own accounting)."""
    with reading(target) as connection:
        return list(iter_entries(connection, subject=subject, kind=AuditKind.DISCLOSURE))


def iter_entries(connection: Connection, *, subject: str | None = None,
                 kind: AuditKind | None = None, since: datetime | None = None,
                 until: datetime | None = None, after_seq: int = 0) -> Iterator[AuditEntry]:
    """Entries in sequence order, filtered; streamed, so any length of log fits."""
    query = select(audit_log).where(audit_log.c.seq > after_seq).order_by(audit_log.c.seq)
    if subject is not None:
        query = query.where(audit_log.c.subject == subject)
    if kind is not None:
        query = query.where(audit_log.c.kind == kind.value)
    if since is not None:
        query = query.where(audit_log.c.recorded_at >= since)
    if until is not None:
        query = query.where(audit_log.c.recorded_at < until)
    yield from _stream(connection, query)


def _stream(connection: Connection, query: Select[Any]) -> Iterator[AuditEntry]:
    result = connection.execute(query.execution_options(yield_per=STREAM_BATCH))
    try:
        for row in result:
            yield _entry_from_row(row)
    finally:
        result.close()  # also when the reader stops early, e.g. at the first break


def _check_entries_after(connection: Connection, checker: ChainChecker) -> None:
    for entry in iter_entries(connection, after_seq=checker.last.seq):
        if checker.check(entry):
            return


def _read_head(connection: Connection) -> ChainAnchor | None:
    row = connection.execute(select(audit_chain_head.c.seq, audit_chain_head.c.hash)
                             .where(audit_chain_head.c.id == HEAD_ROW_ID)).one_or_none()
    return None if row is None else ChainAnchor(row.seq, row.hash)


def _row_values(entry: AuditEntry) -> dict[str, Any]:
    event = entry.event
    recipient = event.recipient
    return {
        "seq": entry.seq, "recorded_at": entry.recorded_at, "kind": event.kind.value,
        "actor": event.actor, "subject": event.subject, "resource_type": event.resource_type,
        "resource_ids": json.dumps(list(event.resource_ids)),
        "fields": json.dumps(list(event.fields)), "purpose": event.purpose,
        "consent_id": event.consent_id,
        "recipient_id": recipient.party_id if recipient else None,
        "recipient_role": recipient.role if recipient else None,
        "prev_hash": entry.prev_hash, "hash": entry.hash,
    }


def _entry_from_row(row: Row[Any]) -> AuditEntry:
    # Built without validation on purpose: a tampered row must reach the hash check (and
    # fail it) rather than stop the verification with an exception.
    recipient = None
    if row.recipient_id is not None or row.recipient_role is not None:
        recipient = _unchecked(Recipient, party_id=row.recipient_id, role=row.recipient_role)
    event = _unchecked(
        AuditEvent, kind=_kind(row.kind), actor=row.actor, subject=row.subject,
        resource_type=row.resource_type, resource_ids=_stored_list(row.resource_ids),
        fields=_stored_list(row.fields), purpose=row.purpose,
        consent_id=row.consent_id, recipient=recipient)
    return AuditEntry(row.seq, row.recorded_at, event, row.prev_hash, row.hash)


def _stored_list(stored: str) -> tuple[str, ...]:
    try:
        values = json.loads(stored)
    except ValueError:
        values = None
    if isinstance(values, list):
        return tuple(values)
    # Not something we write. NUL cannot occur in a genuine id or field name, so the entry
    # cannot hash as a genuine one and is reported as altered.
    return ("\x00unreadable", str(stored))


def _kind(stored: str) -> AuditKind | str:
    try:
        return AuditKind(stored)
    except ValueError:
        return stored  # not a kind we write: the hash check will flag the entry


def _unchecked(cls: type[Any], **values: Any) -> Any:
    instance = object.__new__(cls)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    return instance


def _connection_of(target: Target) -> Connection:
    return target.connection() if isinstance(target, Session) else target


def reading(source: Target | Engine) -> AbstractContextManager[Connection]:
    """A connection to read with: the caller's own (its transaction and snapshot), or a
    fresh one from an engine, closed afterwards."""
    if isinstance(source, Engine):
        return _engine_connection(source)
    return nullcontext(_connection_of(source))


@contextmanager
def _engine_connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        yield connection
