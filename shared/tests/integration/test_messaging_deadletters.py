"""Poison and malformed messages end in the service's dead-letter queue; `bridgeline dlq`
lists them without their data and replays them to their original routing key."""

from __future__ import annotations

import pika
import pytest
from click.testing import CliRunner

from shared.db import make_engine
from shared.messaging import CloudEvent, ConfirmingPublisher, ConsumerRunner, EventSealer, Topology
from shared.messaging.amqp import connect
from shared.messaging.cli import dlq
from shared.messaging.testing import (
    FakeCipher,
    delete_topology,
    migrate_mechanisms,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration
SERVICE = "attestation"


@pytest.fixture
def exchange(amqp_url, unique_name):
    yield unique_name
    delete_topology(amqp_url, unique_name, [SERVICE])


@pytest.fixture
def engine(pg_database_url):
    migrate_mechanisms(pg_database_url)
    engine = make_engine(pg_database_url)
    yield engine
    engine.dispose()


class FlakyHandler:
    def __init__(self):
        self.broken = True
        self.applied = []

    def __call__(self, session, event):
        if self.broken:
            raise RuntimeError("cannot handle this yet")
        self.applied.append(event.data["employee"]["name"])


def publish(amqp_url, exchange, routing_key, body, message_id="msg-1"):
    publisher = ConfirmingPublisher(amqp_url, Topology(exchange), "test")
    publisher.publish(routing_key, body, pika.BasicProperties(message_id=message_id,
                                                              delivery_mode=2))
    publisher.close()


def message_count(amqp_url, queue):
    connection = connect(amqp_url, "test")
    count = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return count


def dead_letter_count(amqp_url, exchange):
    return message_count(amqp_url, Topology(exchange).dead_letter_queue(SERVICE))


def cli(amqp_url, exchange, *args):
    result = CliRunner().invoke(dlq, [*args, "--service", SERVICE],
                                env={"AMQP_URL": amqp_url, "BRIDGELINE_EXCHANGE": exchange})
    return result


def test_poison_message_is_dead_lettered_after_the_delivery_limit_and_replayed(
        engine, exchange, amqp_url):
    cipher, handler = FakeCipher(), FlakyHandler()
    runner = ConsumerRunner(engine, amqp_url, exchange, SERVICE, {"referral.created": handler},
                            cipher, delivery_limit=2, retry_delay=0.01)
    event = CloudEvent(type="referral.created", source="/referral", tenant="emp_1",
                       key_subject="sub_1", data={"employee": {"name": "Dana"}, "n": "m-271"},
                       sensitive_fields=("employee.name",))
    with running(runner.run_forever):
        assert wait_until(lambda: _queue_exists(amqp_url, exchange))
        publish(amqp_url, exchange, event.type, EventSealer(cipher).seal(event).to_json().encode(),
                event.id)
        assert wait_until(lambda: dead_letter_count(amqp_url, exchange) == 1)
        assert runner.stats.failed == 3  # first delivery + 2 redeliveries

        listed = cli(amqp_url, exchange, "list")
        assert listed.exit_code == 0, listed.output
        assert event.id in listed.output and "referral.created" in listed.output
        assert "delivery_limit" in listed.output
        assert "m-271" not in listed.output and "Dana" not in listed.output
        assert dead_letter_count(amqp_url, exchange) == 1  # listing removed nothing

        handler.broken = False
        replayed = cli(amqp_url, exchange, "replay", "--id", event.id)
        assert replayed.exit_code == 0, replayed.output
        assert wait_until(lambda: handler.applied == ["Dana"])
    assert dead_letter_count(amqp_url, exchange) == 0


def test_malformed_message_is_dead_lettered_at_once_and_unknown_ids_are_not_replayed(
        engine, exchange, amqp_url):
    runner = ConsumerRunner(engine, amqp_url, exchange, SERVICE,
                            {"referral.created": FlakyHandler()}, FakeCipher())
    with running(runner.run_forever):
        assert wait_until(lambda: _queue_exists(amqp_url, exchange))
        publish(amqp_url, exchange, "referral.created", b"{not json", "garbage-1")
        assert wait_until(lambda: dead_letter_count(amqp_url, exchange) == 1)
    assert (runner.stats.malformed, runner.stats.failed) == (1, 0)
    listed = cli(amqp_url, exchange, "list")
    assert "garbage-1" in listed.output and "rejected" in listed.output
    missing = cli(amqp_url, exchange, "replay", "--id", "evt_not_there")
    assert missing.exit_code != 0
    assert cli(amqp_url, exchange, "replay").exit_code == 2  # neither --id nor --all
    assert dead_letter_count(amqp_url, exchange) == 1
    replayed = cli(amqp_url, exchange, "replay", "--all")
    assert replayed.exit_code == 0 and "replayed 1" in replayed.output
    assert dead_letter_count(amqp_url, exchange) == 0
    # back on the service queue: republished under its original routing key
    assert message_count(amqp_url, Topology(exchange).queue(SERVICE)) == 1


def test_dlq_commands_explain_a_missing_queue(exchange, amqp_url):
    result = cli(amqp_url, exchange, "list")
    assert result.exit_code == 1
    assert "has the attestation consumer ever run" in result.output


def _queue_exists(amqp_url, exchange):
    connection = connect(amqp_url, "test")
    try:
        connection.channel().queue_declare(Topology(exchange).queue(SERVICE), passive=True)
        return True
    except pika.exceptions.ChannelClosedByBroker:
        return False
    finally:
        if connection.is_open:
            connection.close()
