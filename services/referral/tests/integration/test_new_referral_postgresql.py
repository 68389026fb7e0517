"""A new referral on the real PostgreSQL: one statement for a new employee (the lookup of
an earlier referral, the referral and its event), a second only for an employee the
employer referred before, whose subject is then used again (unless it was erased)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import event, func, select

from referral.adapters.orm import referrals
from shared.db.direct import DirectStatement
from shared.messaging.tables import outbox

pytestmark = pytest.mark.integration


@pytest.fixture
def world(pg_world):
    return pg_world


@pytest.fixture
def statements(world, monkeypatch):
    """The SQL of every statement sent to either database from here on: on the driver
    (`DirectStatement`) or through SQLAlchemy (the key store's reads, say)."""
    ran: list[str] = []
    original = DirectStatement._run

    def run(self, conn, plan, *args, **kwargs):
        ran.append(plan.sql)
        return original(self, conn, plan, *args, **kwargs)

    def executed(conn, cursor, statement, *args):
        ran.append(statement)

    monkeypatch.setattr(DirectStatement, "_run", run)
    engines = (world.services.engine, world.services.cipher.keys.engine)
    for engine in engines:
        event.listen(engine, "before_cursor_execute", executed)
    yield ran
    for engine in engines:
        event.remove(engine, "before_cursor_execute", executed)


def written(world) -> tuple[list[tuple[str, str]], list[dict]]:
    with world.services.engine.connect() as conn:
        rows = conn.execute(select(referrals.c.id, referrals.c.employee_subject)
                            .order_by(referrals.c.created_at, referrals.c.id)).all()
        events = [json.loads(body) for body in conn.execute(
            select(outbox.c.body).where(outbox.c.event_type == "referral.created")
            .order_by(outbox.c.id)).scalars()]
    return [tuple(r) for r in rows], events


def test_a_new_employees_referral_is_one_statement(world, statements):
    world.create_direct(external_id="E-0")  # the first new subject stores a batch of keys
    statements.clear()
    made, _ = world.create_direct(external_id="E-1")
    assert len(statements) == 1 and statements[0].startswith("WITH found AS")
    rows, events = written(world)
    assert (made.id, made.employee_subject) in rows and len(rows) == 2
    assert [e["subject"] for e in events] == [rows[0][0], made.id]
    assert world.hr_get(made.id).json["employee"]["external_id"] == "E-1"


def test_an_employee_referred_before_keeps_their_subject(world, statements):
    first, _ = world.create_direct(external_id="E-5")
    statements.clear()
    again, _ = world.create_direct(external_id=" E-5 ")
    assert len(statements) == 2  # found the earlier referral, then wrote with its subject
    # (its key was in this process's cache; another process would read it once more)
    assert again.employee_subject == first.employee_subject
    rows, events = written(world)
    assert rows == [(first.id, first.employee_subject), (again.id, first.employee_subject)]
    assert [e["subject"] for e in events] == [first.id, again.id]  # one event each
    assert all(e["keysubject"] == first.employee_subject for e in events)
    assert world.hr_get(again.id).json["employee"]["external_id"] == " E-5 "  # its subject
    other, _ = world.create_direct(external_id="E-6")
    assert other.employee_subject != first.employee_subject


def test_an_erased_employee_starts_again_under_a_new_subject(world):
    first, _ = world.create_direct(external_id="E-7")
    world.services.cipher.erase_subject(first.employee_subject)
    again, _ = world.create_direct(external_id="E-7")
    assert again.employee_subject != first.employee_subject
    assert world.hr_get(again.id).json["employee"]["external_id"] == "E-7"
    assert world.hr_get(first.id).json["employee"]["external_id"] == "[erased]"
    with world.services.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(referrals)).scalar_one() == 2


def test_the_subject_a_known_employee_did_not_need_goes_to_the_next_new_one(world, monkeypatch):
    handed_out = []
    new_subject = world.services.cipher.new_subject
    monkeypatch.setattr(world.services.cipher, "new_subject",
                        lambda: handed_out.append(new_subject()) or handed_out[-1])
    first, _ = world.create_direct(external_id="E-8")
    again, _ = world.create_direct(external_id="E-8")  # took a subject, gave it back
    other, _ = world.create_direct(external_id="E-9")
    assert again.employee_subject == first.employee_subject == handed_out[0]
    assert other.employee_subject == handed_out[1] == handed_out[2]


def test_after_an_erasure_the_employees_later_referrals_share_the_new_subject(world):
    first, _ = world.create_direct(external_id="E-10")
    world.services.cipher.erase_subject(first.employee_subject)
    second, _ = world.create_direct(external_id="E-10")
    third, _ = world.create_direct(external_id="E-10")
    assert third.employee_subject == second.employee_subject != first.employee_subject
