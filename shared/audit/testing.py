"""Test support: sample events, and the edits an attacker with database access could make.

Used by the unit tests (SQLite) and the integration tests (PostgreSQL). Every tampering
function works on a connection whose guards were turned off with `disable_guards`, in
the caller's transaction, so a test can roll the damage back.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, delete, func, select, text, update

from shared.audit.chain import seal
from shared.audit.log import _entry_from_row, _row_values
from shared.audit.model import AuditEvent, Recipient, system_actor
from shared.audit.tables import audit_chain_head, audit_log
from shared.ids import new_id

# Every stored column; editing any one of them must break verification.
ENTRY_COLUMNS = tuple(column.name for column in audit_log.columns)
CONTENT_COLUMNS = tuple(name for name in ENTRY_COLUMNS if name != "seq")


def sample_event(subject: str, index: int = 0, disclosure: bool | None = None) -> AuditEvent:
    """Accesses and disclosures alternate by `index` unless `disclosure` says which."""
    if disclosure is None:
        disclosure = index % 2 == 1
    if disclosure:
        return AuditEvent.disclosure(
            actor=system_actor("attestation_issuer"), subject=subject,
            resource_type="attestation", resource_ids=[new_id("att")],
            fields=["attendance", "compliant"], purpose="employment_support",
            consent_id=new_id("con"), recipient=Recipient(new_id("emp"), "hr"))
    return AuditEvent.access(
        actor=new_id("cli"), subject=subject, resource_type="accommodation",
        resource_ids=[new_id("acc"), new_id("acc")], fields=["functional_limitations"],
        purpose="accommodation_review")


def disable_guards(connection: Connection) -> None:
    """Turn the append-only triggers off. On PostgreSQL this is undone by a rollback; on
    SQLite the triggers are dropped (SQLite runs DDL outside the implicit transaction)."""
    if connection.dialect.name == "postgresql":
        for table in ("audit_log", "audit_chain_head"):
            connection.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
        return
    names = connection.execute(text(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' "
        "AND tbl_name IN ('audit_log', 'audit_chain_head')")).scalars().all()
    for name in names:
        connection.execute(text(f'DROP TRIGGER "{name}"'))


def entry_count(connection: Connection) -> int:
    return int(connection.execute(select(func.count()).select_from(audit_log)).scalar_one())


def edit_entry(connection: Connection, seq: int, column: str) -> None:
    """Give one column of one entry a different (well-formed) value."""
    row = connection.execute(select(audit_log).where(audit_log.c.seq == seq)).one()
    new_value = _different(column, getattr(row, column), connection)
    connection.execute(update(audit_log).where(audit_log.c.seq == seq).values({column: new_value}))


def delete_entry(connection: Connection, seq: int) -> None:
    connection.execute(delete(audit_log).where(audit_log.c.seq == seq))


def swap_entries(connection: Connection, first: int, second: int) -> None:
    """Exchange the contents (hashes included) of two positions."""
    rows = {row.seq: row for row in connection.execute(
        select(audit_log).where(audit_log.c.seq.in_([first, second])))}
    for here, there in ((first, second), (second, first)):
        values = {name: getattr(rows[there], name) for name in CONTENT_COLUMNS}
        connection.execute(update(audit_log).where(audit_log.c.seq == here).values(values))


def insert_forged_entry(connection: Connection, after_seq: int) -> None:
    """Insert a correctly sealed entry after `after_seq`, renumbering the ones behind it —
    the best an attacker can do without re-sealing the rest of the chain."""
    previous = connection.execute(select(audit_log).where(audit_log.c.seq == after_seq)
                                  ).one_or_none()
    prev_hash = previous.hash if previous is not None else "0" * 64
    template = _entry_from_row(connection.execute(select(audit_log).limit(1)).one())
    _shift_after(connection, after_seq)
    forged = seal(prev_hash, after_seq + 1, template.recorded_at, sample_event(
        template.event.subject, disclosure=True))
    connection.execute(audit_log.insert().values(_row_values(forged)))


def reseal_from(connection: Connection, seq: int) -> None:
    """Rewrite entry `seq` and re-seal every later entry and the head: a full rewrite of
    the tail, which only an anchor kept outside the database can reveal."""
    rows = connection.execute(select(audit_log).where(audit_log.c.seq >= seq)
                              .order_by(audit_log.c.seq)).all()
    prev_hash = _hash_before(connection, seq)
    for row in rows:
        entry = _entry_from_row(row)
        event = entry.event
        if entry.seq == seq:
            event = sample_event(event.subject, disclosure=True)
        resealed = seal(prev_hash, entry.seq, entry.recorded_at, event)
        connection.execute(update(audit_log).where(audit_log.c.seq == entry.seq)
                           .values(_row_values(resealed)))
        prev_hash = resealed.hash
    connection.execute(update(audit_chain_head).values(hash=prev_hash))


def _hash_before(connection: Connection, seq: int) -> str:
    found = connection.execute(select(audit_log.c.hash).where(audit_log.c.seq == seq - 1)
                               ).scalar_one_or_none()
    return found or "0" * 64


def _shift_after(connection: Connection, after_seq: int) -> None:
    # Via negative numbers: PostgreSQL checks the primary key row by row, so a direct
    # `seq = seq + 1` would collide with the next row.
    later = audit_log.c.seq > after_seq
    connection.execute(update(audit_log).where(later).values(seq=-audit_log.c.seq - 1))
    connection.execute(update(audit_log).where(audit_log.c.seq < 0).values(seq=-audit_log.c.seq))


def _different(column: str, value: Any, connection: Connection) -> Any:
    if column == "seq":
        return int(connection.execute(select(func.max(audit_log.c.seq))).scalar_one()) + 100
    if column == "recorded_at":
        return value + timedelta(microseconds=1)
    if column == "kind":
        return "disclosure" if value == "access" else "access"
    if column in ("resource_ids", "fields"):
        return json.dumps([*json.loads(value), "extra_field"])
    if column in ("hash", "prev_hash"):
        return value[:-1] + ("1" if value[-1] != "1" else "2")
    if value is None:
        return new_id("con")
    return value[:-1] + ("b" if value[-1] != "b" else "c")
