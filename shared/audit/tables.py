"""The audit tables, in every service database (migration m0004).

`audit_log` holds the entries; `audit_chain_head` holds one row, the newest entry's
sequence number and hash. The head row is what appends lock to take turns, and what
reveals entries cut off the end of the chain (which the chain alone cannot show).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from shared.db import UtcDateTime, mechanism_metadata

# SQLite makes only an INTEGER PRIMARY KEY the rowid alias.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")
HEAD_ROW_ID = 1

audit_log = Table(
    "audit_log",
    mechanism_metadata,
    # Assigned by AuditLog.append under the head row lock, never by the database, so that
    # a rolled-back append leaves no gap.
    Column("seq", _SEQ, primary_key=True, autoincrement=False),
    Column("recorded_at", UtcDateTime(), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("resource_type", String(40), nullable=False),
    Column("resource_ids", Text, nullable=False),  # JSON array of ids
    Column("fields", Text, nullable=False),  # JSON array of field names
    Column("purpose", String(40), nullable=False),
    Column("consent_id", String(80), nullable=True),
    Column("recipient_id", String(80), nullable=True),
    Column("recipient_role", String(40), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("kind IN ('access', 'disclosure')", name="kind"),
    Index("ix_audit_log_subject_kind_seq", "subject", "kind", "seq"),
)

audit_chain_head = Table(
    "audit_chain_head",
    mechanism_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", _SEQ, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint(f"id = {HEAD_ROW_ID}", name="single_row"),
)
