"""ConfirmingPublisher against the real broker: a batch is published before any confirm is
awaited, and every message still gets its own answer (confirmed, returned as unroutable,
or nacked by a full queue), also when one ack or nack answers several messages."""

from __future__ import annotations

import pika
import pytest
from sqlalchemy import select

from shared.db import make_engine
from shared.messaging import CloudEvent, ConfirmingPublisher, Outbox, OutboxRelay, Topology, outbox
from shared.messaging.amqp import ConfirmsMissing, Message, Outcome, connect
from shared.messaging.testing import FakeCipher, delete_topology, drain, migrate_mechanisms

pytestmark = pytest.mark.integration

ROUTED, FULL, NOBODY = "ev.routed", "ev.full", "ev.nobody"


@pytest.fixture
def broker(amqp_url, unique_name):
    """The exchange with two queues: one takes ROUTED, one holding at most one message
    (overflow=reject-publish) takes FULL; nothing is bound to NOBODY."""
    publisher = ConfirmingPublisher(amqp_url, Topology(unique_name), "test")
    channel = connect(amqp_url, "test-setup").channel()
    Topology(unique_name).declare_exchange(channel)
    queues = {ROUTED: f"{unique_name}.routed", FULL: f"{unique_name}.full"}
    channel.queue_declare(queues[ROUTED], durable=True, arguments={"x-queue-type": "quorum"})
    channel.queue_declare(queues[FULL], durable=True, arguments={
        "x-queue-type": "quorum", "x-max-length": 1, "x-overflow": "reject-publish"})
    for key, queue in queues.items():
        channel.queue_bind(queue, unique_name, routing_key=key)
    yield publisher, queues
    publisher.close()
    for queue in queues.values():
        channel.queue_delete(queue)
    channel.connection.close()
    delete_topology(amqp_url, unique_name, [])


def fill(publisher, key):
    """Publish to `key` until the broker nacks; how many it took. (A quorum queue's
    length limit is soft: it takes one message past it before it rejects.)"""
    for taken in range(5):
        if publisher.publish(key, b"filler", pika.BasicProperties()) is Outcome.REJECTED:
            return taken
    raise AssertionError("the queue never filled up")


def message(key, n):
    return Message(key, f"body {n}".encode(), pika.BasicProperties(message_id=f"m-{n}",
                                                                     delivery_mode=2))


def test_each_message_of_a_mixed_batch_gets_its_own_answer(broker):
    publisher, queues = broker
    filled = fill(publisher, FULL)
    keys = [ROUTED, NOBODY, FULL, ROUTED, FULL, NOBODY, ROUTED]
    published = publisher.publish_many([message(key, n) for n, key in enumerate(keys)])

    assert published.failure is None
    assert published.outcomes == {
        0: Outcome.CONFIRMED, 1: Outcome.UNROUTABLE, 2: Outcome.REJECTED,
        3: Outcome.CONFIRMED, 4: Outcome.REJECTED, 5: Outcome.UNROUTABLE,
        6: Outcome.CONFIRMED}
    routed = drain(publisher.amqp_url, queues[ROUTED])
    assert [p.message_id for p, _ in routed] == ["m-0", "m-3", "m-6"]
    assert [body for _, body in routed] == [b"body 0", b"body 3", b"body 6"]
    assert len(drain(publisher.amqp_url, queues[FULL])) == filled  # none of the batch's


def test_a_large_batch_is_confirmed_whole_and_the_channel_goes_on_counting(broker):
    publisher, queues = broker
    published = publisher.publish_many([message(ROUTED, n) for n in range(500)])

    assert published.failure is None
    assert published.outcomes == {n: Outcome.CONFIRMED for n in range(500)}
    # the delivery tags of the next publishes continue where the batch left off
    assert publisher.publish(NOBODY, b"x", pika.BasicProperties()) is Outcome.UNROUTABLE
    assert publisher.publish(ROUTED, b"y", pika.BasicProperties()) is Outcome.CONFIRMED
    again = publisher.publish_many([message(ROUTED, 1000), message(NOBODY, 1001)])
    assert again.outcomes == {0: Outcome.CONFIRMED, 1: Outcome.UNROUTABLE}
    assert len(drain(publisher.amqp_url, queues[ROUTED])) == 502


def test_a_channel_closed_by_the_broker_ends_the_batch_and_the_next_one_reconnects(
        broker, unique_name):
    publisher, queues = broker
    published = publisher.publish_many([message(ROUTED, n) for n in range(3)],
                                       exchange=f"{unique_name}.missing")

    assert isinstance(published.failure, pika.exceptions.ChannelClosedByBroker)
    assert published.failure.reply_code == 404
    assert published.outcomes == {}  # nothing confirmed: all of it to be published again
    after = publisher.publish_many([message(ROUTED, 10), message(ROUTED, 11)])
    assert after.failure is None
    assert after.outcomes == {0: Outcome.CONFIRMED, 1: Outcome.CONFIRMED}
    assert [p.message_id for p, _ in drain(publisher.amqp_url, queues[ROUTED])] == [
        "m-10", "m-11"]


def test_publish_raises_the_broker_error_it_met(broker, unique_name):
    publisher, _ = broker
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        publisher.publish(ROUTED, b"x", pika.BasicProperties(), exchange=f"{unique_name}.gone")


@pytest.mark.parametrize("ids", [["a", "a"], ["a", None]])
def test_a_batch_needs_distinct_message_ids_to_match_returns(broker, ids):
    publisher, _ = broker
    batch = [Message(ROUTED, b"x", pika.BasicProperties(message_id=i)) for i in ids]
    with pytest.raises(ValueError, match="distinct message_id"):
        publisher.publish_many(batch)


def test_a_broker_that_never_answers_ends_the_wait_after_confirm_timeout(broker, amqp_url,
                                                                         unique_name):
    _, queues = broker
    publisher = ConfirmingPublisher(amqp_url, Topology(unique_name), "test", confirm_timeout=0.5)
    publisher._on_confirm = lambda frame: None  # the broker's answers never reach the batch
    try:
        published = publisher.publish_many([message(ROUTED, 1), message(ROUTED, 2)])
    finally:
        publisher.close()
    assert isinstance(published.failure, ConfirmsMissing)
    assert published.outcomes == {}  # unknown: to be published again
    assert len(drain(amqp_url, queues[ROUTED])) == 2


def test_an_unreachable_broker_is_reported_not_raised_and_an_empty_batch_needs_none():
    publisher = ConfirmingPublisher("amqp://guest:guest@127.0.0.1:1/%2F", Topology("x"), "test")
    assert publisher.publish_many([]).outcomes == {}
    published = publisher.publish_many([message(ROUTED, 1)])
    assert isinstance(published.failure, pika.exceptions.AMQPConnectionError)
    assert published.outcomes == {}


def test_the_relay_marks_sent_only_what_a_queue_took_from_one_batch(broker, unique_name,
                                                                    pg_database_url):
    publisher, queues = broker
    migrate_mechanisms(pg_database_url)
    engine = make_engine(pg_database_url)
    events = [CloudEvent(type=kind, source="/test", data={"n": n})
              for n, kind in enumerate([ROUTED, NOBODY, ROUTED, ROUTED])]
    with engine.begin() as connection:
        for event in events:
            Outbox(FakeCipher()).add(connection, event)
    relay = OutboxRelay(engine, publisher.amqp_url, unique_name)
    try:
        assert relay.publish_pending() == 3
        with engine.connect() as connection:
            rows = connection.execute(select(outbox).order_by(outbox.c.id)).all()
    finally:
        relay.close()
        engine.dispose()

    assert [row.sent_at is not None for row in rows] == [True, False, True, True]
    assert rows[1].last_error == "unroutable" and rows[1].next_attempt_at > rows[1].created_at
    assert [p.message_id for p, _ in drain(publisher.amqp_url, queues[ROUTED])] == [
        events[0].id, events[2].id, events[3].id]
