"""Applying delivered events to a service database, exactly once in effect (no broker here).

One transaction per event (or per batch, see `apply_together`): record the event id in
the inbox (a known id means a redelivery: nothing to do), decrypt the sensitive fields,
run the handler with the same session, commit. The caller acks only after that.

Handlers must not commit or roll back themselves, and must keep their effects in the
session they are given (events for other services go to the outbox in that session).
"""

from __future__ import annotations

import enum
import logging
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pika
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from shared.db import ping, session_factory
from shared.messaging.amqp import Backoff
from shared.messaging.envelope import CloudEvent, MalformedEvent
from shared.messaging.inbox import record_event
from shared.messaging.sealing import EventSealer, FieldCipherLike, SealedFieldError
from shared.messaging.tracing import HEADER as TRACEPARENT
from shared.messaging.tracing import traced

log = logging.getLogger("bridgeline.messaging.consumer")
Handler = Callable[[Session, CloudEvent], None]


class Verdict(enum.Enum):
    # Each value names the ConsumerStats counter it increments.
    APPLIED = "applied"  # ack
    DUPLICATE = "duplicates"  # ack: the inbox already has it
    MALFORMED = "malformed"  # reject without requeue: dead-lettered at once
    FAILED = "failed"  # nack with requeue: counted against the delivery limit


@dataclass(frozen=True)
class Delivery:
    tag: int
    properties: pika.BasicProperties
    body: bytes

    def header(self, name: str, default: Any = None) -> Any:
        return (self.properties.headers or {}).get(name, default)


@dataclass(frozen=True)
class _Decoded:
    event: CloudEvent
    handler: Handler
    traceparent: str | None


class EventApplier:
    def __init__(self, engine: Engine, handlers: Mapping[str, Handler],
                 cipher: FieldCipherLike) -> None:
        self.engine = engine
        self.sessions = session_factory(engine)
        self.handlers = dict(handlers)
        self.sealer = EventSealer(cipher)

    def apply(self, delivery: Delivery, stop: threading.Event,
              pause: Callable[[float], None] | None = None) -> Verdict:
        """Apply one delivery. While the database is unreachable the message is held (not
        counted as a failure): `pause(seconds)` waits, returning early once `stop` is set."""
        decoded = self._decode(delivery)
        if decoded is None:
            return Verdict.MALFORMED
        while True:
            try:
                with self.sessions.begin() as session:
                    return self._apply_in(session, decoded)
            except SealedFieldError:
                log.warning("sensitive field not sealed; dead-lettered", extra={"fields": {
                    "event_id": decoded.event.id, "event_type": decoded.event.type}})
                return Verdict.MALFORMED
            except Exception as exc:  # a handler bug must not kill the consumer
                if stop.is_set() or self.database_reachable():
                    _log_failure(decoded.event, delivery, exc)
                    return Verdict.FAILED
                self._wait_for_database(stop, pause or stop.wait)

    def apply_together(self, deliveries: list[Delivery]) -> list[Verdict] | None:
        """Apply several deliveries in one transaction (one commit instead of one each).
        None when any of them raised: everything was rolled back; apply them one by one."""
        decoded = [self._decode(delivery) for delivery in deliveries]
        try:
            with self.sessions.begin() as session:
                return [Verdict.MALFORMED if item is None else self._apply_in(session, item)
                        for item in decoded]
        except Exception:  # the one-by-one pass will tell which one, and log it
            return None

    def database_reachable(self) -> bool:
        try:
            ping(self.engine)
        except SQLAlchemyError:
            return False
        return True

    def _decode(self, delivery: Delivery) -> _Decoded | None:
        try:
            event = CloudEvent.from_json(delivery.body)
        except MalformedEvent:
            log.warning("malformed message dead-lettered",
                        extra={"fields": {"message_id": delivery.properties.message_id}})
            return None
        handler = self.handlers.get(event.type)
        if handler is None:
            log.warning("no handler for event type; dead-lettered",
                        extra={"fields": {"event_id": event.id, "event_type": event.type}})
            return None
        return _Decoded(event, handler, delivery.header(TRACEPARENT))

    def _apply_in(self, session: Session, decoded: _Decoded) -> Verdict:
        if not record_event(session, decoded.event, datetime.now(UTC)):
            return Verdict.DUPLICATE
        opened = self.sealer.open(decoded.event)
        with traced(decoded.traceparent):
            decoded.handler(session, opened)
        return Verdict.APPLIED

    def _wait_for_database(self, stop: threading.Event,
                           pause: Callable[[float], Any]) -> None:
        log.warning("database unreachable; holding the message until it is back")
        backoff = Backoff(initial=0.5, maximum=10.0)
        while not stop.is_set() and not self.database_reachable():
            pause(backoff.next_delay())


def _log_failure(event: CloudEvent, delivery: Delivery, exc: Exception) -> None:
    # The type and the place, never the message: it may quote event data.
    frames = traceback.extract_tb(exc.__traceback__)
    where = f"{frames[-1].filename}:{frames[-1].lineno} {frames[-1].name}" if frames else None
    log.warning("handler failed; message will be retried or dead-lettered", extra={
        "fields": {"event_id": event.id, "event_type": event.type,
                   "delivery_count": delivery.header("x-delivery-count", 0),
                   "exc_type": type(exc).__name__, "where": where}})
