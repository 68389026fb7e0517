"""The transactional outbox: events are rows written in the caller's own transaction.

If the transaction commits, the relay will publish the event (at least once); if it
rolls back, the event never existed. Sensitive fields are encrypted here, before the
row is written, so neither the table nor the broker ever holds them in plaintext.

A row that one event announces can go with it in a single statement
(`Outbox.add_with`): on PostgreSQL the row's INSERT becomes a data-modifying CTE of the
outbox INSERT, atomic on its own, so the request needs no BEGIN and COMMIT round trips.
A row to be written only if a lookup finds nothing (`Outbox.add_unless`) takes the
lookup into the same statement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, delete, exists, func, insert, or_, select, update
from sqlalchemy.orm import Session

from shared.db.direct import DirectStatement, bound_values, connection_of
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
        row = self._row(event)
        _INSERT.execute(target, row)
        return str(row["event_id"])

    def add_with(self, target: Session | Connection, event: CloudEvent, write: Write) -> str:
        """Run `write` and write `event`, atomically; returns the event id.

        On PostgreSQL they are one statement, atomic even on an autocommit connection
        (`shared.db.kept`), and one round trip. Elsewhere they are two statements in
        `target`'s transaction, as `write.run(target)` then `add(target, event)`."""
        row = self._row(event)
        if connection_of(target).dialect.name != "postgresql":
            write.run(target)
            _INSERT.execute(target, row)
        else:
            write.statement.together.execute(target, {**write.params, **_prefixed(row)})
        return str(row["event_id"])

    def add_unless(self, target: Session | Connection, event: CloudEvent,
                   write: Write) -> dict[str, Any] | None:
        """Unless the lookup of `write`'s statement (`Announced(..., unless=...)`) finds
        a row: run `write` and write `event`, atomically, and return None. If it finds
        one, write nothing and return that row (a dict by column key).

        On PostgreSQL the lookup, the write and the event are one statement (one round
        trip; all three see the same snapshot). Elsewhere the lookup, then `add_with`,
        in `target`'s transaction. Neither locks: two callers that both find nothing
        both write, as with a lookup followed by a write."""
        guarded = write.statement.unless
        if guarded is None:
            raise ValueError("this write has no lookup: build it with Announced(unless=...)")
        if connection_of(target).dialect.name != "postgresql":
            found = guarded.lookup.first(target, write.params)
            if found is None:
                self.add_with(target, event, write)
            return found
        return guarded.together.first(target, {**write.params, **_prefixed(self._row(event))})

    def _row(self, event: CloudEvent) -> dict[str, Any]:
        sealed = self.sealer.seal(event)
        now = datetime.now(UTC)
        return {
            "event_id": sealed.id, "event_type": sealed.type, "body": sealed.to_json(),
            "traceparent": outgoing_traceparent(), "created_at": now, "next_attempt_at": now,
            "attempts": 0,
        }


class Announced:
    """The INSERT of a row that an event announces (`Outbox.add_with`): alone, and (for
    PostgreSQL) with the outbox row's INSERT as one statement. Every column of `table`
    (or those in `names`) is a bind parameter named after it.

    With `unless`, a lookup (a SELECT whose bind parameters are among the row's, e.g.
    "this employee's earlier row"), the row can also be written only if the lookup finds
    nothing (`Outbox.add_unless`)."""

    def __init__(self, table: Table, names: tuple[str, ...] | None = None, *,
                 unless: Select[Any] | None = None) -> None:
        values = bound_values(table, names)
        events = bound_values(outbox, _INSERTED, prefix=_PREFIX)
        self.alone = DirectStatement(insert(table).values(values))
        self.together = DirectStatement(
            insert(outbox).values(events).add_cte(insert(table).values(values).cte("announced")))
        self.unless = None if unless is None else _Guarded(table, values, events, unless)


class _Guarded:
    """An `Announced` row with its lookup: the lookup alone, and (for PostgreSQL) the
    lookup, the row and the event as one statement that writes only if the lookup finds
    nothing and returns what it found."""

    def __init__(self, table: Table, values: dict[str, Any], events: dict[str, Any],
                 lookup: Select[Any]) -> None:
        self.lookup = DirectStatement(lookup)
        found = lookup.cte("found")
        absent = ~exists(found.select())
        row = insert(table).from_select(list(values), select(*values.values()).where(absent))
        announcement = insert(outbox).from_select(
            list(events), select(*events.values()).where(absent))
        self.together = DirectStatement(select(found).add_cte(
            row.cte("announced"), announcement.cte("announcement")))


@dataclass(frozen=True, slots=True)
class Write:
    """One run of an `Announced` statement: its parameter values."""

    statement: Announced
    params: Mapping[str, Any]

    def run(self, target: Session | Connection) -> None:
        """The write alone, in `target`'s transaction."""
        self.statement.alone.execute(target, self.params)


def _prefixed(row: Mapping[str, Any]) -> dict[str, Any]:
    return {_PREFIX + key: value for key, value in row.items()}


# On the driver (`shared.db.direct`): every request that changes state writes one.
# One statement object, values as parameters: building `.values(...)` anew per event
# cost more CPU than executing it.
_INSERT = DirectStatement(outbox.insert().values(bound_values(outbox, _INSERTED)))
_PREFIX = "outbox_"  # the outbox's bind names beside an announced write's own


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
