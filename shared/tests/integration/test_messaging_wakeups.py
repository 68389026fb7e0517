"""An idle relay on PostgreSQL is woken by the outbox's commit (LISTEN/NOTIFY), not by its
poll; the poll stays the fallback when the listening connection is lost; relays woken
together still publish every row exactly once."""

from __future__ import annotations

import collections
import threading
import time

import pytest
from sqlalchemy import func, select, text

from shared.db import make_engine
from shared.messaging import CloudEvent, Outbox, OutboxRelay, Topology, outbox
from shared.messaging.amqp import connect
from shared.messaging.notify import OutboxListener
from shared.messaging.testing import (
    FakeCipher,
    delete_topology,
    drain,
    migrate_mechanisms,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration
SERVICE = "attestation"
SLOW_POLL = 30.0  # far longer than any test waits: only a wake-up can explain a prompt send


@pytest.fixture
def engine(pg_database_url):
    migrate_mechanisms(pg_database_url)
    engine = make_engine(pg_database_url, pool_size=8)
    yield engine
    engine.dispose()


@pytest.fixture
def exchange(amqp_url, unique_name):
    connection = connect(amqp_url, "test-setup")
    Topology(unique_name).declare_service(connection.channel(), SERVICE, ["referral.created"])
    connection.close()
    yield unique_name
    delete_topology(amqp_url, unique_name, [SERVICE])


def write(engine, count=1):
    with engine.begin() as connection:
        return [Outbox(FakeCipher()).add(connection, CloudEvent(
            type="referral.created", source="/referral", data={"n": n})) for n in range(count)]


def unsent(engine):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.sent_at.is_(None))).scalar_one()


def settled(relay):
    """The relay is waiting for rows (it has listened, then claimed and found nothing)."""
    listening = wait_until(lambda: relay.listener.listening, timeout=10)
    time.sleep(0.3)
    return listening


def test_listener_is_notified_by_a_committed_outbox_insert_only(engine):
    listener = OutboxListener(engine)
    listener.ensure_listening()
    try:
        assert listener.wait(0.05) is False
        with engine.connect() as connection:  # rolled back: no notification
            Outbox(FakeCipher()).add(connection, CloudEvent(type="referral.created", source="/r",
                                                                 data={}))
            connection.rollback()
        assert listener.wait(0.3) is False
        write(engine, 3)
        assert listener.wait(5) is True
        assert listener.wait(0.05) is False  # one transaction, one wake-up: all consumed
    finally:
        listener.close()


def test_idle_relay_sends_a_committed_event_long_before_its_poll_interval(engine, exchange,
                                                                         amqp_url):
    relay = OutboxRelay(engine, amqp_url, exchange, poll_interval=SLOW_POLL)
    with running(relay.run_forever, stop_within=2):
        assert settled(relay)
        for _ in range(3):
            started = time.monotonic()
            write(engine)
            assert wait_until(lambda: unsent(engine) == 0, timeout=5)
            assert time.monotonic() - started < 5
            time.sleep(0.1)
    assert len(drain(amqp_url, Topology(exchange).queue(SERVICE))) == 3


def test_relay_without_listening_waits_for_its_poll(engine, exchange, amqp_url):
    relay = OutboxRelay(engine, amqp_url, exchange, poll_interval=2.0, listen=False)
    batches = []
    relay_batch = relay.relay_batch
    relay.relay_batch = lambda size: batches.append(relay_batch(size)) or batches[-1]
    with running(relay.run_forever, stop_within=3):
        assert wait_until(lambda: batches, timeout=10)  # it found nothing and began to wait
        write(engine)
        assert not wait_until(lambda: unsent(engine) == 0, timeout=0.3)
        assert wait_until(lambda: unsent(engine) == 0, timeout=5)
    assert not relay.listener.listening


def test_lost_listener_falls_back_to_polling_then_listens_again(engine, exchange, amqp_url):
    relay = OutboxRelay(engine, amqp_url, exchange, poll_interval=0.5)
    with running(relay.run_forever, stop_within=3):
        assert settled(relay)
        pid = relay.listener._connection.info.backend_pid
        with engine.connect() as connection:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        write(engine)  # its notification dies with the connection; the poll still finds it
        assert wait_until(lambda: unsent(engine) == 0, timeout=5)
        assert wait_until(lambda: relay.listener.listening
                          and relay.listener._connection.info.backend_pid != pid, timeout=5)
    assert len(drain(amqp_url, Topology(exchange).queue(SERVICE))) == 1


def test_relays_woken_together_publish_every_row_exactly_once(engine, exchange, amqp_url):
    relays = [OutboxRelay(engine, amqp_url, exchange, batch_size=5, poll_interval=SLOW_POLL)
              for _ in range(3)]
    written: list[str] = []
    stop = threading.Event()

    def writers():
        while not stop.is_set() and len(written) < 300:
            written.extend(write(engine, 3))

    with running(relays[0].run_forever, stop_within=2), \
            running(relays[1].run_forever, stop_within=2), \
            running(relays[2].run_forever, stop_within=2):
        assert all(settled(relay) for relay in relays)
        threads = [threading.Thread(target=writers) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert wait_until(lambda: unsent(engine) == 0, timeout=20)
        stop.set()
    counts = collections.Counter(properties.message_id for properties, _ in
                                 drain(amqp_url, Topology(exchange).queue(SERVICE)))
    assert sorted(counts) == sorted(written)
    assert set(counts.values()) == {1}
