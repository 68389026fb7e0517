"""The transactional outbox: events are rows written in the caller's own transaction.

If the transaction commits, the relay will publish the event (at least once); if it
rolls back, the event never existed. Sensitive fields are encrypted here, before the
row is written, so neither the table nor the broker ever holds them in plaintext.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, or_, select, update
from sqlalchemy.orm import Session

from shared.db.direct import DirectStatement, bound_values
from shared.messaging.envelope import CloudEvent
from shared.messaging.sealing import EventSealer, FieldCipherLike
from shared.messaging.tables import outbox
from shared.messaging.tracing import outgoing_traceparent

PRUNE_CHUNK = 5000
_INSERTED = ("event_id", "event_type", "body", "traceparent", "created_at", "next_attempt_at",
             "attempts")


class Outbox:
    def __init__(self, cipher: FieldCipherLike) -> None:
        self.sealer = EventSealer(cipher)

    def add(self, target: Session | Connection, event: CloudEvent) -> str:
        """Write `event` in `target`'s current transaction; returns the event id."""
        sealed = self.sealer.seal(event)
        now = datetime.now(UTC)
        # One statement object, values as parameters: building `.values(...)` anew per
        # event cost more CPU than executing it.
        _INSERT.execute(target, {
            "event_id": sealed.id, "event_type": sealed.type, "body": sealed.to_json(),
            "traceparent": outgoing_traceparent(), "created_at": now, "next_attempt_at": now,
            "attempts": 0,
        })
        return sealed.id


# On the driver (`shared.db.direct`): every request that changes state writes one.
_INSERT = DirectStatement(outbox.insert().values(bound_values(outbox, _INSERTED)))


def prune_outbox(connection: Connection, older_than: datetime) -> int:
    """Delete rows sent (or parked) before `older_than`, in chunks; returns how many."""
    finished_before = or_(outbox.c.sent_at < older_than, outbox.c.parked_at < older_than)
    removed = 0
    while True:
        chunk = select(outbox.c.id).where(finished_before).limit(PRUNE_CHUNK)
        count = connection.execute(delete(outbox).where(outbox.c.id.in_(chunk.scalar_subquery())))
        removed += count.rowcount
        if count.rowcount < PRUNE_CHUNK:
            return removed


def pending_count(connection: Connection) -> int:
    """Rows neither sent nor parked (for metrics and operators)."""
    query = select(func.count()).select_from(outbox).where(
        outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None))
    return int(connection.execute(query).scalar_one())


def requeue_parked(connection: Connection, event_ids: list[str] | None = None) -> int:
    """Give parked (unroutable) events another round of publishing; returns how many."""
    query = update(outbox).where(outbox.c.parked_at.is_not(None))
    if event_ids is not None:
        query = query.where(outbox.c.event_id.in_(event_ids))
    now = datetime.now(UTC)
    return connection.execute(query.values(parked_at=None, next_attempt_at=now)).rowcount
