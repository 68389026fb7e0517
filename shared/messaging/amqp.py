"""Connections to RabbitMQ with the timeouts our loops rely on, backoff, and a publisher
that reports what the broker did with each message (publisher confirms + mandatory).
"""

from __future__ import annotations

import contextlib
import enum
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pika
import pika.exceptions
import pika.frame
import pika.spec
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


class ConfirmsMissing(pika.exceptions.AMQPError):
    """The broker answered none of a batch's outstanding messages within `confirm_timeout`."""


class Outcome(enum.Enum):
    CONFIRMED = "confirmed"  # routed to at least one queue and the broker took responsibility
    UNROUTABLE = "unroutable"  # returned (mandatory): no queue is bound for the routing key
    REJECTED = "rejected"  # nacked, e.g. a queue at its length limit (overflow=reject-publish)


@dataclass(frozen=True)
class Message:
    routing_key: str
    body: bytes
    properties: pika.BasicProperties


@dataclass
class Published:
    """What the broker said about a batch: `outcomes[i]` for each message `i` it answered,
    and the broker error that ended the batch early, if one did (the messages without
    an outcome may or may not have arrived: publish them again)."""

    outcomes: dict[int, Outcome] = field(default_factory=dict)
    failure: BaseException | None = None


class ConfirmingPublisher:
    """One connection and one confirm-mode channel; connects lazily, raises broker errors.

    `publish_many` sends a whole batch before it waits, then collects the broker's
    confirms (one `basic.ack`/`basic.nack` may answer several messages) and returns
    (`basic.return`, sent before the ack of a mandatory message no queue took, matched by
    `message_id`): one wait for the batch instead of one a message. pika's blocking
    channel can only wait for each publish in turn, so confirm mode is switched on, and
    messages are published, on the channel object underneath it (`BlockingChannel._impl`,
    a `pika.channel.Channel`), and I/O runs through the blocking channel's own wait
    (`_flush_output`), which raises when the channel or the connection closes. Both are
    pika internals; pyproject holds pika below 1.5 for that reason.
    """

    def __init__(self, amqp_url: str, topology: Topology, connection_name: str, *,
                 confirm_timeout: float = 30.0) -> None:
        self.amqp_url = amqp_url
        self.topology = topology
        self.connection_name = connection_name
        self.confirm_timeout = confirm_timeout  # a broker that never answers: give up, retry
        self._connection: pika.BlockingConnection | None = None
        self._channel: BlockingChannel | None = None
        self._next_tag = 1  # the broker numbers a confirm-mode channel's publishes from 1
        self._waiting: dict[int, tuple[int, str | None]] = {}  # tag -> (index, message_id)
        self._returned: list[str | None] = []  # message ids returned, not yet confirmed
        self._answers: dict[int, Outcome] = {}  # index -> outcome, for the batch under way

    def ensure_connected(self) -> BlockingChannel:
        if self._channel is None or not self._channel.is_open:
            self.close()
            self._connection = connect(self.amqp_url, self.connection_name)
            channel = self._connection.channel()
            self._confirm_mode(channel)
            self.topology.declare_exchange(channel)
            self._channel = channel
        return self._channel

    def publish(self, routing_key: str, body: bytes, properties: pika.BasicProperties,
                exchange: str | None = None) -> Outcome:
        """Publish one message and wait for the broker's answer; raises a broker error."""
        published = self.publish_many([Message(routing_key, body, properties)], exchange)
        if published.failure is not None:
            raise published.failure
        return published.outcomes[0]

    def publish_many(self, messages: Sequence[Message], exchange: str | None = None
                     ) -> Published:
        """Publish every message, then wait for the broker's answers to all of them; a
        broker error is returned with the answers received before it, not raised.
        Messages of one batch need distinct `message_id`s (how returns are matched)."""
        ids = [message.properties.message_id for message in messages]
        if len(messages) > 1 and (None in ids or len(set(ids)) != len(ids)):
            raise ValueError("a batch needs a distinct message_id on every message")
        if not messages:
            return Published()
        target = self.topology.exchange if exchange is None else exchange
        self._waiting, self._returned, self._answers = {}, [], {}
        try:
            channel = self.ensure_connected()
            for index, message in enumerate(messages):
                channel._impl.basic_publish(target, message.routing_key, message.body,
                                            message.properties, mandatory=True)
                self._waiting[self._next_tag] = (index, message.properties.message_id)
                self._next_tag += 1
            self._wait_for_answers(channel)
        except BROKER_ERRORS as exc:
            self.close()  # what the channel still owes is lost: count afresh on a new one
            return Published(dict(self._answers), exc)
        return Published(dict(self._answers))

    def _wait_for_answers(self, channel: BlockingChannel) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.confirm_timeout
        # The timer only wakes the I/O wait at the deadline (the blocking connection runs
        # its callback later, outside this wait); the waiter reads the clock.
        timer = self._connection.call_later(self.confirm_timeout, lambda: None)
        try:
            channel._flush_output(lambda: not self._waiting,
                                  lambda: time.monotonic() >= deadline)
        finally:
            self._connection.remove_timeout(timer)
        if self._waiting and time.monotonic() >= deadline:
            raise ConfirmsMissing(f"{len(self._waiting)} messages unanswered after "
                                  f"{self.confirm_timeout} s")
        if self._waiting:  # the wait ended early: the channel closed without raising
            raise pika.exceptions.ChannelWrongStateError("channel closed")

    def _confirm_mode(self, channel: BlockingChannel) -> None:
        selected: list[object] = []
        channel._impl.confirm_delivery(ack_nack_callback=self._on_confirm,
                                       callback=selected.append)
        channel._impl.add_on_return_callback(self._on_return)
        channel._flush_output(lambda: bool(selected))
        self._next_tag = 1

    def _on_confirm(self, frame: pika.frame.Method) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tags = ([tag for tag in self._waiting if tag <= method.delivery_tag]
                if method.multiple else [method.delivery_tag])
        for tag in tags:
            entry = self._waiting.pop(tag, None)
            if entry is None:
                continue
            index, message_id = entry
            if not acked:
                self._answers[index] = Outcome.REJECTED
            elif message_id in self._returned:
                self._returned.remove(message_id)
                self._answers[index] = Outcome.UNROUTABLE
            else:
                self._answers[index] = Outcome.CONFIRMED

    def _on_return(self, _channel: object, _method: object,
                   properties: pika.BasicProperties, _body: bytes) -> None:
        self._returned.append(properties.message_id)

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
