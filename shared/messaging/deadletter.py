"""A service's dead-letter queue: list what is in it (metadata only) and replay it.

Listing fetches every message without acknowledging it and then returns them all, so it
changes nothing but their order. Replaying republishes a message to the events exchange
under its original routing key (confirmed, mandatory) and only then removes it from the
dead-letter queue; the broker's `x-death` bookkeeping headers are dropped so that the
replayed message starts with a fresh delivery count. Event data is never read here
beyond the envelope's id, type and time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pika
from pika.adapters.blocking_connection import BlockingChannel

from shared.messaging.amqp import ConfirmingPublisher, Outcome, connect
from shared.messaging.topology import Topology


@dataclass(frozen=True)
class DeadLetter:
    event_id: str
    event_type: str
    event_time: str
    reason: str
    dead_lettered_at: datetime | None
    routing_key: str
    deaths: int


@dataclass
class ReplayResult:
    replayed: int = 0
    failed: int = 0  # returned unroutable or nacked: left in the dead-letter queue


@dataclass(frozen=True)
class _Fetched:
    tag: int
    properties: pika.BasicProperties
    body: bytes
    letter: DeadLetter


def describe(properties: pika.BasicProperties, body: bytes, source_queue: str) -> DeadLetter:
    envelope = _envelope(body)
    headers = properties.headers or {}
    deaths = [d for d in headers.get("x-death", []) if d.get("queue") == source_queue]
    death = deaths[0] if deaths else {}
    event_type = str(envelope.get("type") or properties.type or "-")
    routing_keys = death.get("routing-keys") or [event_type]
    return DeadLetter(
        event_id=str(envelope.get("id") or properties.message_id or "-"),
        event_type=event_type, event_time=str(envelope.get("time") or "-"),
        reason=str(death.get("reason") or headers.get("x-first-death-reason") or "-"),
        dead_lettered_at=death.get("time"), routing_key=str(routing_keys[0]),
        deaths=int(death.get("count", 0)),
    )


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def replay_properties(properties: pika.BasicProperties) -> pika.BasicProperties:
    headers = {k: v for k, v in (properties.headers or {}).items() if not k.startswith("x-")}
    return pika.BasicProperties(
        content_type=properties.content_type, delivery_mode=2,
        message_id=properties.message_id, type=properties.type,
        timestamp=properties.timestamp, headers=headers)


class DeadLetterQueue:
    def __init__(self, amqp_url: str, exchange: str, service: str) -> None:
        self.amqp_url = amqp_url
        self.topology = Topology(exchange)
        self.service = service

    @property
    def name(self) -> str:
        return self.topology.dead_letter_queue(self.service)

    def contents(self) -> list[DeadLetter]:
        with self._fetch_all() as (_channel, fetched):
            return [item.letter for item in fetched]

    def replay(self, wanted: Callable[[DeadLetter], bool]) -> ReplayResult:
        """Republish every dead letter for which `wanted` is true."""
        result = ReplayResult()
        publisher = ConfirmingPublisher(self.amqp_url, self.topology, "bridgeline-dlq-replay")
        try:
            with self._fetch_all() as (channel, fetched):
                for item in (i for i in fetched if wanted(i.letter)):
                    outcome = publisher.publish(item.letter.routing_key, item.body,
                                                replay_properties(item.properties))
                    if outcome is Outcome.CONFIRMED:
                        channel.basic_ack(item.tag)
                        result.replayed += 1
                    else:
                        result.failed += 1
        finally:
            publisher.close()
        return result

    @contextmanager
    def _fetch_all(self) -> Iterator[tuple[BlockingChannel, list[_Fetched]]]:
        """Every message now in the queue, unacknowledged; the rest go back on exit."""
        connection = connect(self.amqp_url, "bridgeline-dlq")
        try:
            channel = connection.channel()
            count = channel.queue_declare(self.name, passive=True).method.message_count
            yield channel, list(self._fetch(channel, count))
            channel.basic_nack(delivery_tag=0, multiple=True, requeue=True)
        finally:
            if connection.is_open:
                connection.close()

    def _fetch(self, channel: BlockingChannel, count: int) -> Iterator[_Fetched]:
        source_queue = self.topology.queue(self.service)
        for _ in range(count):  # bounded: a replayed message may come straight back
            method, properties, body = channel.basic_get(self.name, auto_ack=False)
            if method is None:
                return
            yield _Fetched(method.delivery_tag, properties, body,
                           describe(properties, body, source_queue))
