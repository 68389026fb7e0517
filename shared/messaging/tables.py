"""The outbox and inbox tables, in every service database (migration m0002)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, text

from shared.db import UtcDateTime, mechanism_metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
_PENDING = "sent_at IS NULL AND parked_at IS NULL"

outbox = Table(
    "outbox",
    mechanism_metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False, unique=True),
    Column("event_type", String(200), nullable=False),
    # The whole CloudEvent as JSON, sensitive fields already encrypted: the relay
    # publishes it byte for byte and never needs a key.
    Column("body", Text, nullable=False),
    Column("traceparent", String(55), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("next_attempt_at", UtcDateTime(), nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", String(40), nullable=True),
    Column("sent_at", UtcDateTime(), nullable=True, index=True),
    # Set when an unroutable event has been retried for the whole grace period.
    Column("parked_at", UtcDateTime(), nullable=True),
    Index("ix_outbox_pending", "id", postgresql_where=text(_PENDING), sqlite_where=text(_PENDING)),
)

inbox = Table(
    "inbox",
    mechanism_metadata,
    Column("event_id", String(64), primary_key=True),
    Column("event_type", String(200), nullable=False),
    Column("processed_at", UtcDateTime(), nullable=False, index=True),
)
