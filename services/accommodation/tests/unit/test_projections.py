"""The role views: for every status and role, exactly what that role may see. The cases
carry canary strings in every sensitive field, whatever their status, so a leak shows."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from accommodation.domain.model import (
    Accommodation,
    AccommodationType,
    Action,
    Arrangement,
    Status,
    Transition,
    Window,
)
from accommodation.domain.process import IN_EFFECT, PENDING
from accommodation.domain.projections import (
    MANAGER_STATUS,
    PROJECTIONS,
    project,
    project_for_hr,
    project_for_manager,
    project_for_specialist,
    schedule_impact,
)

LIMITATIONS = "CANARY-LIMITATIONS-fatigue-after-dialysis"
DOCUMENTATION = "CANARY-DOCUMENTATION-letter-from-dr-x"
REASON = "CANARY-REASON-undue-hardship"
NOTE = "CANARY-NOTE-spoke-with-treating-clinician"
TYPE = AccommodationType.LEAVE_OF_ABSENCE
REQUESTED = Arrangement((Window("sun", time(10), time(12, 45)),), date(2027, 1, 3),
                        date(2027, 6, 30), 30.0)
GRANTED = Arrangement((Window("thu", time(16), time(20, 30)), Window("tue", time(16), time(20, 30))),
                      date(2027, 1, 5), date(2027, 3, 30), 32.0)
INTERIM = Arrangement((Window("wed", time(17), time(19)),), date(2027, 1, 6), date(2027, 1, 31))
CANARIES = (LIMITATIONS, DOCUMENTATION, REASON, NOTE, TYPE.value)
MANAGER_KEYS = {"id", "status", "schedule_impact", "effective"}


def full_case(status: Status, *, interim: bool = True) -> Accommodation:
    """The worst case for privacy: every sensitive field filled, whatever the status."""
    return Accommodation(
        id="acc_1", employer_id="emp_1", employee_subject="sub_1", external_id="E-1",
        type=TYPE, requested=REQUESTED, submitted_at=datetime(2027, 1, 4, 9, tzinfo=UTC),
        submitted_by="cli_hr", acknowledge_due=date(2027, 1, 11), decision_due=date(2027, 1, 25),
        status=status, functional_limitations=LIMITATIONS, medical_documentation=DOCUMENTATION,
        granted=GRANTED, interim=INTERIM if interim else None, denial_reason=REASON,
        documentation_requested=True,
        history=[Transition(Action.START_REVIEW, Status.SUBMITTED, Status.IN_REVIEW, "cli_spec",
                            datetime(2027, 1, 5, 9, tzinfo=UTC), NOTE)])


def as_json(view: dict[str, Any]) -> str:
    def dates_only(value: object) -> str:
        assert isinstance(value, date | datetime), f"not JSON-ready: {value!r}"
        return value.isoformat()
    return json.dumps(view, default=dates_only)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("type_", list(AccommodationType))
def test_a_manager_sees_four_keys_and_nothing_sensitive(status: Status,
                                                        type_: AccommodationType) -> None:
    case = full_case(status)
    case.type = type_
    view = project(case, "manager")
    assert set(view) == MANAGER_KEYS
    text = as_json(view)
    for canary in (*CANARIES, type_.value, "sun", "12:45", "2027-06-30"):   # nor the request
        assert canary not in text
    assert view["status"] in {"pending", "approved", "implemented", "closed"}


def test_a_manager_never_sees_documentation_requested_denied_or_modified() -> None:
    assert {project_for_manager(full_case(s))["status"] for s in PENDING} == {"pending"}
    assert project_for_manager(full_case(Status.APPROVED_MODIFIED))["status"] == "approved"
    assert project_for_manager(full_case(Status.REVIEW_DUE))["status"] == "implemented"
    for status in (Status.DENIED, Status.CLOSED, Status.WITHDRAWN):
        assert project_for_manager(full_case(status))["status"] == "closed"
    assert set(MANAGER_STATUS) == set(Status)


@pytest.mark.parametrize("status", list(Status))
def test_a_manager_sees_the_impact_in_effect_now(status: Status) -> None:
    with_interim = project_for_manager(full_case(status))
    without_interim = project_for_manager(full_case(status, interim=False))
    if status in IN_EFFECT:
        expected = ([{"weekday": "tue", "unavailable_from": "16:00", "unavailable_to": "20:30"},
                     {"weekday": "thu", "unavailable_from": "16:00", "unavailable_to": "20:30"}],
                    {"start": date(2027, 1, 5), "end": date(2027, 3, 30)})
        assert (with_interim["schedule_impact"], with_interim["effective"]) == expected
        assert without_interim == with_interim
    elif status in PENDING:
        assert with_interim["schedule_impact"] == [
            {"weekday": "wed", "unavailable_from": "17:00", "unavailable_to": "19:00"}]
        assert with_interim["effective"] == {"start": date(2027, 1, 6), "end": date(2027, 1, 31)}
        assert without_interim["schedule_impact"] == [] and without_interim["effective"] is None
    else:
        assert with_interim["schedule_impact"] == [] and with_interim["effective"] is None


@pytest.mark.parametrize("status", list(Status))
def test_hr_never_sees_clinical_text_or_notes(status: Status) -> None:
    view = project(full_case(status), "hr")
    text = as_json(view)
    for canary in (LIMITATIONS, DOCUMENTATION, NOTE):
        assert canary not in text
    assert "functional_limitations" not in view and "medical_documentation" not in view
    assert all("note" not in entry for entry in view["history"])
    assert view["history"] == [{"action": "start_review", "from": "submitted",
                                "to": "in_review", "actor": "cli_spec",
                                "at": datetime(2027, 1, 5, 9, tzinfo=UTC)}]
    assert view["type"] == TYPE.value and view["status"] == status.value
    assert view["decision"]["denial_reason"] == REASON
    assert view["decision"]["granted"]["schedule"][0] == {"weekday": "tue", "start": "16:00",
                                                          "end": "20:30"}
    assert (view["acknowledge_due"], view["decision_due"]) == (date(2027, 1, 11),
                                                               date(2027, 1, 25))


@pytest.mark.parametrize("status", list(Status))
def test_a_specialist_sees_everything(status: Status) -> None:
    view = project(full_case(status), "specialist")
    text = as_json(view)
    for canary in CANARIES:
        assert canary in text
    assert view["functional_limitations"] == LIMITATIONS
    assert view["medical_documentation"] == DOCUMENTATION
    assert view["history"][0]["note"] == NOTE
    assert view["requested"]["hours_per_week"] == 30.0


def test_hr_and_specialist_views_list_the_possible_actions() -> None:
    assert project_for_hr(full_case(Status.DENIED))["allowed_actions"] == ["close", "reconsider"]
    assert project_for_specialist(full_case(Status.CLOSED))["allowed_actions"] == []


def test_schedule_impact_is_ordered_by_weekday_then_time_as_hh_mm() -> None:
    arrangement = Arrangement((Window("sun", time(9), time(11)),
                               Window("mon", time(18), time(21)),
                               Window("mon", time(7, 5), time(8)),
                               Window("thu", time(0), time(23, 59))), date(2027, 1, 4))
    assert schedule_impact(arrangement) == [
        {"weekday": "mon", "unavailable_from": "07:05", "unavailable_to": "08:00"},
        {"weekday": "mon", "unavailable_from": "18:00", "unavailable_to": "21:00"},
        {"weekday": "thu", "unavailable_from": "00:00", "unavailable_to": "23:59"},
        {"weekday": "sun", "unavailable_from": "09:00", "unavailable_to": "11:00"},
    ]


def test_every_role_has_a_projection_and_others_none() -> None:
    assert set(PROJECTIONS) == {"specialist", "hr", "manager"}
    with pytest.raises(ValueError):
        project(full_case(Status.APPROVED), "employer")


def test_overdue_flag_only_with_a_date_and_never_for_a_manager() -> None:
    late = full_case(Status.IN_REVIEW)
    assert project(late, "hr", today=date(2027, 1, 26))["overdue"] is True
    assert project(late, "specialist", today=date(2027, 1, 20))["overdue"] is False
    assert "overdue" not in project(late, "hr")
    assert set(project(late, "manager", today=date(2027, 1, 26))) == MANAGER_KEYS
