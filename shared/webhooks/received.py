"""Replay protection for webhooks we receive: the ids we have already accepted.

Call `record_received` in the same transaction as the webhook's effects, before them:

    webhook = verified_webhook(request, provider_secrets)
    with sessions.begin() as session:
        if record_received(session, provider_id, webhook.id):
            apply(session, webhook)          # first time: do the work
    return "", 204                           # either way: the sender may stop retrying

Committed together, "2xx" means "stored", and a resent id changes nothing. A rolled back
transaction forgets the id too, so the sender's retry is applied. On PostgreSQL two
copies arriving at once serialise on the primary key: the second waits, then finds the
id. Senders retry with the same id and a fresh timestamp for days (Standard Webhooks'
schedule spans about 3 days), so ids are kept far longer than the 5-minute tolerance.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.webhooks.tables import received_webhooks

RECEIVED_RETENTION = timedelta(days=7)


def record_received(target: Session | Connection, source: str, webhook_id: str,
                    now: datetime | None = None) -> bool:
    """Record `webhook_id` from `source` (say, the provider id) as accepted, in the
    caller's transaction; False when it already was (the caller must then do nothing)."""
    bind = target.get_bind() if isinstance(target, Session) else target
    insert = pg_insert if bind.dialect.name == "postgresql" else sqlite_insert
    statement = (insert(received_webhooks)
                 .values(source=source, webhook_id=webhook_id,
                         received_at=now or datetime.now(UTC))
                 .on_conflict_do_nothing()
                 .returning(received_webhooks.c.webhook_id))
    # RETURNING, not rowcount: psycopg through SQLAlchemy reports -1 for INSERTs.
    return target.execute(statement).first() is not None


def prune_received(connection: Connection, older_than: datetime) -> int:
    """Forget ids accepted before `older_than` (keep them longer than any sender retries)."""
    statement = delete(received_webhooks).where(received_webhooks.c.received_at < older_than)
    return connection.execute(statement).rowcount
