"""Relays as real processes: killed mid-batch, several at once, the `bridgeline relay` command."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shared.db import make_engine, session_factory
from shared.messaging import CloudEvent, ConsumerRunner, Outbox, OutboxRelay, Topology, outbox
from shared.messaging.amqp import connect
from shared.messaging.testing import (
    FakeCipher,
    delete_topology,
    drain,
    migrate_mechanisms,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[3]
SERVICE = "attestation"
BIN = Path(sys.executable).parent

# A relay that publishes its batch and then hangs where it would mark the rows sent.
RELAY_THAT_HANGS_BEFORE_MARKING = """
import sys, time
from shared.db import make_engine
from shared.messaging.relay import OutboxRelay

def hang(self, connection, ids, now):
    print("published", len(ids), flush=True)
    time.sleep(120)

OutboxRelay._mark_sent = hang
OutboxRelay(make_engine(sys.argv[1]), sys.argv[2], sys.argv[3]).publish_pending()
"""


def database_url(request, tmp_path, name="service"):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / (name + '.db')}"
    return request.getfixturevalue("pg_database_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def producer_url(request, tmp_path):
    url = database_url(request, tmp_path, "producer")
    migrate_mechanisms(url)
    return url


@pytest.fixture
def exchange(amqp_url, unique_name):
    connection = connect(amqp_url, "test-setup")
    Topology(unique_name).declare_service(connection.channel(), SERVICE, ["referral.created"])
    connection.close()
    yield unique_name
    delete_topology(amqp_url, unique_name, [SERVICE])


def write_events(url, count):
    engine = make_engine(url)
    with engine.begin() as connection:
        ids = [Outbox(FakeCipher()).add(connection, CloudEvent(
            type="referral.created", source="/referral", data={"n": n})) for n in range(count)]
    engine.dispose()
    return ids


def unsent(engine):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.sent_at.is_(None))).scalar_one()


def read_line(stream, timeout):
    line = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0] if line else ""


def test_relay_killed_between_publish_and_marking_sent_causes_only_a_harmless_duplicate(
        producer_url, exchange, amqp_url, tmp_path):
    (event_id,) = write_events(producer_url, 1)
    process = subprocess.Popen(
        [sys.executable, "-c", RELAY_THAT_HANGS_BEFORE_MARKING, producer_url, amqp_url, exchange],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert read_line(process.stdout, timeout=20).strip() == "published 1"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    consumer_url = f"sqlite:///{tmp_path / 'consumer.db'}"  # another service's database
    migrate_mechanisms(consumer_url)
    consumer_engine, producer_engine = make_engine(consumer_url), make_engine(producer_url)
    applied = []
    runner = ConsumerRunner(consumer_engine, amqp_url, exchange, SERVICE,
                            {"referral.created": lambda session, event: applied.append(event.id)},
                            FakeCipher())
    with running(runner.run_forever):
        assert wait_until(lambda: runner.stats.applied == 1)
        assert unsent(producer_engine) == 1  # the kill lost the "sent" mark...
        assert OutboxRelay(producer_engine, amqp_url, exchange).publish_pending() == 1
        assert wait_until(lambda: runner.stats.duplicates == 1)  # ...so it went out twice
    assert applied == [event_id]
    assert unsent(producer_engine) == 0
    consumer_engine.dispose()
    producer_engine.dispose()


def test_two_relays_on_postgresql_never_publish_a_row_twice(pg_database_url, exchange,
                                                           amqp_url):
    migrate_mechanisms(pg_database_url)
    ids = write_events(pg_database_url, 400)
    engine = make_engine(pg_database_url, pool_size=4)
    relays = [OutboxRelay(engine, amqp_url, exchange, batch_size=20) for _ in range(2)]
    published = collections.Counter()
    start = threading.Barrier(2)

    def drain_outbox(relay):
        start.wait()
        while (sent := relay.publish_pending()) or unsent(engine):
            published[relay] += sent
        relay.close()

    threads = [threading.Thread(target=drain_outbox, args=(r,)) for r in relays]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    messages = drain(amqp_url, Topology(exchange).queue(SERVICE))
    counts = collections.Counter(properties.message_id for properties, _ in messages)
    assert sorted(counts) == sorted(ids)
    assert set(counts.values()) == {1}
    assert all(published[relay] > 0 for relay in relays)  # both took part
    engine.dispose()


def test_relay_command_publishes_and_stops_on_sigterm(exchange, amqp_url, tmp_path):
    url = f"sqlite:///{tmp_path / 'attestation.db'}"
    migrate_mechanisms(url)
    env = {**os.environ, "ATTESTATION_DATABASE_URL": url, "AMQP_URL": amqp_url,
           "BRIDGELINE_EXCHANGE": exchange, "BRIDGELINE_VAR_DIR": str(tmp_path)}
    process = subprocess.Popen([BIN / "bridgeline", "relay", "--service", SERVICE], cwd=REPO,
                               env=env, stderr=subprocess.PIPE, text=True)
    engine = make_engine(url)
    try:
        with session_factory(engine).begin() as session:
            Outbox(FakeCipher()).add(session, CloudEvent(type="referral.created", source="/r",
                                                         data={"marker": "m-314"}))
        assert wait_until(lambda: unsent(engine) == 0, timeout=20)
    finally:
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        returncode = process.wait(10)
        logs = process.stderr.read()
    assert returncode == 0 and time.monotonic() - started < 3
    assert "m-314" not in logs
    assert len(drain(amqp_url, Topology(exchange).queue(SERVICE))) == 1
    engine.dispose()
