"""The ADA interactive process as one explicit table: which action is possible in which
status, and where it leads (None: the status stays).

    submitted -> in_review <-> info_requested
    in_review -> approved | approved_modified | denied      (the employer reviews first)
    approved | approved_modified -> implemented -> review_due -> closed
    implemented -> closed;  denied -> closed (no reconsideration wanted)
    denied -> in_review, once (reconsider)
    any OPEN status -> withdrawn

Status groups:
- PENDING: no decision yet (submitted, in_review, info_requested). An interim
  accommodation may be granted, and replaced, only here; it does not change the status.
- IN_EFFECT: an accommodation was granted and has not ended (approved, approved_modified,
  implemented, review_due).
- OPEN = PENDING | IN_EFFECT: the employer still owes a decision, an implementation or a
  review, so the employee may withdraw. Denied is not open (it is reconsidered or closed);
  closed and withdrawn are final.

Effects: start_review acknowledges; request_info marks documentation as requested and moves
the decision due date to 20 business days after the clock started; a decision (approve,
approve_modified, deny) sets `decided_at`, ends any interim accommodation (`interim` is
cleared; its grant stays in the history) and replaces the previous decision's `granted` or
`denial_reason`; withdraw ends an interim accommodation too; reconsider (once) restarts the
decision clock on its own date. Details: `note` on any action and `reason` at most 2,000
characters; `reason` belongs to deny only and `granted` to approve_modified and
grant_interim only (approve grants what was requested) - otherwise InvalidDetail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from accommodation.domain.errors import IllegalTransition, InvalidDetail, MissingDecisionDetail
from accommodation.domain.model import Accommodation, Action, Arrangement, Status, Transition

if TYPE_CHECKING:
    from accommodation.domain.calendar import BusinessCalendar

S = Status
PENDING = frozenset({S.SUBMITTED, S.IN_REVIEW, S.INFO_REQUESTED})
IN_EFFECT = frozenset({S.APPROVED, S.APPROVED_MODIFIED, S.IMPLEMENTED, S.REVIEW_DUE})
OPEN = PENDING | IN_EFFECT
FINAL = frozenset({S.CLOSED, S.WITHDRAWN})
DECISIONS = frozenset({Action.APPROVE, Action.APPROVE_MODIFIED, Action.DENY})
DETAIL_LIMIT = 2000

TRANSITIONS: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.START_REVIEW: (frozenset({S.SUBMITTED}), S.IN_REVIEW),
    Action.REQUEST_INFO: (frozenset({S.IN_REVIEW}), S.INFO_REQUESTED),
    Action.RECEIVE_INFO: (frozenset({S.INFO_REQUESTED}), S.IN_REVIEW),
    Action.GRANT_INTERIM: (PENDING, None),
    Action.APPROVE: (frozenset({S.IN_REVIEW}), S.APPROVED),
    Action.APPROVE_MODIFIED: (frozenset({S.IN_REVIEW}), S.APPROVED_MODIFIED),
    Action.DENY: (frozenset({S.IN_REVIEW}), S.DENIED),
    Action.IMPLEMENT: (frozenset({S.APPROVED, S.APPROVED_MODIFIED}), S.IMPLEMENTED),
    Action.SCHEDULE_REVIEW: (frozenset({S.IMPLEMENTED}), S.REVIEW_DUE),
    Action.CLOSE: (frozenset({S.DENIED, S.IMPLEMENTED, S.REVIEW_DUE}), S.CLOSED),
    Action.WITHDRAW: (OPEN, S.WITHDRAWN),
    Action.RECONSIDER: (frozenset({S.DENIED}), S.IN_REVIEW),
}

# Conditions beyond the status; an action whose guard fails is not allowed at all.
GUARDS: dict[Action, Callable[[Accommodation], bool]] = {
    Action.RECONSIDER: lambda case: not case.reconsidered,
}

NEEDS_REASON = frozenset({Action.DENY})
NEEDS_GRANTED = frozenset({Action.APPROVE_MODIFIED, Action.GRANT_INTERIM})


@dataclass(frozen=True)
class _Details:
    at: datetime
    reason: str | None
    granted: Arrangement | None
    calendar: BusinessCalendar


def allowed_actions(case: Accommodation) -> list[Action]:
    """The actions possible now, in table order."""
    return [action for action, (sources, _) in TRANSITIONS.items()
            if case.status in sources and GUARDS.get(action, _always)(case)]


def apply(case: Accommodation, action: Action, *, actor: str, at: datetime,
          note: str | None = None, reason: str | None = None,
          granted: Arrangement | None = None, calendar: BusinessCalendar) -> Transition:
    """Carry out `action` on `case` (mutating it) and return the recorded transition."""
    allowed = allowed_actions(case)
    if action not in allowed:
        raise IllegalTransition(action, case.status, allowed)
    _check_details(action, note, reason, granted)
    source = case.status
    target = TRANSITIONS[action][1] or source
    EFFECTS.get(action, _nothing)(case, _Details(at, reason, granted, calendar))
    case.status = target
    transition = Transition(action, source, target, actor, at, note)
    case.history.append(transition)
    return transition


def _check_details(action: Action, note: str | None, reason: str | None,
                   granted: Arrangement | None) -> None:
    _check_length("note", note)
    _check_length("reason", reason)
    if action in NEEDS_REASON and not (reason and reason.strip()):
        raise MissingDecisionDetail("reason", f"{action.value} needs a reason")
    if action not in NEEDS_REASON and reason is not None:
        raise InvalidDetail("reason", f"{action.value} takes no reason; use a note")
    if action in NEEDS_GRANTED and granted is None:
        raise MissingDecisionDetail("granted", f"{action.value} needs the granted arrangement")
    if action not in NEEDS_GRANTED and granted is not None:
        raise InvalidDetail("granted", f"{action.value} takes no granted arrangement")


def _check_length(field: str, text: str | None) -> None:
    if text is not None and len(text) > DETAIL_LIMIT:
        raise InvalidDetail(field, f"the {field} is longer than {DETAIL_LIMIT} characters")


def _clock_start(case: Accommodation) -> date:
    """When the decision clock started: the last reconsideration, else the submission."""
    restarts = [t.at.date() for t in case.history if t.action is Action.RECONSIDER]
    return restarts[-1] if restarts else case.submitted_at.date()


def _decide(case: Accommodation, d: _Details, granted: Arrangement | None,
            denial_reason: str | None) -> None:
    case.granted = granted
    case.denial_reason = denial_reason
    case.interim = None
    case.decided_at = d.at


def _start_review(case: Accommodation, d: _Details) -> None:
    case.acknowledged_at = d.at


def _request_info(case: Accommodation, d: _Details) -> None:
    case.documentation_requested = True
    case.decision_due = d.calendar.due_dates(_clock_start(case), True)[1]


def _grant_interim(case: Accommodation, d: _Details) -> None:
    case.interim = d.granted


def _withdraw(case: Accommodation, d: _Details) -> None:
    case.interim = None


def _reconsider(case: Accommodation, d: _Details) -> None:
    case.reconsidered = True
    case.decision_due = d.calendar.due_dates(d.at.date(), case.documentation_requested)[1]


def _always(case: Accommodation) -> bool:
    return True


def _nothing(case: Accommodation, d: _Details) -> None:
    return None


EFFECTS: dict[Action, Callable[[Accommodation, _Details], None]] = {
    Action.START_REVIEW: _start_review,
    Action.REQUEST_INFO: _request_info,
    Action.GRANT_INTERIM: _grant_interim,
    Action.APPROVE: lambda case, d: _decide(case, d, case.requested, None),
    Action.APPROVE_MODIFIED: lambda case, d: _decide(case, d, d.granted, None),
    Action.DENY: lambda case, d: _decide(case, d, None, d.reason),
    Action.WITHDRAW: _withdraw,
    Action.RECONSIDER: _reconsider,
}
