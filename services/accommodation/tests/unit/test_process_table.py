"""The interactive process table, exhaustively: every action in every status (with and
without a past reconsideration), against an expected table written out independently."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time

import pytest

from accommodation.domain.calendar import BusinessCalendar
from accommodation.domain.errors import IllegalTransition, InvalidDetail, MissingDecisionDetail
from accommodation.domain.model import (
    Accommodation,
    AccommodationType,
    Action,
    Arrangement,
    Status,
    Transition,
    Window,
)
from accommodation.domain.process import OPEN, PENDING, allowed_actions, apply

A, S = Action, Status
CAL = BusinessCalendar()
SUBMITTED_AT = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)          # a Monday
AT = datetime(2027, 1, 6, 10, 0, tzinfo=UTC)
REQUESTED = Arrangement((Window("tue", time(16), time(20, 30)),), date(2027, 1, 5),
                        date(2027, 3, 30))
GRANTED = Arrangement((Window("thu", time(17), time(20)),), date(2027, 1, 7), date(2027, 3, 30))

# (action, status) -> target, for a case never reconsidered. Written by hand from the brief.
EXPECTED: dict[tuple[Action, Status], Status] = {
    (A.START_REVIEW, S.SUBMITTED): S.IN_REVIEW,
    (A.REQUEST_INFO, S.IN_REVIEW): S.INFO_REQUESTED,
    (A.RECEIVE_INFO, S.INFO_REQUESTED): S.IN_REVIEW,
    (A.GRANT_INTERIM, S.SUBMITTED): S.SUBMITTED,
    (A.GRANT_INTERIM, S.IN_REVIEW): S.IN_REVIEW,
    (A.GRANT_INTERIM, S.INFO_REQUESTED): S.INFO_REQUESTED,
    (A.APPROVE, S.IN_REVIEW): S.APPROVED,
    (A.APPROVE_MODIFIED, S.IN_REVIEW): S.APPROVED_MODIFIED,
    (A.DENY, S.IN_REVIEW): S.DENIED,
    (A.IMPLEMENT, S.APPROVED): S.IMPLEMENTED,
    (A.IMPLEMENT, S.APPROVED_MODIFIED): S.IMPLEMENTED,
    (A.SCHEDULE_REVIEW, S.IMPLEMENTED): S.REVIEW_DUE,
    (A.CLOSE, S.DENIED): S.CLOSED,
    (A.CLOSE, S.IMPLEMENTED): S.CLOSED,
    (A.CLOSE, S.REVIEW_DUE): S.CLOSED,
    (A.WITHDRAW, S.SUBMITTED): S.WITHDRAWN,
    (A.WITHDRAW, S.IN_REVIEW): S.WITHDRAWN,
    (A.WITHDRAW, S.INFO_REQUESTED): S.WITHDRAWN,
    (A.WITHDRAW, S.APPROVED): S.WITHDRAWN,
    (A.WITHDRAW, S.APPROVED_MODIFIED): S.WITHDRAWN,
    (A.WITHDRAW, S.IMPLEMENTED): S.WITHDRAWN,
    (A.WITHDRAW, S.REVIEW_DUE): S.WITHDRAWN,
    (A.RECONSIDER, S.DENIED): S.IN_REVIEW,
}


def expected_target(action: Action, status: Status, reconsidered: bool) -> Status | None:
    if action is A.RECONSIDER and reconsidered:
        return None
    return EXPECTED.get((action, status))


def make_case(status: Status = S.SUBMITTED, **changes: object) -> Accommodation:
    case = Accommodation(
        id="acc_1", employer_id="emp_1", employee_subject="sub_1", external_id="E-1",
        type=AccommodationType.SCHEDULE_CHANGE, requested=REQUESTED,
        submitted_at=SUBMITTED_AT, submitted_by="cli_hr", acknowledge_due=date(2027, 1, 11),
        decision_due=date(2027, 1, 25), status=status)
    return replace(case, **changes)  # type: ignore[arg-type]


def details(action: Action) -> dict[str, object]:
    if action is A.DENY:
        return {"reason": "not possible in a 24/7 control room"}
    if action in (A.APPROVE_MODIFIED, A.GRANT_INTERIM):
        return {"granted": GRANTED}
    return {}


def act(case: Accommodation, action: Action, **kw: object) -> Transition:
    return apply(case, action, actor="cli_spec", at=AT, calendar=CAL,
                 **{**details(action), **kw})  # type: ignore[arg-type]


CELLS = [(a, s, r) for a in Action for s in Status for r in (False, True)]


@pytest.mark.parametrize(("action", "status", "reconsidered"), CELLS,
                         ids=[f"{a}-{s}-{'reconsidered' if r else 'first'}" for a, s, r in CELLS])
def test_every_action_in_every_status(action: Action, status: Status,
                                      reconsidered: bool) -> None:
    case = make_case(status, reconsidered=reconsidered)
    target = expected_target(action, status, reconsidered)
    expected_allowed = [a for a in Action if expected_target(a, status, reconsidered)]
    assert allowed_actions(case) == expected_allowed
    if target is None:
        with pytest.raises(IllegalTransition) as caught:
            act(case, action)
        assert caught.value.action is action and caught.value.status is status
        assert caught.value.allowed == expected_allowed
        assert case.status is status and case.history == []
        return
    transition = act(case, action, note="a note")
    assert case.status is target
    assert transition == Transition(action, status, target, "cli_spec", AT, "a note")
    assert case.history == [transition]


def test_open_is_every_status_but_denied_and_the_final_ones() -> None:
    assert set(Status) - OPEN == {S.DENIED, S.CLOSED, S.WITHDRAWN}
    assert {S.SUBMITTED, S.IN_REVIEW, S.INFO_REQUESTED} == PENDING


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_deny_needs_a_reason(reason: str | None) -> None:
    case = make_case(S.IN_REVIEW)
    with pytest.raises(MissingDecisionDetail) as caught:
        act(case, A.DENY, reason=reason)
    assert caught.value.field == "reason"
    assert case.status is S.IN_REVIEW and case.history == [] and case.decided_at is None


@pytest.mark.parametrize(("action", "status"), [(A.APPROVE_MODIFIED, S.IN_REVIEW),
                                                (A.GRANT_INTERIM, S.SUBMITTED)])
def test_granted_arrangement_is_required(action: Action, status: Status) -> None:
    case = make_case(status)
    with pytest.raises(MissingDecisionDetail) as caught:
        act(case, action, granted=None)
    assert caught.value.field == "granted"
    assert case.status is status and case.history == [] and case.interim is None


@pytest.mark.parametrize(("action", "field", "value"), [
    (A.APPROVE, "granted", GRANTED),          # approve grants what was requested
    (A.START_REVIEW, "granted", GRANTED),
    (A.APPROVE, "reason", "because"),
    (A.START_REVIEW, "reason", "because"),
])
def test_details_an_action_does_not_use_are_refused(action: Action, field: str,
                                                    value: object) -> None:
    case = make_case(S.IN_REVIEW if action is A.APPROVE else S.SUBMITTED)
    with pytest.raises(InvalidDetail) as caught:
        act(case, action, **{field: value})
    assert caught.value.field == field and not isinstance(caught.value, MissingDecisionDetail)
    assert case.history == []


@pytest.mark.parametrize(("field", "action"), [("note", A.START_REVIEW), ("reason", A.DENY)])
def test_notes_and_reasons_have_at_most_2000_characters(field: str, action: Action) -> None:
    status = S.IN_REVIEW if action is A.DENY else S.SUBMITTED
    act(make_case(status), action, **{field: "x" * 2000})
    case = make_case(status)
    with pytest.raises(InvalidDetail) as caught:
        act(case, action, **{field: "x" * 2001})
    assert caught.value.field == field and case.status is status and case.history == []


def test_illegal_transition_wins_over_missing_details() -> None:
    with pytest.raises(IllegalTransition):
        act(make_case(S.SUBMITTED), A.DENY, reason=None)


def test_a_denied_case_is_reconsidered_once() -> None:
    case = make_case(S.IN_REVIEW)
    act(case, A.DENY)
    act(case, A.RECONSIDER)
    assert case.status is S.IN_REVIEW and case.reconsidered
    act(case, A.DENY, reason="still not possible")
    with pytest.raises(IllegalTransition) as caught:
        act(case, A.RECONSIDER)
    assert caught.value.allowed == [A.CLOSE]
    assert case.denial_reason == "still not possible"


def test_reconsideration_then_approval_replaces_the_denial() -> None:
    case = make_case(S.IN_REVIEW)
    act(case, A.DENY)
    act(case, A.RECONSIDER)
    act(case, A.APPROVE)
    assert case.denial_reason is None and case.granted == REQUESTED


def test_interim_keeps_the_status_and_ends_with_the_decision() -> None:
    case = make_case(S.SUBMITTED)
    act(case, A.GRANT_INTERIM)
    assert case.status is S.SUBMITTED and case.interim == GRANTED
    act(case, A.START_REVIEW)
    act(case, A.APPROVE)
    assert case.interim is None and case.granted == REQUESTED
    assert [t.action for t in case.history] == [A.GRANT_INTERIM, A.START_REVIEW, A.APPROVE]
    assert case.history[0].from_status is case.history[0].to_status is S.SUBMITTED


@pytest.mark.parametrize("ending", [A.DENY, A.APPROVE_MODIFIED, A.WITHDRAW])
def test_every_end_of_pending_clears_the_interim(ending: Action) -> None:
    case = make_case(S.IN_REVIEW)
    act(case, A.GRANT_INTERIM, granted=REQUESTED)
    act(case, ending)
    assert case.interim is None


def test_decisions_record_what_was_decided_and_when() -> None:
    approved, modified, denied = (make_case(S.IN_REVIEW) for _ in range(3))
    act(approved, A.APPROVE)
    act(modified, A.APPROVE_MODIFIED)
    act(denied, A.DENY)
    assert approved.granted == REQUESTED and modified.granted == GRANTED
    assert denied.granted is None and denied.denial_reason == "not possible in a 24/7 control room"
    assert approved.decided_at == modified.decided_at == denied.decided_at == AT


def test_start_review_acknowledges() -> None:
    case = make_case(S.SUBMITTED)
    act(case, A.START_REVIEW)
    assert case.acknowledged_at == AT


def test_request_info_moves_the_decision_due_date_to_20_business_days() -> None:
    case = make_case(S.IN_REVIEW, decision_due=CAL.add_business_days(SUBMITTED_AT.date(), 15))
    act(case, A.REQUEST_INFO)
    assert case.documentation_requested
    assert case.decision_due == date(2027, 2, 1)   # Mon 4 Jan + 20 business days
    act(case, A.RECEIVE_INFO)
    act(case, A.REQUEST_INFO)                        # a second request moves nothing further
    assert case.decision_due == date(2027, 2, 1)


def test_reconsideration_restarts_the_decision_clock() -> None:
    case = make_case(S.DENIED)
    apply(case, A.RECONSIDER, actor="cli_spec", at=datetime(2027, 3, 1, tzinfo=UTC),
          calendar=CAL)
    assert case.decision_due == date(2027, 3, 22)    # Mon 1 Mar + 15 business days
    apply(case, A.REQUEST_INFO, actor="cli_spec", at=datetime(2027, 3, 2, tzinfo=UTC),
          calendar=CAL)
    assert case.decision_due == date(2027, 3, 29)    # + 20 from the reconsideration


def test_the_whole_process_is_recorded_in_order() -> None:
    case = make_case(S.SUBMITTED)
    walk = [A.START_REVIEW, A.REQUEST_INFO, A.GRANT_INTERIM, A.RECEIVE_INFO, A.APPROVE_MODIFIED,
            A.IMPLEMENT, A.SCHEDULE_REVIEW, A.CLOSE]
    for action in walk:
        act(case, action)
    assert [(t.action, t.from_status, t.to_status) for t in case.history] == [
        (A.START_REVIEW, S.SUBMITTED, S.IN_REVIEW),
        (A.REQUEST_INFO, S.IN_REVIEW, S.INFO_REQUESTED),
        (A.GRANT_INTERIM, S.INFO_REQUESTED, S.INFO_REQUESTED),
        (A.RECEIVE_INFO, S.INFO_REQUESTED, S.IN_REVIEW),
        (A.APPROVE_MODIFIED, S.IN_REVIEW, S.APPROVED_MODIFIED),
        (A.IMPLEMENT, S.APPROVED_MODIFIED, S.IMPLEMENTED),
        (A.SCHEDULE_REVIEW, S.IMPLEMENTED, S.REVIEW_DUE),
        (A.CLOSE, S.REVIEW_DUE, S.CLOSED),
    ]
    assert all(t.actor == "cli_spec" and t.note is None for t in case.history)
    assert allowed_actions(case) == []
