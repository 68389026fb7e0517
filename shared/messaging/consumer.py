"""ConsumerRunner: a service's event consumer, from its queue to `EventApplier`.

Manual acks and a prefetch window; a message is acked only after its transaction
committed, so a crash anywhere before the ack only causes a redelivery that the inbox
absorbs. What is received while busy is applied in one transaction (one commit for the
lot); if anything in that transaction fails, each message is applied on its own.

What happens to a message that cannot be applied:
- **Malformed** (not a CloudEvent, no handler for its type, a sensitive field that is
  not a ciphertext): rejected without requeue, so the broker dead-letters it at once.
- **Handler or decryption failure**: after a short pause (growing with the broker's
  `x-delivery-count`) it is nacked with requeue; the quorum queue counts the delivery
  and dead-letters it past `x-delivery-limit`. The pause keeps a transient fault from
  burning every attempt within milliseconds.
- **Database unreachable**: not the message's fault, so it is not counted: the message
  is held while the runner waits for the database, then applied.

Deliveries are buffered by the pika callback and handled outside it, so the runner can
wait (answering heartbeats) in the middle of a message. On stop it cancels the consumer
and finishes what it already received. RabbitMQ 3.x counts a message returned by a
closed channel as a delivery, so a consumer that crashes repeatedly eats into the
delivery limit of what it had prefetched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.messaging.amqp import BROKER_ERRORS, Backoff, connect
from shared.messaging.applier import Delivery, EventApplier, Handler, Verdict
from shared.messaging.inbox import prune_inbox
from shared.messaging.sealing import FieldCipherLike
from shared.messaging.topology import DEFAULT_DELIVERY_LIMIT, Topology

log = logging.getLogger("bridgeline.messaging.consumer")
PRUNE_INTERVAL = timedelta(minutes=10)


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    malformed: int = 0
    failed: int = 0

    def count(self, verdict: Verdict) -> None:
        setattr(self, verdict.value, getattr(self, verdict.value) + 1)


class ConsumerRunner:
    def __init__(self, engine: Engine, amqp_url: str, exchange: str, service: str,
                 handlers: Mapping[str, Handler], cipher: FieldCipherLike, *,
                 prefetch: int = 16, delivery_limit: int = DEFAULT_DELIVERY_LIMIT,
                 retry_delay: float = 0.2, retry_max_delay: float = 2.0,
                 reconnect_max_delay: float = 10.0,
                 inbox_retention: timedelta = timedelta(days=30)) -> None:
        self.engine = engine
        self.applier = EventApplier(engine, handlers, cipher)
        self.amqp_url = amqp_url
        self.topology = Topology(exchange, delivery_limit=delivery_limit)
        self.service = service
        self.prefetch = prefetch
        self.retry_delay = retry_delay
        self.retry_max_delay = retry_max_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.inbox_retention = inbox_retention
        self.stats = ConsumerStats()
        self._received: deque[Delivery] = deque()
        self._last_prune: datetime | None = None

    def run_forever(self, stop: threading.Event) -> None:
        """Consume until `stop` is set, reconnecting with backoff when the broker goes."""
        backoff = Backoff(initial=0.5, maximum=self.reconnect_max_delay)
        while not stop.is_set():
            try:
                self._consume(stop, backoff)
            except BROKER_ERRORS as exc:
                delay = backoff.next_delay()
                log.warning("consumer disconnected", extra={"fields": {
                    "queue": self.topology.queue(self.service),
                    "exc_type": type(exc).__name__, "retry_in_s": round(delay, 2)}})
                stop.wait(delay)

    def _consume(self, stop: threading.Event, backoff: Backoff) -> None:
        connection = connect(self.amqp_url, f"bridgeline-consumer-{self.service}")
        try:
            channel = connection.channel()
            self.topology.declare_service(channel, self.service, self.applier.handlers)
            channel.basic_qos(prefetch_count=self.prefetch)
            tag = channel.basic_consume(self.topology.queue(self.service), self._on_message)
            backoff.reset()
            while not stop.is_set():
                connection.process_data_events(time_limit=0.25)
                self._settle_received(connection, channel, stop)
                self._prune_when_due()
            channel.basic_cancel(tag)
            self._settle_received(connection, channel, stop)
        finally:
            self._received.clear()  # unacked: the broker redelivers them
            if connection.is_open:
                connection.close()

    def _on_message(self, _channel: BlockingChannel, method: Any,
                    properties: pika.BasicProperties, body: bytes) -> None:
        self._received.append(Delivery(method.delivery_tag, properties, body))

    def _settle_received(self, connection: pika.BlockingConnection, channel: BlockingChannel,
                         stop: threading.Event) -> None:
        while self._received:
            batch = [self._received.popleft() for _ in range(len(self._received))]
            verdicts = self.applier.apply_together(batch) if len(batch) > 1 else None
            if verdicts is None:
                verdicts = [self.applier.apply(delivery, stop,
                                               lambda s: self._sleep(connection, s, stop))
                            for delivery in batch]
            for delivery, verdict in zip(batch, verdicts, strict=True):
                self.stats.count(verdict)
                self._answer(connection, channel, delivery, verdict, stop)

    def _answer(self, connection: pika.BlockingConnection, channel: BlockingChannel,
                delivery: Delivery, verdict: Verdict, stop: threading.Event) -> None:
        if verdict in (Verdict.APPLIED, Verdict.DUPLICATE):
            channel.basic_ack(delivery.tag)
        elif verdict is Verdict.MALFORMED:
            channel.basic_reject(delivery.tag, requeue=False)
        else:
            self._sleep(connection, self.retry_pause(delivery), stop)
            channel.basic_nack(delivery.tag, requeue=True)

    def retry_pause(self, delivery: Delivery) -> float:
        count = int(delivery.header("x-delivery-count", 0) or 0)
        return min(self.retry_max_delay, self.retry_delay * 2 ** min(count, 16))

    @staticmethod
    def _sleep(connection: pika.BlockingConnection, seconds: float,
               stop: threading.Event) -> None:
        """Wait up to `seconds`, answering heartbeats, returning early on stop."""
        deadline = time.monotonic() + seconds
        while not stop.is_set() and time.monotonic() < deadline:
            connection.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _prune_when_due(self) -> None:
        now = datetime.now(UTC)
        if self._last_prune is not None and now - self._last_prune < PRUNE_INTERVAL:
            return
        self._last_prune = now
        try:
            with self.engine.begin() as connection:
                prune_inbox(connection, now - self.inbox_retention)
        except SQLAlchemyError as exc:
            log.warning("inbox prune failed", extra={"fields": {"exc_type": type(exc).__name__}})
