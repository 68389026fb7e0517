"""Outbox → relay → RabbitMQ → consumer, on the real broker and both databases.

An event committed with a state change takes effect exactly once in the consuming
service, even when the broker is unreachable at commit time or the consumer gets the
same message twice; a rolled-back change publishes nothing; no plaintext of a
sensitive field reaches the outbox table or the broker.
"""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from shared.config import Settings
from shared.crypto import Keyring, build_field_cipher
from shared.db import make_engine
from shared.db.migrate import upgrade_directory
from shared.messaging import (
    CloudEvent,
    ConfirmingPublisher,
    ConsumerRunner,
    Outbox,
    OutboxRelay,
    Topology,
    outbox,
)
from shared.messaging.amqp import connect
from shared.messaging.relay import message_properties
from shared.messaging.testing import (
    FakeCipher,
    delete_topology,
    drain,
    migrate_mechanisms,
    running,
    wait_until,
)
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration
SERVICE = "attestation"
SPY = "spy"  # a second consuming "service" whose queue we read raw
TYPES = ["referral.created", "consent.granted"]
test_metadata = MetaData()
effects = Table("effects", test_metadata, Column("id", Integer, primary_key=True),
                Column("event_id", String(64)), Column("name", String(100)))


def service_engine(url):
    migrate_mechanisms(url)
    engine = make_engine(url)
    test_metadata.create_all(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):
    engine = service_engine(f"sqlite:///{tmp_path / 'service.db'}" if request.param == "sqlite"
                            else request.getfixturevalue("pg_database_url"))
    yield engine
    engine.dispose()


@pytest.fixture
def exchange(amqp_url, unique_name):
    connection = connect(amqp_url, "test-setup")
    topology = Topology(unique_name)
    topology.declare_service(connection.channel(), SERVICE, TYPES)
    topology.declare_service(connection.channel(), SERVICE, TYPES)  # idempotent
    topology.declare_service(connection.channel(), SPY, TYPES)
    connection.close()
    yield unique_name
    delete_topology(amqp_url, unique_name, [SERVICE, SPY])


@pytest.fixture
def cipher():
    return FakeCipher()


def record_name(session, event):
    name = event.data["employee"]["name"]
    session.execute(insert(effects).values(event_id=event.id,
                                           name=name if isinstance(name, str) else "<erased>"))


def consumer(engine, url, exchange, cipher, **options):
    return ConsumerRunner(engine, url, exchange, SERVICE, {"referral.created": record_name},
                          cipher, **options)


def referral_created(name="Dana Whitfield", subject="sub_1"):
    return CloudEvent(type="referral.created", source="/referral", tenant="emp_1",
                      key_subject=subject, data={"employee": {"name": name}},
                      sensitive_fields=("employee.name",))


def write(engine, cipher, event):
    with engine.begin() as connection:
        Outbox(cipher).add(connection, event)


def effect_names(engine):
    with engine.connect() as connection:
        return sorted(connection.execute(select(effects.c.name)).scalars())


def unsent(engine):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(outbox)
                                  .where(outbox.c.sent_at.is_(None))).scalar_one()


def test_committed_event_takes_effect_once_and_rollback_publishes_nothing(
        engine, exchange, amqp_url, cipher):
    write(engine, cipher, referral_created("Committed"))
    with pytest.raises(RuntimeError), engine.begin() as connection:
        Outbox(cipher).add(connection, referral_created("Rolled back"))
        raise RuntimeError("state change failed")
    relay = OutboxRelay(engine, amqp_url, exchange)
    runner = consumer(engine, amqp_url, exchange, cipher)
    with running(runner.run_forever):
        assert relay.publish_pending() == 1
        assert wait_until(lambda: effect_names(engine) == ["Committed"]), (runner.stats, effect_names(engine))
    relay.close()
    assert relay.publish_pending() == 0
    assert len(drain(amqp_url, Topology(exchange).queue(SPY))) == 1


def test_same_message_delivered_twice_takes_effect_once(engine, exchange, amqp_url, cipher):
    write(engine, cipher, referral_created())  # only to build the row the relay would send
    with engine.connect() as connection:
        row = connection.execute(select(outbox)).one()
    publisher = ConfirmingPublisher(amqp_url, Topology(exchange), "test")
    for _ in range(2):
        publisher.publish(row.event_type, row.body.encode(), message_properties(row))
    publisher.close()
    runner = consumer(engine, amqp_url, exchange, cipher)
    with running(runner.run_forever):
        assert wait_until(lambda: runner.stats.applied + runner.stats.duplicates == 2)
    assert (runner.stats.applied, runner.stats.duplicates) == (1, 1)
    assert effect_names(engine) == ["Dana Whitfield"]


def test_sensitive_fields_never_reach_the_table_or_the_broker_in_plaintext(
        engine, exchange, amqp_url, cipher):
    write(engine, cipher, referral_created("Dana Whitfield"))
    with engine.connect() as connection:
        assert "Dana" not in connection.execute(select(outbox.c.body)).scalar_one()
    OutboxRelay(engine, amqp_url, exchange).publish_pending()
    ((properties, body),) = drain(amqp_url, Topology(exchange).queue(SPY))
    assert b"Dana" not in body
    assert properties.headers["traceparent"].startswith("00-")
    runner = consumer(engine, amqp_url, exchange, cipher)
    with running(runner.run_forever):
        assert wait_until(lambda: effect_names(engine) == ["Dana Whitfield"])


@pytest.fixture
def real_cipher(tmp_path):
    settings = Settings.from_env(SERVICE, {"BRIDGELINE_VAR_DIR": str(tmp_path)})
    Keyring.generate(settings.keyring_path)
    upgrade_directory(settings.directory_database_url)
    return build_field_cipher(settings)


def test_real_field_cipher_keeps_plaintext_off_the_table_and_the_broker(
        exchange, amqp_url, real_cipher, tmp_path):
    engine = service_engine(f"sqlite:///{tmp_path / 'service.db'}")
    write(engine, real_cipher, referral_created("Dana Whitfield", subject="sub_kept"))
    write(engine, real_cipher, referral_created("Sam Ortega", subject="sub_erased"))
    with engine.connect() as connection:
        bodies = " ".join(connection.execute(select(outbox.c.body)).scalars())
    assert "Dana" not in bodies and "Sam" not in bodies
    OutboxRelay(engine, amqp_url, exchange).publish_pending()
    on_broker = b" ".join(body for _, body in drain(amqp_url, Topology(exchange).queue(SPY)))
    assert b"Dana" not in on_broker and b"Sam" not in on_broker
    real_cipher.erase_subject("sub_erased")  # crypto-shredded while in flight
    runner = consumer(engine, amqp_url, exchange, real_cipher)
    with running(runner.run_forever):
        assert wait_until(lambda: effect_names(engine) == ["<erased>", "Dana Whitfield"])
    engine.dispose()


@pytest.fixture
def proxy(amqp_url):
    proxy = TcpProxy.for_url(amqp_url)
    yield proxy
    proxy.cut()


def test_event_committed_while_the_broker_is_unreachable_arrives_once_it_is_back(
        engine, exchange, proxy, cipher):
    relay = OutboxRelay(engine, proxy.url, exchange, reconnect_max_delay=0.3)
    runner = consumer(engine, proxy.url, exchange, cipher, reconnect_max_delay=0.3)
    write(engine, cipher, referral_created("Written while down"))
    with running(relay.run_forever), running(runner.run_forever):
        assert not wait_until(lambda: unsent(engine) == 0, timeout=0.8)
        proxy.restore()
        assert wait_until(lambda: effect_names(engine) == ["Written while down"])
        proxy.cut()  # the broker goes away under connected loops
        write(engine, cipher, referral_created("Written during outage"))
        assert not wait_until(lambda: unsent(engine) == 0, timeout=0.5)
        proxy.restore()
        assert wait_until(lambda: len(effect_names(engine)) == 2, timeout=15)
    assert effect_names(engine) == ["Written during outage", "Written while down"]
    assert runner.stats.applied == 2
