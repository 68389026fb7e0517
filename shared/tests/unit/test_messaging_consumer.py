"""What the consumer decides for each delivery (EventApplier), on SQLite, without a broker."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pika
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select
from sqlalchemy.exc import OperationalError

from shared.crypto import DecryptionError
from shared.db import make_engine
from shared.messaging import (
    CloudEvent,
    ConsumerRunner,
    Delivery,
    EventApplier,
    EventSealer,
    Outbox,
    Verdict,
    inbox,
    outbox,
)
from shared.messaging.inbox import prune_inbox
from shared.messaging.testing import FakeCipher, migrate_mechanisms

test_metadata = MetaData()
effects = Table("effects", test_metadata, Column("id", Integer, primary_key=True),
                Column("event_id", String(64)), Column("name", String(100)))
TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def engine(sqlite_url):
    migrate_mechanisms(sqlite_url)
    engine = make_engine(sqlite_url)
    test_metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def cipher():
    return FakeCipher()


class Handlers:
    """Records its effect in the caller's transaction; can be told to fail first."""

    def __init__(self, cipher):
        self.failures_left = 0
        self.outbox = Outbox(cipher)

    def referral_created(self, session, event):
        session.execute(insert(effects).values(event_id=event.id,
                                               name=event.data["employee"]["name"]))
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("handler bug")

    def consent_granted(self, session, event):
        self.outbox.add(session, CloudEvent(type="attestation.issued", source="/a", data={}))


@pytest.fixture
def handlers(cipher):
    return Handlers(cipher)


@pytest.fixture
def applier(engine, cipher, handlers):
    return EventApplier(engine, {"referral.created": handlers.referral_created,
                                 "consent.granted": handlers.consent_granted}, cipher)


def delivery(body, headers=None):
    return Delivery(1, pika.BasicProperties(headers=headers), body)


def sealed_body(cipher, type="referral.created"):
    event = CloudEvent(type=type, source="/referral", tenant="emp_1", key_subject="sub_1",
                       data={"employee": {"name": "Dana Whitfield"}},
                       sensitive_fields=("employee.name",))
    return EventSealer(cipher).seal(event).to_json().encode()


def count(engine, table):
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_event_is_applied_once_with_its_sensitive_fields_opened(engine, applier, cipher):
    body = sealed_body(cipher)
    stop = threading.Event()
    assert applier.apply(delivery(body), stop) is Verdict.APPLIED
    assert applier.apply(delivery(body), stop) is Verdict.DUPLICATE
    with engine.connect() as connection:
        assert connection.execute(select(effects.c.name)).scalars().all() == ["Dana Whitfield"]
    assert count(engine, inbox) == 1


def test_failed_handler_leaves_no_effect_and_no_inbox_row(engine, applier, handlers, cipher):
    body = sealed_body(cipher)
    handlers.failures_left = 1
    assert applier.apply(delivery(body), threading.Event()) is Verdict.FAILED
    assert count(engine, effects) == 0 and count(engine, inbox) == 0
    assert applier.apply(delivery(body), threading.Event()) is Verdict.APPLIED
    assert count(engine, effects) == 1


@pytest.mark.parametrize("body", [b"garbage", b'{"specversion": "1.0"}'])
def test_malformed_message_goes_to_the_dead_letters_at_once(applier, body):
    assert applier.apply(delivery(body), threading.Event()) is Verdict.MALFORMED


def test_event_type_without_handler_is_dead_lettered(applier, cipher):
    body = sealed_body(cipher, type="referral.declined")
    assert applier.apply(delivery(body), threading.Event()) is Verdict.MALFORMED


def test_listed_sensitive_field_in_plaintext_is_dead_lettered(engine, applier):
    forged = CloudEvent(type="referral.created", source="/r", key_subject="sub_1",
                        data={"employee": {"name": {"first": "Dana"}}},
                        sensitive_fields=("employee.name",))
    assert applier.apply(delivery(forged.to_json().encode()), threading.Event()) \
        is Verdict.MALFORMED
    assert count(engine, inbox) == 0


def test_events_written_by_a_handler_continue_the_incoming_trace(engine, applier, cipher):
    body = CloudEvent(type="consent.granted", source="/r", data={}).to_json().encode()
    assert applier.apply(delivery(body, {"traceparent": TRACE}), threading.Event()) \
        is Verdict.APPLIED
    with engine.connect() as connection:
        written = connection.execute(select(outbox.c.traceparent)).scalar_one()
    assert written.split("-")[1] == TRACE.split("-")[1]


def test_database_outage_holds_the_message_instead_of_counting_a_failure(
        engine, applier, handlers, cipher, monkeypatch):
    reachable = iter([False, False, True])  # unreachable twice, then back
    monkeypatch.setattr(applier, "database_reachable", lambda: next(reachable))
    calls, pauses = [], []

    def fails_while_database_is_down(session, event):
        calls.append(event.id)
        if len(calls) == 1:
            raise OperationalError("INSERT", {}, Exception("server closed the connection"))
        handlers.referral_created(session, event)

    applier.handlers["referral.created"] = fails_while_database_is_down
    verdict = applier.apply(delivery(sealed_body(cipher)), threading.Event(), pauses.append)
    assert verdict is Verdict.APPLIED
    assert len(pauses) == 1 and len(calls) == 2  # waited once, then applied
    assert count(engine, effects) == 1


def test_handler_failure_with_the_database_up_is_a_counted_failure(applier, handlers, cipher,
                                                                   monkeypatch):
    monkeypatch.setattr(applier, "database_reachable", lambda: True)
    handlers.failures_left = 5
    assert applier.apply(delivery(sealed_body(cipher)), threading.Event()) is Verdict.FAILED


def test_deliveries_applied_together_share_one_transaction(engine, applier, cipher):
    first, second = sealed_body(cipher), sealed_body(cipher)
    verdicts = applier.apply_together([delivery(first), delivery(b"junk"), delivery(second),
                                       delivery(first)])
    assert verdicts == [Verdict.APPLIED, Verdict.MALFORMED, Verdict.APPLIED, Verdict.DUPLICATE]
    assert count(engine, effects) == 2 and count(engine, inbox) == 2


def test_one_failure_rolls_the_whole_batch_back_for_one_by_one_retry(engine, applier,
                                                                     handlers, cipher):
    handlers.failures_left = 1
    assert applier.apply_together([delivery(sealed_body(cipher)),
                                   delivery(sealed_body(cipher))]) is None
    assert count(engine, effects) == 0 and count(engine, inbox) == 0


def test_retry_pause_grows_with_the_delivery_count_and_is_capped(engine, cipher):
    runner = ConsumerRunner(engine, "amqp://unused", "bl.events", "attestation", {}, cipher)
    pauses = [runner.retry_pause(delivery(b"", {"x-delivery-count": n})) for n in range(6)]
    assert pauses[0] == pytest.approx(0.2)
    assert pauses == sorted(pauses)
    assert max(pauses) == runner.retry_max_delay


def test_inbox_forgets_ids_only_after_the_retention_period(engine, applier, cipher):
    applier.apply(delivery(sealed_body(cipher)), threading.Event())
    now = datetime.now(UTC)
    with engine.begin() as connection:
        assert prune_inbox(connection, now - timedelta(days=30)) == 0
        assert prune_inbox(connection, now + timedelta(seconds=1)) == 1


def test_ciphertext_that_will_never_open_is_dead_lettered_at_once(applier, cipher, monkeypatch):
    body = sealed_body(cipher)

    def refuse(token, *, subject, aad):
        raise DecryptionError("tampered or moved")

    monkeypatch.setattr(cipher, "decrypt", refuse)
    assert applier.apply(delivery(body), threading.Event()) is Verdict.MALFORMED


def test_other_decryption_trouble_is_retried_like_a_handler_failure(applier, cipher,
                                                                   monkeypatch):
    body = sealed_body(cipher)

    def key_store_away(token, *, subject, aad):
        raise TimeoutError("key store did not answer")

    monkeypatch.setattr(cipher, "decrypt", key_store_away)
    monkeypatch.setattr(applier, "database_reachable", lambda: True)
    assert applier.apply(delivery(body), threading.Event()) is Verdict.FAILED
