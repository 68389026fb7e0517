"""`bridgeline webhooks deliveries|replay` on a migrated SQLite service database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from shared.cli import main
from shared.db import make_engine
from shared.messaging.testing import FakeCipher, migrate_mechanisms
from shared.webhooks import enqueue_delivery, webhook_deliveries

T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(sqlite_url, monkeypatch):
    monkeypatch.setenv("ATTESTATION_DATABASE_URL", sqlite_url)
    migrate_mechanisms(sqlite_url)
    engine = make_engine(sqlite_url)
    yield engine
    engine.dispose()


def delivery(engine, status, last_error=None):
    with engine.begin() as connection:
        delivery_id = enqueue_delivery(
            connection, endpoint_id="whe_1", event_type="attestation.issued",
            data={"secret_claim": "compliant"}, subject="sub_1", tenant="emp_1",
            cipher=FakeCipher(), now=T0)
        connection.execute(update(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
                           .values(status=status, attempts=10, last_error=last_error,
                                   next_attempt_at=None if status != "pending" else T0))
    return delivery_id


def row(engine, delivery_id):
    with engine.connect() as connection:
        return connection.execute(select(webhook_deliveries)
                                  .where(webhook_deliveries.c.id == delivery_id)).one()


def run(*args):
    return CliRunner().invoke(main, ["webhooks", *args, "--service", "attestation"])


def test_deliveries_lists_ids_and_states_never_payloads(engine):
    exhausted, delivered = delivery(engine, "exhausted", "http_500"), delivery(engine, "delivered")
    result = run("deliveries")
    assert result.exit_code == 0, result.output
    assert exhausted in result.output and delivered in result.output
    assert "attestation.issued\texhausted\t10\t-" in result.output
    assert "compliant" not in result.output and "fake1:" not in result.output
    only = run("deliveries", "--status", "exhausted")
    assert exhausted in only.output and delivered not in only.output


def test_replay_all_exhausted_reschedules_them(engine):
    exhausted, abandoned = delivery(engine, "exhausted"), delivery(engine, "abandoned", "gone")
    result = run("replay", "--all-exhausted")
    assert result.exit_code == 0, result.output
    assert "1 delivery(ies)" in result.output
    replayed = row(engine, exhausted)
    assert (replayed.status, replayed.attempts, replayed.finished_at) == ("pending", 0, None)
    assert replayed.next_attempt_at is not None
    assert row(engine, abandoned).status == "abandoned"


def test_replay_by_id_takes_an_abandoned_delivery_too(engine):
    abandoned = delivery(engine, "abandoned", "endpoint_disabled")
    assert run("replay", "--id", abandoned).exit_code == 0
    assert row(engine, abandoned).status == "pending"


@pytest.mark.parametrize("status, last_error, message", [
    ("delivered", None, "is delivered"),
    ("pending", None, "is pending"),
    ("abandoned", "subject_erased", "erased"),
])
def test_replay_by_id_refuses_what_cannot_or_need_not_be_sent(engine, status, last_error, message):
    delivery_id = delivery(engine, status, last_error)
    result = run("replay", "--id", delivery_id)
    assert result.exit_code == 1 and message in result.output
    assert row(engine, delivery_id).status == status


def test_replay_of_an_unknown_id_fails(engine):
    result = run("replay", "--id", "whd_nope")
    assert result.exit_code == 1 and "no delivery" in result.output


@pytest.mark.parametrize("args", [[], ["--id", "whd_1", "--all-exhausted"]])
def test_replay_needs_exactly_one_selector(engine, args):
    assert run("replay", *args).exit_code == 2
