"""PostgreSQL: several deliverers never send one delivery twice; two copies of one
inbound webhook arriving at once are applied once."""

from __future__ import annotations

import collections
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from shared.db import make_engine
from shared.messaging.testing import FakeCipher, migrate_mechanisms
from shared.webhooks import (
    DeliveryPolicy,
    WebhookDeliverer,
    enqueue_delivery,
    record_received,
    webhook_deliveries,
)
from shared.webhooks.deliveries import claim_due
from shared.webhooks.testing import InMemoryEndpoints, Reply, WebhookReceiver

pytestmark = pytest.mark.integration
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=2)


@pytest.fixture
def url(pg_database_url):
    migrate_mechanisms(pg_database_url)
    return pg_database_url


@pytest.fixture
def engine(url):
    engine = make_engine(url)
    yield engine
    engine.dispose()


def enqueue_many(engine, endpoint_id, count, cipher):
    with engine.begin() as connection:
        return [enqueue_delivery(connection, endpoint_id=endpoint_id, event_type="a.b",
                                 data={"n": n}, subject="sub_1", tenant="emp_1",
                                 cipher=cipher, now=T0)
                for n in range(count)]


def test_a_second_claimer_skips_rows_locked_by_the_first_instead_of_waiting(engine):
    enqueue_many(engine, "whe_1", 10, FakeCipher())
    with engine.connect() as first, engine.connect() as second:
        first.begin()
        mine = {c.id for c in claim_due(first, T0, 6, LEASE)}   # locked, not yet committed
        second.begin()
        second.execute(text("SET LOCAL lock_timeout = '2s'"))  # waiting would fail the test
        theirs = {c.id for c in claim_due(second, T0, 10, LEASE)}
        second.commit()
        first.commit()
    assert len(mine) == 6 and len(theirs) == 4 and not mine & theirs


def test_a_committed_claim_is_not_claimed_again_before_its_lease_lapses(engine):
    enqueue_many(engine, "whe_1", 3, FakeCipher())
    with engine.begin() as connection:
        assert len(claim_due(connection, T0, 10, LEASE)) == 3
    with engine.begin() as connection:
        assert claim_due(connection, T0 + LEASE - timedelta(seconds=1), 10, LEASE) == []
    with engine.begin() as connection:
        again = claim_due(connection, T0 + LEASE, 10, LEASE)
    assert [c.attempt for c in again] == [2, 2, 2]


def test_several_deliverers_at_once_send_each_delivery_exactly_once(url, engine):
    cipher, endpoints = FakeCipher(), InMemoryEndpoints()
    with WebhookReceiver() as receiver:
        endpoint = endpoints.add(receiver.url)
        receiver.reply_with(*[Reply(200, delay=0.01)] * 200)
        ids = enqueue_many(engine, endpoint.id, 120, cipher)
        engines = [make_engine(url) for _ in range(4)]
        policy = DeliveryPolicy(batch_size=5, timeout=(2.0, 2.0))
        deliverers = [WebhookDeliverer(e, endpoints, cipher, allow_insecure_urls=True,
                                       policy=policy) for e in engines]
        start = threading.Barrier(len(deliverers))
        handled = []

        def run(deliverer):
            start.wait()
            handled.append(deliverer.deliver_due(T0))

        threads = [threading.Thread(target=run, args=(d,)) for d in deliverers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        for e in engines:
            e.dispose()
    sent = collections.Counter(r.headers["webhook-id"] for r in receiver.received)
    assert sent == collections.Counter(ids)      # every one, once
    assert sum(handled) == 120 and sum(1 for h in handled if h) > 1   # the work was shared
    with engine.connect() as connection:
        statuses = connection.execute(select(webhook_deliveries.c.status, func.count())
                                      .group_by(webhook_deliveries.c.status)).all()
    assert statuses == [("delivered", 120)]


def test_two_copies_of_a_webhook_arriving_at_once_are_applied_once(engine):
    results = {}
    with engine.connect() as first:
        first.begin()
        results["first"] = record_received(first, "prv_1", "msg_1")

        def second_copy():
            with engine.begin() as second:
                results["second"] = record_received(second, "prv_1", "msg_1")

        thread = threading.Thread(target=second_copy)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive()     # waits for the first transaction to decide
        first.commit()
        thread.join(5)
    assert results == {"first": True, "second": False}


def test_a_copy_waiting_on_a_rolled_back_first_copy_takes_over(engine):
    results = {}
    with engine.connect() as first:
        first.begin()
        record_received(first, "prv_1", "msg_2")

        def second_copy():
            with engine.begin() as second:
                results["second"] = record_received(second, "prv_1", "msg_2")

        thread = threading.Thread(target=second_copy)
        thread.start()
        thread.join(0.5)
        first.rollback()
        thread.join(5)
    assert results == {"second": True}
