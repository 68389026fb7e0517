"""OutboxRelay: publishes committed outbox rows to RabbitMQ, at least once.

One batch = one database transaction: claim pending rows (row locks), publish them all
with `mandatory=True` and then wait once for the broker's publisher confirms (not once a
message), mark the confirmed ones sent, commit. A crash
between publishing and committing leaves the rows pending, so they are published again:
consumers deduplicate by event id (the inbox).

- **Several relays at once.** PostgreSQL: the claim is `FOR UPDATE SKIP LOCKED`, so
  concurrent relays take disjoint batches and never publish a row twice. SQLite has no
  row locks; the claim is an UPDATE, which takes SQLite's single write lock until the
  batch commits, so relays on one SQLite file simply take turns (and the service's own
  writes wait for at most one batch). Ordering across concurrent relays is not kept.
- **Unroutable events** (returned because no queue is bound to the type) are not marked
  sent: a consumer may not have declared its queue yet, typically just after a deploy.
  They are retried with backoff, and after `unroutable_grace` parked (`parked_at`, with
  a warning in the log) so that an event type nobody subscribes to does not retry
  forever; `requeue_parked` puts them back.
- **Rejected** (nacked) events, e.g. by a full queue, are retried with backoff, forever.
- **Broker away:** the relay connects before claiming rows (so an outage holds no locks)
  and reconnects with exponential backoff; rows wait in the table meanwhile.
- **Waking up.** When a batch comes back short the relay waits for new rows: on
  PostgreSQL on a LISTEN connection that the outbox's commit notifies (see `notify`),
  so an event leaves within milliseconds instead of after up to a whole
  `poll_interval`; the poll stays as the fallback (and is all SQLite has).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
from sqlalchemy import Connection, Engine, Row, select, update
from sqlalchemy.exc import SQLAlchemyError

from shared.messaging.amqp import BROKER_ERRORS, Backoff, ConfirmingPublisher, Message, Outcome
from shared.messaging.envelope import MESSAGE_CONTENT_TYPE
from shared.messaging.notify import OutboxListener
from shared.messaging.outbox import prune_outbox
from shared.messaging.tables import outbox
from shared.messaging.topology import Topology
from shared.messaging.tracing import HEADER as TRACEPARENT

log = logging.getLogger("bridgeline.messaging.relay")
PERSISTENT = 2
STOP_CHECK_INTERVAL = 0.25  # how long an idle relay may take to notice `stop`


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    unroutable: int = 0
    rejected: int = 0


def message_properties(row: Row[Any]) -> pika.BasicProperties:
    return pika.BasicProperties(
        content_type=MESSAGE_CONTENT_TYPE, delivery_mode=PERSISTENT, message_id=row.event_id,
        type=row.event_type, timestamp=int(row.created_at.timestamp()),
        headers={TRACEPARENT: row.traceparent},
    )


class OutboxRelay:
    def __init__(self, engine: Engine, amqp_url: str, exchange: str, *, batch_size: int = 100,
                 poll_interval: float = 0.2, retention: timedelta = timedelta(days=7),
                 unroutable_grace: timedelta = timedelta(hours=1),
                 retry_max_delay: float = 60.0, reconnect_max_delay: float = 10.0,
                 prune_interval: timedelta = timedelta(minutes=10), listen: bool = True,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.engine = engine
        self.publisher = ConfirmingPublisher(amqp_url, Topology(exchange), "bridgeline-relay")
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.unroutable_grace = unroutable_grace
        self.retry_max_delay = retry_max_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.prune_interval = prune_interval
        self.clock = clock or (lambda: datetime.now(UTC))
        self._last_prune: datetime | None = None
        self.listener = OutboxListener(engine, enabled=listen)

    def publish_pending(self, batch_size: int | None = None) -> int:
        """Publish one batch; returns how many events were confirmed and marked sent.
        Raises a broker error (after saving progress) when the broker is unusable."""
        return self.relay_batch(batch_size or self.batch_size).sent

    def relay_batch(self, batch_size: int) -> BatchResult:
        """Claim, publish and record one batch in one transaction (see the module doc)."""
        self.publisher.ensure_connected()
        now = self.clock()
        with self.engine.begin() as connection:
            rows = self._claim(connection, batch_size, now)
            outcomes, failure = self._publish(rows)
            result = self._record(connection, rows, outcomes, now)
        if failure is not None:
            self.publisher.close()
            raise failure
        return result

    def run_forever(self, stop: threading.Event) -> None:
        """Relay until `stop` is set; survives broker and database outages."""
        backoff = Backoff(initial=0.5, maximum=self.reconnect_max_delay)
        try:
            while not stop.is_set():
                try:
                    self.listener.ensure_listening()  # before the claim: no commit missed
                    result = self.relay_batch(self.batch_size)
                    backoff.reset()
                    self._prune_when_due()
                    if result.claimed < self.batch_size:
                        self._wait_for_rows(stop)
                    else:
                        self.listener.wait(0)  # keep the server's notification queue short
                except BROKER_ERRORS as exc:
                    self._pause("broker unavailable", exc, backoff, stop)
                except SQLAlchemyError as exc:
                    self._pause("database unavailable", exc, backoff, stop)
        finally:
            self.close()

    def close(self) -> None:
        self.publisher.close()
        self.listener.close()

    def _wait_for_rows(self, stop: threading.Event) -> None:
        """Until a commit notifies us, `poll_interval` passes or `stop` is set, answering
        the broker's heartbeats meanwhile."""
        deadline = time.monotonic() + self.poll_interval
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if not self.listener.listening:
                self.publisher.idle(min(left, STOP_CHECK_INTERVAL))
                continue
            woken = self.listener.wait(min(left, STOP_CHECK_INTERVAL))
            self.publisher.idle(0)
            if woken:
                return

    def _claim(self, connection: Connection, batch_size: int, now: datetime) -> list[Row[Any]]:
        due = (select(outbox.c.id)
               .where(outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None),
                      outbox.c.next_attempt_at <= now)
               .order_by(outbox.c.id).limit(batch_size)
               .with_for_update(skip_locked=True))
        claim = (update(outbox).where(outbox.c.id.in_(due.scalar_subquery()))
                 .values(attempts=outbox.c.attempts + 1)
                 .returning(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.body,
                            outbox.c.traceparent, outbox.c.created_at, outbox.c.attempts))
        return sorted(connection.execute(claim).all(), key=lambda row: row.id)

    def _publish(self, rows: Sequence[Row[Any]]
                 ) -> tuple[dict[int, Outcome], BaseException | None]:
        """The whole batch in one wait for the broker's confirms; outcomes by row id."""
        published = self.publisher.publish_many(
            [Message(row.event_type, row.body.encode("utf-8"), message_properties(row))
             for row in rows])
        outcomes = {rows[index].id: outcome for index, outcome in published.outcomes.items()}
        return outcomes, published.failure

    def _record(self, connection: Connection, rows: Sequence[Row[Any]],
                outcomes: dict[int, Outcome], now: datetime) -> BatchResult:
        result = BatchResult(claimed=len(rows))
        confirmed = [row.id for row in rows if outcomes.get(row.id) is Outcome.CONFIRMED]
        if confirmed:
            self._mark_sent(connection, confirmed, now)
        result.sent = len(confirmed)
        for row in rows:
            outcome = outcomes.get(row.id)
            if outcome is Outcome.UNROUTABLE:
                result.unroutable += 1
                self._retry_or_park(connection, row, now)
            elif outcome is Outcome.REJECTED:
                result.rejected += 1
                self._retry_later(connection, row, now, "rejected")
        return result

    def _mark_sent(self, connection: Connection, ids: list[int], now: datetime) -> None:
        connection.execute(update(outbox).where(outbox.c.id.in_(ids))
                           .values(sent_at=now, last_error=None))

    def _retry_or_park(self, connection: Connection, row: Row[Any], now: datetime) -> None:
        if now - row.created_at < self.unroutable_grace:
            self._retry_later(connection, row, now, "unroutable")
            return
        connection.execute(update(outbox).where(outbox.c.id == row.id)
                           .values(parked_at=now, last_error="unroutable"))
        log.warning("unroutable event parked", extra={"fields": {
            "event_id": row.event_id, "event_type": row.event_type, "attempts": row.attempts}})

    def _retry_later(self, connection: Connection, row: Row[Any], now: datetime,
                     reason: str) -> None:
        delay = min(self.retry_max_delay, 2.0 ** min(row.attempts - 1, 16))
        connection.execute(update(outbox).where(outbox.c.id == row.id).values(
            next_attempt_at=now + timedelta(seconds=delay), last_error=reason))
        log.info("event not routed, will retry", extra={"fields": {
            "event_id": row.event_id, "event_type": row.event_type, "reason": reason,
            "retry_in_s": delay}})

    def _prune_when_due(self) -> None:
        now = self.clock()
        if self._last_prune is not None and now - self._last_prune < self.prune_interval:
            return
        with self.engine.begin() as connection:
            removed = prune_outbox(connection, now - self.retention)
        self._last_prune = now
        if removed:
            log.info("outbox pruned", extra={"fields": {"rows": removed}})

    def _pause(self, why: str, exc: BaseException, backoff: Backoff,
               stop: threading.Event) -> None:
        delay = backoff.next_delay()
        log.warning(f"relay paused: {why}", extra={"fields": {
            "exc_type": type(exc).__name__, "retry_in_s": round(delay, 2)}})
        self.publisher.close()
        stop.wait(delay)
