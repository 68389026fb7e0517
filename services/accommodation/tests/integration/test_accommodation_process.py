"""The accommodation service on the real PostgreSQL and RabbitMQ.

1. The interactive process through the HTTP API, from HR's request with clinical canary
   values to the close: the specialist's reads are audited (and the chain verifies), the
   manager sees exactly its four keys at every step, and the relayed events carry status
   and schedule impact only.
2. `enrollment.started`, published the way the referral service publishes it (its outbox,
   its relay, the level of care sealed), reaches the accommodation consumer the worker
   runs; a link HR issues for that referral opens with the suggested schedule change. A
   redelivery changes nothing, and the level of care lands in no table.
3. After 1 and 2 in one database: no canary in any column of any table, in any message on
   the broker, or in the logs.
4. The overdue sweep: listed with `?overdue=true`, announced once per case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, time, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from accommodation.adapters.orm import program_schedules
from accommodation.bootstrap import worker_tasks
from accommodation.domain.model import AccommodationType, Arrangement
from shared.audit import verify
from shared.audit.tables import audit_log
from shared.ids import new_id
from shared.messaging import CloudEvent, Outbox, Topology, outbox
from shared.messaging.amqp import connect
from shared.messaging.testing import drain, running, wait_until
from shared.weekly import Window
from tests.support.integration import (
    Canaries,
    capture_logs,
    postgres_platform,
    relay_everything,
    tap_queue,
)

pytestmark = pytest.mark.integration

LIMITATION = "Quorvex canary limitation: cannot work after 17:30 on program days"
DOCUMENTATION = "Letter from Dr Vantablix-Canary confirming the evening program"
NOTE = "Quorvex canary note: asked for the provider letter"
LEVEL_OF_CARE = "CanaryNocturnalIntensive"
CANARY = Canaries(LIMITATION, DOCUMENTATION, NOTE, LEVEL_OF_CARE, "Quorvex", "Vantablix",
                  "NocturnalIntensive", "canary limitation", "canary note")
TRAVEL_MINUTES = 30
MANAGER_KEYS = {"id", "status", "schedule_impact", "effective"}
REQUESTED = {"schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"},
                          {"weekday": "thu", "start": "17:15", "end": "21:00"}],
             "start_date": "2027-01-04", "end_date": "2027-03-26", "hours_per_week": 32}
GRANTED = {"schedule": [{"weekday": "thu", "start": "17:30", "end": "21:00"},
                        {"weekday": "mon", "start": "17:30", "end": "21:00"}],
           "start_date": "2027-01-04", "end_date": "2027-03-26"}
GRANTED_IMPACT = [{"weekday": "mon", "unavailable_from": "17:30", "unavailable_to": "21:00"},
                  {"weekday": "thu", "unavailable_from": "17:30", "unavailable_to": "21:00"}]
PROGRAM = [{"weekday": "tue", "start": "18:00", "end": "21:00"},
           {"weekday": "thu", "start": "18:00", "end": "21:30"}]


@dataclass
class World:
    platform: Any
    app: Any
    client: Any
    employer_id: str
    headers: dict[str, dict[str, str]]
    client_ids: dict[str, str]
    amqp_url: str
    exchange: str
    tap: str

    @property
    def runtime(self):
        return self.app.extensions["bridgeline"]

    @property
    def services(self):
        return self.runtime.domain

    def post(self, path, role, body):
        r = self.client.post(path, json=body, headers=self.headers[role])
        assert r.status_code in (200, 201), (path, r.status_code, r.get_data(as_text=True))
        return r.get_json()

    def act(self, case_id, action, role="specialist", **extra):
        return self.post(f"/v1/accommodations/{case_id}/actions", role,
                         {"action": action, **extra})

    def get(self, path, role):
        r = self.client.get(path, headers=self.headers[role])
        assert r.status_code == 200, (path, r.status_code, r.get_data(as_text=True))
        return r.get_json()


@pytest.fixture
def world(tmp_path, pg_database_url, unique_name, amqp_url, caplog):
    """The accommodation service and the directory on fresh PostgreSQL databases, a
    unique exchange with a tap queue on `#`, one employer with its three roles; the
    consumer's queues are deleted with the exchange afterwards."""
    env = {"ACCOMMODATION_TRAVEL_MINUTES": str(TRAVEL_MINUTES)}
    with postgres_platform(tmp_path, "accommodation", pg_database_url, unique_name,
                           env) as platform, \
            tap_queue(amqp_url, unique_name, also_delete=["accommodation"]) as tap:
        app = platform.app("accommodation")
        capture_logs(caplog)
        employer = platform.directory.create_employer("Acme").id
        headers, client_ids = {}, {}
        for role in ("hr", "specialist", "manager"):
            client, token = platform.directory.create_client(role, employer_id=employer)
            headers[role] = {"Authorization": f"Bearer {token}"}
            client_ids[role] = client.id
        yield World(platform, app, app.test_client(), employer, headers, client_ids,
                    amqp_url, unique_name, tap)


# -- the scenarios ---------------------------------------------------------------------------
def interactive_process(w: World) -> str:
    """Scenario 1 up to the relay; returns the case id."""
    case = w.post("/v1/accommodations", "hr", {
        "employee": {"external_id": "E-7001"}, "type": "schedule_change",
        "requested": REQUESTED, "functional_limitations": LIMITATION,
        "medical_documentation": DOCUMENTATION})
    case_id = case["id"]
    assert case["status"] == "submitted" and case["acknowledge_due"] and case["decision_due"]
    assert not CANARY.found_in(json.dumps(case))
    specialist_reads = 0

    def manager_sees(status, impact, effective):
        view = w.get(f"/v1/accommodations/{case_id}", "manager")
        assert set(view) == MANAGER_KEYS, view
        assert (view["id"], view["status"]) == (case_id, status)
        assert (view["schedule_impact"], view["effective"]) == (impact, effective)
        assert not CANARY.found_in(json.dumps(view))
        assert "schedule_change" not in json.dumps(view)

    manager_sees("pending", [], None)
    steps = [
        ("start_review", "specialist", {}, "in_review", "pending"),
        ("request_info", "specialist", {"note": NOTE}, "info_requested", "pending"),
        ("receive_info", "specialist", {}, "in_review", "pending"),
        ("approve_modified", "specialist", {"granted": GRANTED, "note": NOTE},
         "approved_modified", "approved"),
        ("implement", "hr", {}, "implemented", "implemented"),
        ("schedule_review", "hr", {}, "review_due", "implemented"),
        ("close", "specialist", {"note": NOTE}, "closed", "closed"),
    ]
    effective = {"start": "2027-01-04", "end": "2027-03-26"}
    for action, role, extra, status, coarse in steps:
        shown = w.act(case_id, action, role, **extra)
        assert shown["status"] == status, (action, shown)
        specialist_reads += role == "specialist"
        in_effect = coarse in ("approved", "implemented")
        manager_sees(coarse, GRANTED_IMPACT if in_effect else [],
                     effective if in_effect else None)
        hr = w.get(f"/v1/accommodations/{case_id}", "hr")
        assert "functional_limitations" not in hr and "medical_documentation" not in hr
        assert not CANARY.found_in(json.dumps(hr)), (action, CANARY.found_in(json.dumps(hr)))

    specialist = w.get(f"/v1/accommodations/{case_id}", "specialist")
    specialist_reads += 1
    assert specialist["functional_limitations"] == LIMITATION
    assert specialist["medical_documentation"] == DOCUMENTATION
    assert [h["action"] for h in specialist["history"]] == [s[0] for s in steps]
    assert [h["note"] for h in specialist["history"]].count(NOTE) == 3
    assert specialist["decision"]["granted"]["schedule"] == sorted(
        GRANTED["schedule"], key=lambda x: x["weekday"])  # mon before thu

    # Every specialist read of the clinical fields (each action and the GET) is audited.
    with w.services.engine.connect() as conn:
        entries = [row._mapping for row in conn.execute(
            select(audit_log).order_by(audit_log.c.seq))]
    mine = [e for e in entries if case_id in json.loads(e["resource_ids"])]
    assert len(mine) == specialist_reads == 6  # five actions and one GET
    assert {e["actor"] for e in mine} == {w.client_ids["specialist"]}
    assert all(e["kind"] == "access" and e["purpose"] == "ada_interactive_process"
               and sorted(json.loads(e["fields"])) == ["functional_limitations",
                                                       "medical_documentation"]
               for e in mine)
    assert verify(w.services.engine).ok
    return case_id


def enrollment_over_rabbitmq(w: World) -> str:
    """Scenario 2; returns the referral id."""
    referral_id, employee_subject = new_id("ref"), new_id("sub")
    event = CloudEvent(
        type="enrollment.started", source="/referral", subject=referral_id,
        tenant=w.employer_id, key_subject=employee_subject,
        data={"referral_id": referral_id, "employer_id": w.employer_id,
              "provider_id": new_id("prv"), "start_date": "2027-01-05",
              "expected_end_date": "2027-03-30", "level_of_care": LEVEL_OF_CARE,
              "schedule": PROGRAM},
        sensitive_fields=("level_of_care",))
    # The referral service's side: its outbox (a scratch SQLite database) and its relay.
    referral = w.platform.runtime("referral")
    with referral.engine.begin() as conn:
        Outbox(referral.cipher).add(conn, event)

    # The accommodation side: the consumer exactly as `bridgeline worker` builds it.
    (task,) = [t for t in worker_tasks(w.runtime) if t.name == "consumer"]
    consumer = task.run.__self__
    queue = Topology(w.exchange).queue("accommodation")
    with running(task.run):
        assert wait_until(lambda: consumers_on(w.amqp_url, queue) == 1), "consumer not up"
        relay_everything(referral.engine, w.amqp_url, w.exchange)
        assert wait_until(lambda: consumer.stats.applied == 1), consumer.stats
        # A redelivery (as after a relay crash between publish and commit).
        with referral.engine.begin() as conn:
            conn.execute(update(outbox).values(sent_at=None))
        relay_everything(referral.engine, w.amqp_url, w.exchange)
        assert wait_until(lambda: consumer.stats.duplicates == 1), consumer.stats
    assert (consumer.stats.applied, consumer.stats.malformed, consumer.stats.failed) == (1, 0, 0)

    with w.services.engine.connect() as conn:
        rows = conn.execute(select(program_schedules)).all()
        assert conn.execute(select(func.count()).select_from(program_schedules)).scalar() == 1
    (row,) = rows
    assert (row.referral_id, row.employer_id) == (referral_id, w.employer_id)
    assert (row.start_date, row.expected_end_date) == (date(2027, 1, 5), date(2027, 3, 30))

    # HR's link for that referral opens with the suggestion: each session widened by the
    # travel minutes, for the program's dates.
    link = w.post("/v1/accommodation-links", "hr",
                  {"employee": {"external_id": "E-7001"}, "referral_id": referral_id})
    token = link["url"].rsplit("/", 1)[1]
    opened = w.services.open_link(token)
    assert w.services.travel_minutes == TRAVEL_MINUTES
    suggestion = Arrangement((Window("tue", time(17, 30), time(21)),
                              Window("thu", time(17, 30), time(21, 30))),
                             date(2027, 1, 5), date(2027, 3, 30))
    assert opened["referral_id"] == referral_id and opened["suggestion"] == suggestion
    # ... and the employee submits it in one click.
    case = w.services.submit_via_link(token, type_=AccommodationType.SCHEDULE_CHANGE,
                                      requested=opened["suggestion"],
                                      functional_limitations=LIMITATION)
    assert (case.referral_id, case.requested, case.submitted_by) == (
        referral_id, suggestion, "employee")

    # The level of care came through sealed and lands in no accommodation table.
    CANARY.assert_not_in_database(w.services.engine)
    return referral_id


def drained_events(w: World) -> tuple[list[tuple[Any, bytes]], list[CloudEvent]]:
    messages = drain(w.amqp_url, w.tap)
    return messages, [CloudEvent.from_json(body) for _, body in messages]


def consumers_on(amqp_url: str, queue: str) -> int:
    connection = connect(amqp_url, "bridgeline-test-probe")
    try:
        return int(connection.channel().queue_declare(
            queue, passive=True).method.consumer_count)
    except Exception:  # not declared yet (the passive declare closes the channel)
        return 0
    finally:
        if connection.is_open:
            connection.close()


def assert_status_and_schedule_only(event: CloudEvent, case_id: str) -> None:
    extra = {"submitted": {"submitted_at", "acknowledge_due", "decision_due"},
             "decided": {"schedule_impact", "effective"},
             "overdue": {"acknowledge_due", "decision_due"}}[event.type.split(".")[1]]
    assert set(event.data) == {"accommodation_id", "employer_id", "referral_id", "status",
                               *extra}, event.data
    assert event.subject == event.data["accommodation_id"] == case_id
    assert event.sensitive_fields == ()
    body = event.to_json()
    for word in ("schedule_change", "reason", "note", "limitation", "documentation"):
        assert word not in json.dumps(event.data), (word, event.data)
    assert not CANARY.found_in(body)


# -- 1. the interactive process -------------------------------------------------------------
def test_the_interactive_process_on_postgresql_and_its_events(world):
    case_id = interactive_process(world)
    relay_everything(world.services.engine, world.amqp_url, world.exchange)
    messages, events = drained_events(world)
    CANARY.assert_not_in_messages(messages)
    assert [e.type for e in events] == ["accommodation.submitted", "accommodation.decided"]
    for event in events:
        assert_status_and_schedule_only(event, case_id)
    submitted, decided = events
    assert submitted.data["status"] == "submitted"
    assert decided.data["status"] == "approved_modified"
    assert decided.data["schedule_impact"] == GRANTED_IMPACT
    assert decided.data["effective"] == {"start": "2027-01-04", "end": "2027-03-26"}
    with world.services.engine.connect() as conn:  # every row was confirmed and marked
        assert conn.execute(select(func.count()).select_from(outbox)
                            .where(outbox.c.sent_at.is_(None))).scalar() == 0


# -- 2. events over RabbitMQ ------------------------------------------------------------------
def test_enrollment_started_over_rabbitmq_gives_the_link_its_suggestion(world):
    referral_id = enrollment_over_rabbitmq(world)
    messages, events = drained_events(world)
    CANARY.assert_not_in_messages(messages)
    enrollments = [e for e in events if e.type == "enrollment.started"]
    assert len(enrollments) == 2 and enrollments[0].id == enrollments[1].id  # published twice
    assert enrollments[0].subject == referral_id
    assert enrollments[0].data["level_of_care"].startswith("enc:")
    assert enrollments[0].data["schedule"] == PROGRAM
    assert len(events) == 2  # the accommodation outbox was not relayed here


# -- 3. canaries everywhere ------------------------------------------------------------------
def test_no_canary_in_any_table_message_or_log(world, caplog):
    interactive_process(world)
    enrollment_over_rabbitmq(world)
    relay_everything(world.services.engine, world.amqp_url, world.exchange)

    # Every column of every table of the accommodation database, and the directory.
    assert CANARY.assert_not_in_database(world.services.engine) > 10
    CANARY.assert_not_in_database(world.platform.directory.engine)
    # ... while the values are there, encrypted: the specialist still reads them.
    cases, _ = world.services.list_for_employer(world.employer_id, external_id="E-7001", statuses=None,
                                   overdue=None, limit=10, cursor=None)
    assert len(cases) == 2
    for case in cases:
        full = world.services.get(world.employer_id, case.id, role="specialist",
                                  actor=world.client_ids["specialist"])
        assert full.functional_limitations == LIMITATION

    messages, events = drained_events(world)
    assert sorted(e.type for e in events) == sorted(
        ["accommodation.submitted", "accommodation.decided", "enrollment.started",
         "enrollment.started", "accommodation.submitted"])
    CANARY.assert_not_in_messages(messages)

    CANARY.assert_not_in_logs(caplog.records, "accommodation")


# -- 4. the overdue sweep ---------------------------------------------------------------------
def test_overdue_cases_are_listed_and_announced_once(world):
    def create():
        return world.post("/v1/accommodations", "hr", {
            "employee": {"external_id": "E-7002"}, "type": "schedule_change",
            "requested": REQUESTED, "functional_limitations": LIMITATION})["id"]

    submitted, in_review, info_requested, decided = create(), create(), create(), create()
    world.act(in_review, "start_review")
    world.act(info_requested, "start_review")
    world.act(info_requested, "request_info", note=NOTE)
    world.act(decided, "start_review")
    world.act(decided, "approve")
    pending = {submitted, in_review, info_requested}

    def overdue_ids(role="hr"):
        page = world.get("/v1/accommodations?overdue=true", role)
        return {c["id"] for c in page["data"]}, page["data"]

    assert overdue_ids()[0] == set()
    assert world.services.announce_overdue() == 0
    now = world.services.clock()
    world.services.clock = lambda: now + timedelta(days=40)

    ids, listed = overdue_ids()
    assert ids == pending and all(c["overdue"] for c in listed)
    assert overdue_ids("manager")[0] == pending
    assert world.get(f"/v1/accommodations/{decided}", "hr")["overdue"] is False
    assert world.services.announce_overdue() == 3
    assert world.services.announce_overdue() == 0
    assert overdue_ids()[0] == pending  # still overdue, announced once

    relay_everything(world.services.engine, world.amqp_url, world.exchange)
    messages, events = drained_events(world)
    CANARY.assert_not_in_messages(messages)
    overdue = [e for e in events if e.type == "accommodation.overdue"]
    assert sorted(e.subject for e in overdue) == sorted(pending)
    for event in overdue:
        assert_status_and_schedule_only(event, event.subject)
