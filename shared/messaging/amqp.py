"""Connections to RabbitMQ with the timeouts our loops rely on, backoff, and a publisher
that reports what the broker did with each message (publisher confirms + mandatory).
"""

from __future__ import annotations

import contextlib
import enum
import random
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel

from shared.messaging.topology import Topology

# Anything that means "the broker, or our connection to it, is not usable right now".
BROKER_ERRORS: tuple[type[BaseException], ...] = (
    pika.exceptions.AMQPError,
    OSError,
)

# Short socket and handshake timeouts so that a loop asked to stop while the broker is
# unreachable (or a black hole) notices within a couple of seconds.
_DEFAULT_PARAMETERS = {
    "connection_attempts": 1,
    "socket_timeout": 2.0,
    "stack_timeout": 3.0,
    "blocked_connection_timeout": 30.0,
}


def connection_parameters(amqp_url: str, connection_name: str) -> pika.URLParameters:
    """Parameters from the URL, with our defaults for what the URL leaves out."""
    parameters = pika.URLParameters(amqp_url)
    given = parse_qs(urlsplit(amqp_url).query)
    for name, value in _DEFAULT_PARAMETERS.items():
        if name not in given:
            setattr(parameters, name, value)
    parameters.client_properties = {"connection_name": connection_name}
    return parameters


def connect(amqp_url: str, connection_name: str) -> pika.BlockingConnection:
    return pika.BlockingConnection(connection_parameters(amqp_url, connection_name))


@dataclass
class Backoff:
    """Exponential delays with jitter, so many processes do not reconnect in lockstep."""

    initial: float = 0.5
    maximum: float = 30.0
    _failures: int = field(default=0, init=False)

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2 ** min(self._failures, 30))
        self._failures += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._failures = 0


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"  # routed to at least one queue and the broker took responsibility
    UNROUTABLE = "unroutable"  # returned (mandatory): no queue is bound for the routing key
    REJECTED = "rejected"  # nacked, e.g. a queue at its length limit (overflow=reject-publish)


class ConfirmingPublisher:
    """One connection and one confirm-mode channel; connects lazily, raises broker errors."""

    def __init__(self, amqp_url: str, topology: Topology, connection_name: str) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.connection_name = connection_name
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None

    def ensure_connected(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = connect(self.amqp_url, self.connection_name)
            channel = self._connection.channel()
            channel.confirm_delivery()
            self.topology.declare_exchange(channel)
            self._channel = channel
        return self._channel

    def publish(self, routing_key: str, body: bytes, properties: pika.BasicProperties,
                exchange: str | None = None) -> Outcome:
        channel = self.ensure_connected()
        target = self.topology.exchange if exchange is None else exchange
        try:
            channel.basic_publish(target, routing_key, body, properties, mandatory=True)
        except pika.exceptions.UnroutableError:
            return Outcome.UNROUTABLE
        except pika.exceptions.NackError:
            return Outcome.REJECTED
        return Outcome.CONFIRMED

    def idle(self, seconds: float) -> None:
        """Wait while answering heartbeats, so an idle connection is not dropped."""
        if self._connection is not None and self._connection.is_open:
            self._connection.process_data_events(time_limit=seconds)
        else:
            raise pika.exceptions.ConnectionWrongStateError("not connected")

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None and connection.is_open:
            # A failing close means the connection is already gone: nothing to release.
            with contextlib.suppress(*BROKER_ERRORS):
                connection.close()
