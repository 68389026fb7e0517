"""Deliveries on SQLite with a scripted HTTP session: enqueueing, the schedule under an
injected clock, abandonment, bookkeeping. (A real receiver: the integration tests.)"""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from sqlalchemy import select, update
from standardwebhooks import Webhook

from shared.crypto import Aad
from shared.db import make_engine, mechanism_metadata
from shared.messaging.testing import FakeCipher
from shared.webhooks import (
    DeliveryPolicy,
    WebhookDeliverer,
    enqueue_delivery,
    record_received,
    webhook_attempts,
    webhook_deliveries,
)
from shared.webhooks.deliveries import claim_due, record_outcome
from shared.webhooks.schedule import NextStep
from shared.webhooks.testing import InMemoryEndpoints

T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
DATA = {"referral_id": "ref_1", "contact": {"email": "ada@example.com", "phone": "+1 555 0100"}}


class Midpoint(random.Random):
    def uniform(self, a, b):
        return (a + b) / 2


class FakeResponse:
    def __init__(self, status, headers=None):
        self.status_code = status
        self.headers = requests.structures.CaseInsensitiveDict(headers or {})

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class ScriptedHttp:
    """Answers POSTs from a script of status codes, (status, headers) or exceptions."""

    def __init__(self):
        self.script = []
        self.sent = []

    def post(self, url, *, data, headers, timeout, allow_redirects, stream):
        assert not allow_redirects and stream and sum(timeout) <= 15
        self.sent.append((url, data, headers))
        answer = self.script.pop(0) if self.script else 200
        if isinstance(answer, Exception):
            raise answer
        status, extra = answer if isinstance(answer, tuple) else (answer, {})
        return FakeResponse(status, extra)


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    mechanism_metadata.create_all(engine, tables=[webhook_deliveries, webhook_attempts])
    yield engine
    engine.dispose()


@pytest.fixture
def world(engine):
    class World:
        cipher = FakeCipher()
        endpoints = InMemoryEndpoints()
        http = ScriptedHttp()
        endpoint = endpoints.add("https://hooks.example.com/bridgeline")
        deliverer = WebhookDeliverer(engine, endpoints, cipher, http, allow_insecure_urls=True,
                                     rng=Midpoint(), clock=lambda: T0)

        def enqueue(self, endpoint=None, subject="sub_ada", now=T0, data=DATA):
            with engine.begin() as connection:
                return enqueue_delivery(
                    connection, endpoint_id=(endpoint or self.endpoint).id,
                    event_type="referral.accepted", data=data, subject=subject,
                    tenant="emp_acme", cipher=self.cipher, now=now)

        def delivery(self, delivery_id):
            with engine.connect() as connection:
                return connection.execute(select(webhook_deliveries).where(
                    webhook_deliveries.c.id == delivery_id)).one()

        def attempts(self, delivery_id):
            with engine.connect() as connection:
                return connection.execute(select(webhook_attempts).where(
                    webhook_attempts.c.delivery_id == delivery_id)
                    .order_by(webhook_attempts.c.id)).all()

    return World()


# -- enqueueing ---------------------------------------------------------------------------
def test_enqueue_writes_in_the_callers_transaction(world, engine):
    with pytest.raises(RuntimeError), engine.begin() as connection:
        enqueue_delivery(connection, endpoint_id=world.endpoint.id, event_type="referral.accepted",
                         data=DATA, subject="sub_ada", tenant="emp_acme", cipher=world.cipher)
        raise RuntimeError("the caller's change failed")
    assert world.deliverer.deliver_due(T0) == 0
    assert world.http.sent == []


def test_the_stored_payload_holds_no_plaintext_and_is_bound_to_its_row(world, engine):
    delivery_id = world.enqueue()
    row = world.delivery(delivery_id)
    for plaintext in ("ada@example.com", "555", "ref_1", "referral.accepted\",", "contact"):
        assert plaintext not in row.payload_ciphertext
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, T0)
    body = world.cipher.decrypt(row.payload_ciphertext, subject="sub_ada",
                                aad=Aad("emp_acme", "webhook_deliveries", delivery_id, "payload"))
    assert json.loads(body) == {"type": "referral.accepted",
                                "timestamp": "2027-01-05T12:00:00.000Z", "data": DATA}


@pytest.mark.parametrize("event_type", ["", "has space", "a..b", "a.b.", "dotted.type\n"])
def test_enqueue_refuses_a_malformed_event_type(world, engine, event_type):
    with pytest.raises(ValueError), engine.begin() as connection:
        enqueue_delivery(connection, endpoint_id="whe_1", event_type=event_type, data={},
                         subject="s", tenant="t", cipher=world.cipher)


# -- sending ------------------------------------------------------------------------------
def test_a_due_delivery_is_signed_sent_and_recorded(world):
    delivery_id = world.enqueue()
    assert world.deliverer.deliver_due(T0) == 1
    (url, body, headers), = world.http.sent
    assert url == world.endpoint.url and headers["webhook-id"] == delivery_id
    assert Webhook(world.endpoint.secrets[0]).verify(body, headers)["data"] == DATA
    row = world.delivery(delivery_id)
    assert (row.status, row.attempts, row.last_status_code, row.next_attempt_at) == (
        "delivered", 1, 200, None)
    assert row.finished_at == T0 and row.claim_token is None
    attempt, = world.attempts(delivery_id)
    assert (attempt.attempt, attempt.status_code, attempt.error_class) == (1, 200, None)
    assert world.deliverer.deliver_due(T0 + timedelta(days=9)) == 0


def test_an_attempt_record_holds_no_body(world, engine):
    assert {c.name for c in webhook_attempts.columns} == {
        "id", "delivery_id", "attempt", "started_at", "duration_ms", "status_code", "error_class"}


def test_a_delivery_not_yet_due_is_left_alone(world):
    world.enqueue(now=T0 + timedelta(seconds=1))
    assert world.deliverer.deliver_due(T0) == 0


def test_failures_follow_the_schedule_then_exhaust(world):
    delivery_id = world.enqueue()
    world.http.script = [500] * 10
    now, times = T0, []
    for _ in range(10):
        assert world.deliverer.deliver_due(now) == 1
        times.append(now)
        row = world.delivery(delivery_id)
        if row.status == "exhausted":
            break
        assert world.deliverer.deliver_due(row.next_attempt_at - timedelta(seconds=1)) == 0
        now = row.next_attempt_at
    offsets = [(t - T0).total_seconds() for t in times]
    assert offsets == [0, 5, 305, 2105, 9305, 27305, 63305, 113705, 185705, 272105]
    row = world.delivery(delivery_id)
    assert (row.status, row.attempts, row.last_error, row.next_attempt_at) == (
        "exhausted", 10, "http_500", None)
    assert len(world.attempts(delivery_id)) == 10
    assert world.deliverer.deliver_due(now + timedelta(days=30)) == 0


def test_retry_after_is_honoured(world):
    delivery_id = world.enqueue()
    world.http.script = [(429, {"Retry-After": "120"}), (503, {"Retry-After": "Tue, 05 Jan 2027 13:00:00 GMT"})]
    world.deliverer.deliver_due(T0)
    assert world.delivery(delivery_id).next_attempt_at == T0 + timedelta(seconds=120)
    assert world.deliverer.deliver_due(T0 + timedelta(seconds=119)) == 0
    world.deliverer.deliver_due(T0 + timedelta(seconds=120))
    assert world.delivery(delivery_id).next_attempt_at == datetime(2027, 1, 5, 13, 0, tzinfo=UTC)
    world.deliverer.deliver_due(datetime(2027, 1, 5, 13, 0, tzinfo=UTC))
    assert world.delivery(delivery_id).status == "delivered"


def test_410_disables_the_endpoint_and_later_deliveries_to_it_are_abandoned(world):
    first, second = world.enqueue(), world.enqueue(now=T0 + timedelta(seconds=1))
    world.http.script = [410]
    world.deliverer.deliver_due(T0)
    assert (world.delivery(first).status, world.delivery(first).last_error) == ("abandoned", "gone")
    assert world.endpoints.get(world.endpoint.id).disabled
    assert "410" in world.endpoints.disabled_reasons[world.endpoint.id]
    world.deliverer.deliver_due(T0 + timedelta(seconds=1))
    assert len(world.http.sent) == 1
    assert (world.delivery(second).status, world.delivery(second).last_error) == (
        "abandoned", "endpoint_disabled")


def test_an_erased_subject_is_abandoned_and_nothing_is_sent(world):
    delivery_id = world.enqueue(subject="sub_gone")
    world.cipher.erased_subjects.add("sub_gone")
    assert world.deliverer.deliver_due(T0) == 1
    assert world.http.sent == []
    row = world.delivery(delivery_id)
    assert (row.status, row.last_error, row.finished_at) == ("abandoned", "subject_erased", T0)
    assert world.attempts(delivery_id) == []


def test_a_payload_moved_to_another_row_does_not_open_and_is_abandoned(world, engine):
    original, other = world.enqueue(), world.enqueue()
    # Read first: on SQLite a transaction holds the write lock from its start.
    moved = world.delivery(original).payload_ciphertext
    with engine.begin() as connection:
        connection.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == other)
                           .values(payload_ciphertext=moved))
        connection.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == original)
                           .values(status="delivered", next_attempt_at=None))
    world.deliverer.deliver_due(T0)
    assert world.http.sent == []
    assert world.delivery(other).last_error == "payload_unreadable"


def test_an_unknown_endpoint_is_abandoned(world):
    ghost = InMemoryEndpoints().add("https://ghost.example.com/")
    delivery_id = world.enqueue(endpoint=ghost)
    world.deliverer.deliver_due(T0)
    assert world.delivery(delivery_id).last_error == "endpoint_unknown"


def test_outside_dev_an_unsafe_url_is_a_failed_attempt_and_nothing_is_sent(world, engine):
    local = world.endpoints.add("http://127.0.0.1:9/hooks")
    delivery_id = world.enqueue(endpoint=local)
    strict = WebhookDeliverer(engine, world.endpoints, world.cipher, world.http, rng=Midpoint())
    strict.deliver_due(T0)
    assert world.http.sent == []
    row = world.delivery(delivery_id)
    assert (row.status, row.last_error) == ("pending", "UnsafeEndpointUrl")
    assert world.attempts(delivery_id)[0].error_class == "UnsafeEndpointUrl"


@pytest.mark.parametrize("error", [requests.ConnectTimeout("x"), requests.ReadTimeout("x"),
                                   requests.ConnectionError("x"), requests.exceptions.SSLError("x")])
def test_no_answer_is_a_failed_attempt_named_by_its_error_class(world, error):
    delivery_id = world.enqueue()
    world.http.script = [error]
    world.deliverer.deliver_due(T0)
    row = world.delivery(delivery_id)
    assert (row.status, row.last_error, row.last_status_code) == (
        "pending", type(error).__name__, None)
    assert world.attempts(delivery_id)[0].error_class == type(error).__name__


def test_rotation_sends_both_signatures(world):
    old, new = world.endpoint.secrets[0], "whsec_" + "A" * 43 + "="
    rotated = world.endpoints.add("https://hooks.example.com/r", secrets=[new, old])
    world.enqueue(endpoint=rotated)
    world.deliverer.deliver_due(T0)
    (_, body, headers), = world.http.sent
    assert len(headers["webhook-signature"].split()) == 2
    assert Webhook(old).verify(body, headers) and Webhook(new).verify(body, headers)


# -- claims --------------------------------------------------------------------------------
def test_a_claimed_delivery_is_not_due_again_until_its_lease_lapses(world, engine):
    delivery_id = world.enqueue()
    lease = timedelta(minutes=2)
    with engine.begin() as connection:
        claim, = claim_due(connection, T0, 10, lease)   # a deliverer that then dies
    assert claim.attempt == 1
    assert world.deliverer.deliver_due(T0 + lease - timedelta(seconds=1)) == 0
    assert world.deliverer.deliver_due(T0 + lease) == 1
    assert (world.delivery(delivery_id).status, world.delivery(delivery_id).attempts) == (
        "delivered", 2)
    with engine.begin() as connection:
        kept = record_outcome(connection, claim, NextStep("exhausted"), None, T0 + lease)
    assert not kept
    assert world.delivery(delivery_id).status == "delivered"


def test_a_batch_is_sent_concurrently(world, engine):
    ids = [world.enqueue() for _ in range(8)]
    gate = threading.Barrier(8, timeout=5)

    class Waiting(ScriptedHttp):
        def post(self, url, **kwargs):
            gate.wait()  # only passes when all eight requests are in flight at once
            return super().post(url, **kwargs)

    world.deliverer.http = Waiting()
    assert world.deliverer.deliver_due(T0) == 8
    assert {world.delivery(i).status for i in ids} == {"delivered"}


def test_deliver_due_drains_more_than_one_batch(world):
    for _ in range(20):
        world.enqueue()
    assert world.deliverer.deliver_due(T0) == 20
    assert len(world.http.sent) == 20


# -- the loop and housekeeping ------------------------------------------------------------------
def test_run_forever_delivers_and_stops_promptly(world, engine):
    world.deliverer.clock = lambda: datetime.now(UTC)
    world.deliverer.policy = DeliveryPolicy(poll_interval=0.05)
    delivery_id = world.enqueue(now=datetime.now(UTC))
    stop = threading.Event()
    thread = threading.Thread(target=world.deliverer.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while world.delivery(delivery_id).status != "delivered" and time.monotonic() < deadline:
        time.sleep(0.02)
    stop.set()
    thread.join(2)
    assert not thread.is_alive()
    assert world.delivery(delivery_id).status == "delivered"


def test_run_forever_survives_a_failing_batch(world, monkeypatch):
    calls = []

    def flaky(now):
        calls.append(now)
        if len(calls) == 1:
            raise RuntimeError("directory away")
        return 0

    monkeypatch.setattr(world.deliverer, "deliver_batch", flaky)
    monkeypatch.setattr(world.deliverer, "_prune_when_due", lambda: None)
    world.deliverer.policy = DeliveryPolicy(poll_interval=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=world.deliverer.run_forever, args=(stop,))
    thread.start()
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(3)
    assert len(calls) >= 2 and not thread.is_alive()


def test_pruning_removes_old_delivered_rows_and_old_received_ids_only(world, engine):
    from shared.webhooks import received_webhooks

    mechanism_metadata.create_all(engine, tables=[received_webhooks])
    _, exhausted, recent = world.enqueue(), world.enqueue(), world.enqueue()
    world.deliverer.deliver_due(T0)   # all delivered at T0
    with engine.begin() as connection:
        connection.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == exhausted)
                           .values(status="exhausted", finished_at=T0))
        connection.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == recent)
                           .values(finished_at=T0 + timedelta(days=2)))
        record_received(connection, "prv_1", "msg_old", now=T0 + timedelta(days=23))
        record_received(connection, "prv_1", "msg_new", now=T0 + timedelta(days=25))
    world.deliverer.clock = lambda: T0 + timedelta(days=31)   # 30 and 7 days of retention
    world.deliverer._prune_when_due()
    with engine.connect() as connection:
        left = set(connection.execute(select(webhook_deliveries.c.id)).scalars())
        attempts = set(connection.execute(select(webhook_attempts.c.delivery_id)).scalars())
        received = set(connection.execute(select(received_webhooks.c.webhook_id)).scalars())
    assert left == attempts == {exhausted, recent}
    assert received == {"msg_new"}


def test_pruning_runs_at_most_once_per_interval(world, engine, monkeypatch):
    from shared.webhooks import deliverer as module

    runs = []
    monkeypatch.setattr(module, "prune_received", lambda c, older_than: runs.append(older_than) or 0)
    for minutes in (0, 5, 9, 10, 11):
        world.deliverer.clock = lambda m=minutes: T0 + timedelta(minutes=m)
        world.deliverer._prune_when_due()
    assert len(runs) == 2


@pytest.mark.parametrize("policy", [dict(timeout=(10.0, 10.0)), dict(timeout=(5.0, 10.0),
                                                                      lease=timedelta(seconds=20))])
def test_a_policy_with_a_long_timeout_or_short_lease_is_refused(policy):
    with pytest.raises(ValueError):
        DeliveryPolicy(**policy)
