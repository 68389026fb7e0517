"""Exchanges and queues, declared from code; declaring twice with the same settings is a
no-op, so every process declares what it uses when it connects.

- `<exchange>`: durable topic exchange for domain events; routing key = event type.
- `<exchange>.<service>`: one durable quorum queue per consuming service, bound to the
  event types it handles. Failed deliveries return to it until `x-delivery-limit`, then
  the broker dead-letters them (at-least-once, which requires `overflow=reject-publish`).
- `<exchange>.dlx`: direct exchange for dead letters; each service queue dead-letters
  with its own name as routing key, so one DLX serves every service.
- `<exchange>.<service>.dlq`: the service's dead-letter queue (quorum, durable).

Changing a queue argument of an existing queue makes the broker refuse the declaration
(PRECONDITION_FAILED): such a change needs a new queue or an operator policy.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pika.adapters.blocking_connection import BlockingChannel

DEFAULT_DELIVERY_LIMIT = 5


@dataclass(frozen=True)
class Topology:
    exchange: str
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    max_length: int | None = None

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dlx"

    def queue(self, service: str) -> str:
        return f"{self.exchange}.{service}"

    def dead_letter_queue(self, service: str) -> str:
        return f"{self.queue(service)}.dlq"

    def queue_arguments(self, service: str) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": self.queue(service),
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
            "x-delivery-limit": self.delivery_limit,
        }
        if self.max_length is not None:
            arguments["x-max-length"] = self.max_length
        return arguments

    def declare_exchange(self, channel: BlockingChannel) -> None:
        channel.exchange_declare(self.exchange, exchange_type="topic", durable=True)

    def declare_service(self, channel: BlockingChannel, service: str,
                        event_types: Iterable[str]) -> None:
        """The exchanges, the service's queue and dead-letter queue, and its bindings."""
        self.declare_exchange(channel)
        channel.exchange_declare(self.dead_letter_exchange, exchange_type="direct", durable=True)
        dead_letters = self.dead_letter_queue(service)
        channel.queue_declare(dead_letters, durable=True, arguments={"x-queue-type": "quorum"})
        channel.queue_bind(dead_letters, self.dead_letter_exchange, routing_key=self.queue(service))
        queue = self.queue(service)
        channel.queue_declare(queue, durable=True, arguments=self.queue_arguments(service))
        for event_type in sorted(set(event_types)):
            channel.queue_bind(queue, self.exchange, routing_key=event_type)

    def delete_service(self, channel: BlockingChannel, service: str) -> None:
        """Remove a service's queues (tests and decommissioning; exchanges are shared)."""
        channel.queue_delete(self.queue(service))
        channel.queue_delete(self.dead_letter_queue(service))

    def delete_exchanges(self, channel: BlockingChannel) -> None:
        channel.exchange_delete(self.exchange)
        channel.exchange_delete(self.dead_letter_exchange)
