"""Outbox and relay bookkeeping on SQLite, with a scripted publisher instead of a broker."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pika.exceptions
import pytest
from sqlalchemy import select, update

from shared.db import make_engine, session_factory
from shared.messaging import (
    CloudEvent,
    Outbox,
    OutboxRelay,
    Outcome,
    outbox,
    pending_count,
    requeue_parked,
    tracing,
)
from shared.messaging.amqp import Published
from shared.messaging.testing import FakeCipher, migrate_mechanisms


class ScriptedPublisher:
    """Answers each publish with the next scripted outcome (default: confirmed)."""

    def __init__(self):
        self.script: dict[str, list] = {}
        self.published: list[tuple[str, bytes, object]] = []
        self.connect_failures = 0
        self.connects = 0

    def ensure_connected(self):
        self.connects += 1
        if self.connect_failures:
            self.connect_failures -= 1
            raise pika.exceptions.AMQPConnectionError("broker away")

    def publish(self, routing_key, body, properties):
        answers = self.script.get(properties.message_id, [])
        answer = answers.pop(0) if answers else Outcome.CONFIRMED
        if isinstance(answer, Exception):
            raise answer
        self.published.append((routing_key, body, properties))
        return answer

    def publish_many(self, messages):
        published = Published()
        for index, message in enumerate(messages):
            try:
                published.outcomes[index] = self.publish(message.routing_key, message.body,
                                                         message.properties)
            except pika.exceptions.AMQPError as exc:
                published.failure = exc
                break
        return published

    def idle(self, seconds):
        time.sleep(seconds)

    def close(self):
        pass


class Clock:
    def __init__(self):
        self.offset = timedelta(0)

    def __call__(self):
        return datetime.now(UTC) + self.offset


@pytest.fixture
def engine(sqlite_url):
    migrate_mechanisms(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def relay(engine, clock):
    relay = OutboxRelay(engine, "amqp://unused", "bl.events", batch_size=10, clock=clock,
                        unroutable_grace=timedelta(minutes=10), poll_interval=0.05)
    relay.publisher = ScriptedPublisher()
    return relay


def write_events(engine, count=1, **fields):
    events = [CloudEvent(type="referral.created", source="/referral", data={"n": n}, **fields)
              for n in range(count)]
    with engine.begin() as connection:
        for event in events:
            Outbox(FakeCipher()).add(connection, event)
    return events


def rows(engine):
    with engine.connect() as connection:
        return connection.execute(select(outbox).order_by(outbox.c.id)).all()


def test_committed_events_are_published_once_in_order_and_marked_sent(engine, relay):
    events = write_events(engine, 3)
    with engine.connect() as connection:
        assert pending_count(connection) == 3
    assert relay.publish_pending() == 3
    assert relay.publish_pending() == 0
    with engine.connect() as connection:
        assert pending_count(connection) == 0
    published = relay.publisher.published
    assert [p.message_id for _, _, p in published] == [e.id for e in events]
    assert {key for key, _, _ in published} == {"referral.created"}
    assert CloudEvent.from_json(published[0][1]) == events[0]
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows(engine))


def test_outbox_writes_through_an_orm_session_too(engine, relay):
    with session_factory(engine).begin() as session:
        Outbox(FakeCipher()).add(session, CloudEvent(type="consent.granted", source="/r", data={}))
    assert relay.publish_pending() == 1


def test_rolled_back_transaction_leaves_nothing_to_publish(engine, relay):
    with pytest.raises(RuntimeError), engine.begin() as connection:
        Outbox(FakeCipher()).add(connection, CloudEvent(type="a.b", source="/s", data={}))
        raise RuntimeError("the state change failed")
    assert rows(engine) == []
    assert relay.publish_pending() == 0
    assert relay.publisher.published == []


def test_message_carries_the_trace_of_the_code_that_wrote_the_event(engine, relay):
    incoming = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.traced(incoming):
        write_events(engine)
    relay.publish_pending()
    _, _, properties = relay.publisher.published[0]
    traceparent = properties.headers["traceparent"]
    assert traceparent.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert properties.delivery_mode == 2
    assert properties.content_type.startswith("application/cloudevents+json")


def test_unroutable_event_is_retried_with_backoff_then_parked(engine, relay, clock):
    (event,) = write_events(engine)
    relay.publisher.script[event.id] = [Outcome.UNROUTABLE] * 3
    assert relay.publish_pending() == 0
    row = rows(engine)[0]
    assert row.sent_at is None and row.parked_at is None and row.last_error == "unroutable"
    assert row.next_attempt_at > clock()
    assert relay.publish_pending() == 0  # not due yet: nothing claimed
    assert row.attempts == rows(engine)[0].attempts
    clock.offset = timedelta(minutes=2)
    relay.publish_pending()
    clock.offset = timedelta(minutes=11)  # past the grace period
    relay.publish_pending()
    row = rows(engine)[0]
    assert row.sent_at is None and row.parked_at is not None
    clock.offset = timedelta(hours=5)
    assert relay.publish_pending() == 0  # parked rows are left alone
    with engine.begin() as connection:
        assert requeue_parked(connection) == 1
    assert relay.publish_pending() == 1


def test_rejected_event_is_retried_and_never_parked(engine, relay, clock):
    (event,) = write_events(engine)
    relay.publisher.script[event.id] = [Outcome.REJECTED, Outcome.REJECTED]
    clock.offset = timedelta(hours=2)
    assert relay.publish_pending() == 0
    clock.offset = timedelta(hours=3)
    assert relay.publish_pending() == 0
    assert rows(engine)[0].parked_at is None
    clock.offset = timedelta(hours=4)
    assert relay.publish_pending() == 1


def test_broker_lost_mid_batch_keeps_the_confirmed_part(engine, relay):
    events = write_events(engine, 5)
    relay.publisher.script[events[2].id] = [pika.exceptions.StreamLostError("gone")]
    with pytest.raises(pika.exceptions.StreamLostError):
        relay.publish_pending()
    assert [row.sent_at is not None for row in rows(engine)] == [True, True, False, False, False]
    assert relay.publish_pending() == 3
    assert [p.message_id for _, _, p in relay.publisher.published] == [e.id for e in events]


def test_broker_unreachable_claims_nothing(engine, relay):
    write_events(engine, 2)
    relay.publisher.connect_failures = 1
    with pytest.raises(pika.exceptions.AMQPConnectionError):
        relay.publish_pending()
    assert all(row.attempts == 0 for row in rows(engine))


def test_sent_rows_are_pruned_after_the_retention_period(engine, relay, clock):
    write_events(engine, 2)
    relay.publish_pending()
    write_events(engine, 1)  # still pending: never pruned
    with engine.begin() as connection:
        connection.execute(update(outbox).where(outbox.c.id == 1)
                           .values(sent_at=clock() - timedelta(days=8)))
    relay._prune_when_due()
    assert [row.id for row in rows(engine)] == [2, 3]


def test_run_forever_backs_off_while_the_broker_is_away_and_stops_promptly(engine, relay):
    write_events(engine, 3)
    relay.reconnect_max_delay = 0.2
    relay.publisher.connect_failures = 4
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(relay.publisher.published) < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    stopped_at = time.monotonic()
    thread.join(3)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 1.0
    assert len(relay.publisher.published) == 3
    assert relay.publisher.connects >= 5


def test_idle_relay_with_a_long_poll_interval_still_stops_promptly(engine, relay):
    relay.poll_interval = 30.0
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    time.sleep(0.3)  # idle, waiting for rows
    stop.set()
    stopped_at = time.monotonic()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - stopped_at < 1.0
    assert not relay.listener.listening  # SQLite: nothing to listen to, the relay polls
