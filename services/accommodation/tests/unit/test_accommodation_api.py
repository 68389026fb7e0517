"""`/v1/accommodations` end to end in one process: roles, the process, audit, events."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from accommodation.adapters.orm import accommodations
from shared.audit import verify
from shared.audit.tables import audit_log
from shared.messaging import outbox

PROBLEM = "application/problem+json"
LIMITS = "Cannot stand for long; Zorblax canary fatigue"
DOCS = "Letter from Dr Quillfeather canary"


def test_each_role_sees_its_own_projection(acc):
    case = acc.create(functional_limitations=LIMITS, medical_documentation=DOCS)
    assert case["status"] == "submitted" and "functional_limitations" not in case
    hr = acc.get(case["id"], "hr").json
    assert "functional_limitations" not in hr and "medical_documentation" not in hr
    assert hr["type"] == "schedule_change" and hr["acknowledge_due"] and hr["decision_due"]
    specialist = acc.get(case["id"], "specialist").json
    assert specialist["functional_limitations"] == LIMITS
    assert specialist["medical_documentation"] == DOCS
    manager = acc.get(case["id"], "manager").json
    assert set(manager) == {"id", "status", "schedule_impact", "effective"}
    assert manager["status"] == "pending" and manager["schedule_impact"] == []
    for text in (json.dumps(hr), json.dumps(manager)):
        assert "Zorblax" not in text and "Quillfeather" not in text


def test_clinical_fields_are_encrypted_and_every_specialist_read_is_audited(acc):
    case = acc.create(role="specialist", functional_limitations=LIMITS)
    with acc.services.engine.connect() as conn:
        row = conn.execute(select(accommodations)).one()._mapping
        assert row["functional_limitations"].startswith("enc:")
        assert "Zorblax" not in repr(dict(row))
        before = conn.execute(select(audit_log)).all()
    acc.get(case["id"], "specialist")
    acc.get(case["id"], "hr")
    acc.get(case["id"], "manager")
    with acc.services.engine.connect() as conn:
        entries = conn.execute(select(audit_log)).all()
    assert len(entries) == len(before) + 1
    assert verify(acc.services.engine).ok


def test_the_whole_process_and_what_the_manager_sees_at_the_end(acc):
    case_id = acc.create()["id"]
    assert acc.act(case_id, "start_review").status_code == 200
    r = acc.act(case_id, "request_info", note="Please send a provider letter")
    assert r.json["status"] == "info_requested" and r.json["documentation_requested"]
    acc.act(case_id, "receive_info")
    granted = {"schedule": [{"weekday": "thu", "start": "17:15", "end": "21:00"},
                            {"weekday": "mon", "start": "17:15", "end": "21:00"}],
               "start_date": "2027-01-04", "end_date": "2027-03-26"}
    r = acc.act(case_id, "approve_modified", granted=granted, note="Thursday and Monday")
    assert r.status_code == 200 and r.json["status"] == "approved_modified"
    assert acc.act(case_id, "implement", role="hr").json["status"] == "implemented"
    manager = acc.get(case_id, "manager").json
    assert manager == {
        "id": case_id, "status": "implemented",
        "schedule_impact": [
            {"weekday": "mon", "unavailable_from": "17:15", "unavailable_to": "21:00"},
            {"weekday": "thu", "unavailable_from": "17:15", "unavailable_to": "21:00"}],
        "effective": {"start": "2027-01-04", "end": "2027-03-26"}}
    hr = acc.get(case_id, "hr").json
    assert [h["action"] for h in hr["history"]] == [
        "start_review", "request_info", "receive_info", "approve_modified", "implement"]
    assert all("note" not in h for h in hr["history"])
    notes = [h["note"] for h in acc.get(case_id, "specialist").json["history"]]
    assert "Please send a provider letter" in notes


def test_illegal_transitions_name_the_allowed_actions(acc):
    case_id = acc.create()["id"]
    r = acc.act(case_id, "approve")
    assert (r.status_code, r.content_type) == (409, PROBLEM)
    assert r.json["allowed_actions"] == ["start_review", "grant_interim", "withdraw"]
    acc.act(case_id, "start_review")
    r = acc.act(case_id, "deny")
    assert r.status_code == 422 and "reason" in r.json["errors"]
    r = acc.act(case_id, "approve_modified")
    assert r.status_code == 422 and "granted" in r.json["errors"]
    assert acc.get(case_id, "hr").json["status"] == "in_review"


def test_denial_reason_never_reaches_the_manager(acc):
    case_id = acc.create()["id"]
    acc.act(case_id, "start_review")
    acc.act(case_id, "deny", reason="Undue hardship: Zorblax canary")
    manager = acc.get(case_id, "manager").json
    assert manager["status"] == "closed" and "Zorblax" not in json.dumps(manager)
    assert acc.get(case_id, "hr").json["decision"]["denial_reason"].startswith("Undue")


def test_roles_and_tenancy(acc, platform):
    case_id = acc.create()["id"]
    r = acc.client.post("/v1/accommodations", headers=acc.as_("manager"), json={})
    assert (r.status_code, r.content_type) == (403, PROBLEM)
    assert acc.act(case_id, "start_review", role="manager").status_code == 403
    assert acc.client.get(f"/v1/accommodations/{case_id}").status_code == 401
    other = platform.directory.create_employer("Globex")
    _, token = platform.directory.create_client("specialist", employer_id=other.id)
    headers = {"Authorization": f"Bearer {token}"}
    for r in (acc.client.get(f"/v1/accommodations/{case_id}", headers=headers),
              acc.client.post(f"/v1/accommodations/{case_id}/actions", headers=headers,
                              json={"action": "start_review"})):
        assert (r.status_code, r.content_type) == (404, PROBLEM)
    assert acc.client.get("/v1/accommodations", headers=headers).json["data"] == []


def window(weekday="mon", start="17:00", end="21:00"):
    return {"weekday": weekday, "start": start, "end": end}


BAD = [
    ({"requested": {"schedule": [window("monday")], "start_date": "2027-01-04"}}, "requested"),
    ({"requested": {"schedule": [window(end="16:00")], "start_date": "2027-01-04"}},
     "requested"),
    ({"requested": {"schedule": [window(), window(start="20:00", end="22:00")],
                    "start_date": "2027-01-04"}}, "requested"),
    ({"requested": {"schedule": [window(start="25:00")], "start_date": "2027-01-04"}},
     "requested"),
    ({"requested": {"schedule": [], "start_date": "2027-01-04", "end_date": "2027-01-01"}},
     "requested"),
    ({"diagnosis": "x"}, "diagnosis"),
    ({"functional_limitations": "x" * 5001}, "functional_limitations"),
    ({"type": "sabbatical"}, "type"),
]


@pytest.mark.parametrize(("change", "field"), BAD)
def test_bad_input_is_a_422_naming_the_field(acc, change, field):
    body = {"employee": {"external_id": "E-1"}, "type": "schedule_change",
            "requested": {"schedule": [window()], "start_date": "2027-01-04"}, **change}
    r = acc.client.post("/v1/accommodations", json=body, headers=acc.as_("hr"))
    assert (r.status_code, r.content_type) == (422, PROBLEM)
    assert field in r.json["errors"]


def test_lists_filter_by_role_appropriate_status_and_overdue(acc):
    first = acc.create()["id"]
    second = acc.create()["id"]
    acc.act(second, "start_review")
    hr = acc.client.get("/v1/accommodations?status=in_review", headers=acc.as_("hr")).json
    assert [c["id"] for c in hr["data"]] == [second]
    assert all("history" not in c for c in hr["data"])
    mgr = acc.client.get("/v1/accommodations?status=pending", headers=acc.as_("manager")).json
    assert {c["id"] for c in mgr["data"]} == {first, second}
    r = acc.client.get("/v1/accommodations?status=in_review", headers=acc.as_("manager"))
    assert r.status_code == 422
    assert acc.client.get("/v1/accommodations?overdue=true",
                          headers=acc.as_("hr")).json["data"] == []
    from datetime import timedelta
    now = acc.services.clock()
    acc.services.clock = lambda: now + timedelta(days=40)
    overdue = acc.client.get("/v1/accommodations?overdue=true", headers=acc.as_("hr")).json
    assert {c["id"] for c in overdue["data"]} == {first, second}
    assert all(c["overdue"] for c in overdue["data"])
    assert acc.services.announce_overdue() == 2
    assert acc.services.announce_overdue() == 0


def test_events_carry_status_and_schedule_impact_only(acc):
    case_id = acc.create(functional_limitations=LIMITS)["id"]
    acc.act(case_id, "start_review")
    acc.act(case_id, "deny", reason="Zorblax reason")
    with acc.services.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.body)
                            .order_by(outbox.c.id)).all()
    assert [t for t, _ in rows] == ["accommodation.submitted", "accommodation.decided"]
    text = " ".join(b for _, b in rows)
    for leak in ("Zorblax", "schedule_change", "reason", "Cannot stand"):
        assert leak not in text
    decided = json.loads(rows[1][1])["data"]
    assert decided["status"] == "denied" and decided["schedule_impact"] == []


def test_after_an_erasure_the_employees_later_cases_share_the_new_subject(acc):
    from sqlalchemy import select

    from accommodation.adapters.orm import accommodations

    def subject(case_id):
        with acc.services.engine.connect() as conn:
            return conn.execute(select(accommodations.c.employee_subject).where(
                accommodations.c.id == case_id)).scalar_one()

    first = subject(acc.create()["id"])
    assert subject(acc.create()["id"]) == first  # the same employee (E-1)
    acc.services.cipher.erase_subject(first)
    second = subject(acc.create()["id"])
    third = subject(acc.create()["id"])
    assert third == second != first
