"""The webhook tables of every service database (migration m0003)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)

from shared.db import UtcDateTime, mechanism_metadata

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias).
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")
_PENDING = "status = 'pending'"
_KNOWN_STATUS = "status IN ('pending', 'delivered', 'exhausted', 'abandoned')"

# Ids of the webhooks we accepted, per sender: a resend (same id, fresh timestamp and
# signature) is recognised for as long as the row is kept.
received_webhooks = Table(
    "received_webhooks",
    mechanism_metadata,
    Column("source", String(80), primary_key=True),
    Column("webhook_id", String(255), primary_key=True),
    Column("received_at", UtcDateTime(), nullable=False, index=True),
)

# One row per webhook to send. Its id is the `webhook-id` the receiver sees, the same
# on every attempt. The body is stored encrypted under the subject's key, bound to this
# row, and decrypted only to be sent.
webhook_deliveries = Table(
    "webhook_deliveries",
    mechanism_metadata,
    Column("id", String(40), primary_key=True),
    Column("endpoint_id", String(40), nullable=False, index=True),
    Column("event_type", String(200), nullable=False),
    Column("tenant", String(40), nullable=False),
    Column("subject", String(80), nullable=False),
    Column("payload_ciphertext", Text, nullable=False),
    Column("status", String(16), nullable=False),
    # Times claimed for sending (so also the number of the attempt in flight).
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    # When a pending delivery is next due; while claimed, when the claim lapses.
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("claim_token", String(32), nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(40), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=True),
    CheckConstraint(_KNOWN_STATUS, name="status"),
    Index("ix_webhook_deliveries_due", "next_attempt_at",
          postgresql_where=text(_PENDING), sqlite_where=text(_PENDING)),
    Index("ix_webhook_deliveries_status_finished_at", "status", "finished_at"),
)

# One row per HTTP attempt: what happened, never what was sent or answered.
webhook_attempts = Table(
    "webhook_attempts",
    mechanism_metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40),
           ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("attempt", Integer, nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error_class", String(40), nullable=True),
)
