"""The inbox: the ids of the events a service has already applied.

Recording the id in the same transaction as the handler's effects makes a redelivered
event a no-op. On PostgreSQL two consumers holding the same event at once serialise
on the primary key: the second insert waits for the first transaction and then finds
the id (the first committed) or takes over (the first rolled back).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.messaging.envelope import CloudEvent
from shared.messaging.tables import inbox

PRUNE_CHUNK = 5000


def record_event(session: Session, event: CloudEvent, now: datetime) -> bool:
    """Record `event` as applied; False when it already was (the caller must do nothing)."""
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (insert(inbox).values(event_id=event.id, event_type=event.type, processed_at=now)
                 .on_conflict_do_nothing().returning(inbox.c.event_id))
    # RETURNING, not rowcount: psycopg through SQLAlchemy 2.1 reports -1 for INSERTs.
    return session.execute(statement).first() is not None


def prune_inbox(connection: Connection, older_than: datetime) -> int:
    """Forget ids applied before `older_than`. Keep this far longer than any redelivery
    could take (a relay retry, a DLQ replay): a forgotten id would be applied again."""
    removed = 0
    while True:
        chunk = select(inbox.c.event_id).where(inbox.c.processed_at < older_than)
        count = connection.execute(delete(inbox).where(
            inbox.c.event_id.in_(chunk.limit(PRUNE_CHUNK).scalar_subquery())))
        removed += count.rowcount
        if count.rowcount < PRUNE_CHUNK:
            return removed
