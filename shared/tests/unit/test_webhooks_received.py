"""Replay protection: a webhook id is applied once, in the caller's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, insert, select

from shared.db import make_engine, mechanism_metadata, session_factory
from shared.webhooks import prune_received, received_webhooks, record_received

effects = Table("test_effects", MetaData(), Column("webhook_id", String(255)))
T0 = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(sqlite_url):
    engine = make_engine(sqlite_url)
    mechanism_metadata.create_all(engine, tables=[received_webhooks])
    effects.metadata.create_all(engine)
    yield session_factory(engine)
    engine.dispose()


def receive(sessions, source, webhook_id, fail=False):
    """What a view does: record the id and apply the effect in one transaction."""
    with sessions.begin() as session:
        first = record_received(session, source, webhook_id)
        if first:
            session.execute(insert(effects).values(webhook_id=webhook_id))
        if fail:
            raise RuntimeError("the effect failed")
    return first


def effect_count(sessions):
    with sessions() as session:
        return session.execute(select(func.count()).select_from(effects)).scalar_one()


def test_a_resent_id_changes_nothing(sessions):
    assert receive(sessions, "prv_1", "msg_1") is True
    assert receive(sessions, "prv_1", "msg_1") is False
    assert effect_count(sessions) == 1


def test_ids_are_per_source(sessions):
    assert receive(sessions, "prv_1", "msg_1")
    assert receive(sessions, "prv_2", "msg_1")
    assert effect_count(sessions) == 2


def test_a_rolled_back_transaction_forgets_the_id_so_the_retry_is_applied(sessions):
    with pytest.raises(RuntimeError):
        receive(sessions, "prv_1", "msg_1", fail=True)
    assert effect_count(sessions) == 0
    assert receive(sessions, "prv_1", "msg_1") is True
    assert effect_count(sessions) == 1


def test_it_works_on_a_connection_too(sessions):
    engine = sessions.kw["bind"]
    with engine.begin() as connection:
        assert record_received(connection, "prv_1", "msg_9", now=T0)
        assert not record_received(connection, "prv_1", "msg_9", now=T0)


def test_pruning_forgets_only_old_ids(sessions):
    engine = sessions.kw["bind"]
    with engine.begin() as connection:
        record_received(connection, "prv_1", "old", now=T0 - timedelta(days=8))
        record_received(connection, "prv_1", "new", now=T0 - timedelta(days=6))
        assert prune_received(connection, T0 - timedelta(days=7)) == 1
        left = connection.execute(select(received_webhooks.c.webhook_id)).scalars().all()
    assert left == ["new"]
