"""Delivery to a real HTTP receiver on 127.0.0.1, with real field encryption, on SQLite
and PostgreSQL; `standardwebhooks` verifies every request the receiver got."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from shared.crypto.testing import CryptoKit
from shared.db import make_engine
from shared.messaging.testing import migrate_mechanisms
from shared.webhooks import (
    DeliveryPolicy,
    WebhookDeliverer,
    enqueue_delivery,
    generate_secret,
    replay_exhausted,
    webhook_attempts,
    webhook_deliveries,
)
from shared.webhooks.testing import InMemoryEndpoints, Reply, WebhookReceiver

pytestmark = pytest.mark.integration
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
SUBJECT = "sub_ada"
DATA = {"referral_id": "ref_1", "contact": {"email": "ada.lovelace@example.com",
                                            "phone": "+1 555 0100"}}


class Midpoint(random.Random):
    def uniform(self, a, b):
        return (a + b) / 2


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'service.db'}"
    else:
        url = request.getfixturevalue("pg_database_url")
    migrate_mechanisms(url)
    return url


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def kit(tmp_path):
    kit = CryptoKit.create(tmp_path / "crypto")
    yield kit
    kit.dispose()


@pytest.fixture
def receiver():
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def endpoints():
    return InMemoryEndpoints()


@pytest.fixture
def deliverer(engine, endpoints, kit):
    policy = DeliveryPolicy(timeout=(1.0, 1.0), lease=timedelta(seconds=30))
    return WebhookDeliverer(engine, endpoints, kit.cipher, allow_insecure_urls=True,
                            policy=policy, rng=Midpoint())


def enqueue(engine, kit, endpoint, now=T0, subject=SUBJECT):
    with engine.begin() as connection:
        return enqueue_delivery(connection, endpoint_id=endpoint.id,
                                event_type="referral.accepted", data=DATA, subject=subject,
                                tenant="emp_acme", cipher=kit.cipher, now=now)


def delivery(engine, delivery_id):
    with engine.connect() as connection:
        return connection.execute(select(webhook_deliveries)
                                  .where(webhook_deliveries.c.id == delivery_id)).one()


def attempts(engine, delivery_id):
    with engine.connect() as connection:
        return connection.execute(select(webhook_attempts)
                                  .where(webhook_attempts.c.delivery_id == delivery_id)
                                  .order_by(webhook_attempts.c.id)).all()


def verified(request, secret):
    return Webhook(secret).verify(request.body, request.headers)


def test_a_delivery_arrives_signed_and_verifiable(engine, kit, receiver, endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    assert deliverer.deliver_due(T0) == 1
    request, = receiver.received
    assert verified(request, endpoint.secrets[0]) == {
        "type": "referral.accepted", "timestamp": "2027-01-05T12:00:00.000Z", "data": DATA}
    assert request.headers["webhook-id"] == delivery_id
    assert request.headers["content-type"] == "application/json"
    row = delivery(engine, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 1, 200)


def test_the_database_never_holds_the_payload_in_plaintext(engine, kit, receiver, endpoints,
                                                           deliverer, database_url, tmp_path):
    endpoint = endpoints.add(receiver.url)
    enqueue(engine, kit, endpoint)
    receiver.reply_with(Reply(500))
    deliverer.deliver_due(T0)
    with engine.connect() as connection:
        rows = [tuple(r) for table in (webhook_deliveries, webhook_attempts)
                for r in connection.execute(select(table))]
    dump = repr(rows)
    if database_url.startswith("sqlite"):
        engine.dispose()
        dump += (tmp_path / "service.db").read_bytes().decode("latin-1")
        dump += (tmp_path / "service.db-wal").read_bytes().decode("latin-1") \
            if (tmp_path / "service.db-wal").exists() else ""
    for plaintext in ("ada.lovelace", "555 0100", "ref_1"):
        assert plaintext not in dump


def test_a_rotation_sends_signatures_both_secrets_verify(engine, kit, receiver, endpoints,
                                                         deliverer):
    new, old = generate_secret(), generate_secret()
    endpoint = endpoints.add(receiver.url, secrets=[new, old])
    enqueue(engine, kit, endpoint)
    deliverer.deliver_due(T0)
    request, = receiver.received
    assert verified(request, new) and verified(request, old)
    with pytest.raises(Exception, match="No matching signature"):
        verified(request, generate_secret())


def test_500s_are_retried_with_the_same_id_and_fresh_signatures(engine, kit, receiver,
                                                                 endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    receiver.reply_with(Reply(500), Reply(500))
    deliverer.deliver_due(T0)
    assert deliverer.deliver_due(T0 + timedelta(seconds=4)) == 0
    deliverer.deliver_due(T0 + timedelta(seconds=5))
    deliverer.deliver_due(T0 + timedelta(seconds=305))
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery_id] * 3
    assert all(verified(r, endpoint.secrets[0]) for r in receiver.received)
    assert [a.status_code for a in attempts(engine, delivery_id)] == [500, 500, 200]
    assert delivery(engine, delivery_id).status == "delivered"


def test_429_retry_after_is_honoured(engine, kit, receiver, endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    receiver.reply_with(Reply(429, {"Retry-After": "600"}))
    deliverer.deliver_due(T0)
    assert delivery(engine, delivery_id).next_attempt_at == T0 + timedelta(seconds=600)
    assert deliverer.deliver_due(T0 + timedelta(seconds=599)) == 0
    assert len(receiver.received) == 1
    deliverer.deliver_due(T0 + timedelta(seconds=600))
    assert delivery(engine, delivery_id).status == "delivered"


def test_410_disables_the_endpoint(engine, kit, receiver, endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    first = enqueue(engine, kit, endpoint)
    later = enqueue(engine, kit, endpoint, now=T0 + timedelta(minutes=1))
    receiver.reply_with(Reply(410))
    deliverer.deliver_due(T0)
    deliverer.deliver_due(T0 + timedelta(minutes=1))
    assert endpoints.get(endpoint.id).disabled
    assert len(receiver.received) == 1
    assert delivery(engine, first).last_error == "gone"
    assert delivery(engine, later).last_error == "endpoint_disabled"


def test_exhaustion_then_replay(engine, kit, receiver, endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    receiver.reply_with(*[Reply(503)] * 10)
    now = T0
    while (row := delivery(engine, delivery_id)).status == "pending":
        now = row.next_attempt_at
        deliverer.deliver_due(now)
    assert (row.status, row.attempts, row.last_error) == ("exhausted", 10, "http_503")
    assert now - T0 > timedelta(days=3)
    with engine.begin() as connection:
        assert replay_exhausted(connection, now + timedelta(days=1)) == 1
    deliverer.deliver_due(now + timedelta(days=1))
    assert delivery(engine, delivery_id).status == "delivered"
    assert len(receiver.received) == 11
    assert {r.headers["webhook-id"] for r in receiver.received} == {delivery_id}


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(engine, kit, receiver,
                                                              endpoints, deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    receiver.reply_with(Reply(200, delay=2.5))
    deliverer.deliver_due(T0)
    attempt, = attempts(engine, delivery_id)
    assert (attempt.status_code, attempt.error_class) == (None, "ReadTimeout")
    assert 900 <= attempt.duration_ms < 2500
    assert delivery(engine, delivery_id).status == "pending"
    deliverer.deliver_due(T0 + timedelta(seconds=5))
    assert delivery(engine, delivery_id).status == "delivered"


def test_nobody_listening_is_a_connection_error(engine, kit, endpoints, deliverer):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = endpoints.add(f"http://127.0.0.1:{port}/hooks")
    delivery_id = enqueue(engine, kit, endpoint)
    deliverer.deliver_due(T0)
    assert delivery(engine, delivery_id).last_error == "ConnectionError"


def test_a_redirect_is_a_failure_and_is_not_followed(engine, kit, receiver, endpoints,
                                                     deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint)
    receiver.reply_with(Reply(302, {"Location": receiver.url + "/elsewhere"}))
    deliverer.deliver_due(T0)
    assert len(receiver.received) == 1
    assert delivery(engine, delivery_id).last_error == "http_302"


def test_an_erased_subject_is_abandoned_and_never_sent(engine, kit, receiver, endpoints,
                                                       deliverer):
    endpoint = endpoints.add(receiver.url)
    delivery_id = enqueue(engine, kit, endpoint, subject="sub_erased")
    kit.cipher.erase_subject("sub_erased")
    deliverer.deliver_due(T0)
    assert receiver.received == []
    row = delivery(engine, delivery_id)
    assert (row.status, row.last_error) == ("abandoned", "subject_erased")


def test_the_migration_matches_the_table_definitions(engine):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from shared.db import mechanism_metadata

    ours = {"received_webhooks", "webhook_deliveries", "webhook_attempts"}
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [d for d in compare_metadata(context, mechanism_metadata)
                       if any(name in repr(d) for name in ours)]
    assert differences == []


def test_with_the_directorys_endpoints_rotation_and_410_work_end_to_end(engine, kit, receiver):
    from shared.directory.endpoints import WebhookEndpoints

    directory = WebhookEndpoints(kit.engine, kit.cipher, allow_insecure_urls=True)
    endpoint_id, first_secret = directory.configure("provider", "prv_evening", receiver.url)
    second_secret = directory.rotate_secret("prv_evening")
    deliverer = WebhookDeliverer(engine, directory, kit.cipher, allow_insecure_urls=True,
                                 rng=Midpoint())
    enqueue(engine, kit, directory.get(endpoint_id))
    receiver.reply_with(Reply(410))
    deliverer.deliver_due(T0)
    request, = receiver.received
    assert verified(request, first_secret) and verified(request, second_secret)
    assert directory.get(endpoint_id).disabled
