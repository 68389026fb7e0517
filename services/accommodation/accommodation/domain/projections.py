"""What each role may see of an accommodation case: small pure functions, the heart of the
privacy promise (29 CFR 1630.14: medical information stays in a confidential file;
supervisors and managers may be told only the work restrictions and the accommodations).

- specialist: the whole case, clinical fields and every transition's note included (the
  service audits each such read).
- hr: status, dates, type, requested arrangement, decision (granted arrangement, denial
  reason), interim arrangement, schedule impact and due dates, and the history as actions,
  statuses, actors and times WITHOUT notes: a note is free text the specialist may have
  written clinical detail into. Never the functional limitations or the documentation.
- manager: only `id`, `status`, `schedule_impact` and `effective`. The status is coarse
  (`MANAGER_STATUS`): pending | approved | implemented | closed, so a manager never learns
  that documentation was requested, that a request was denied (denied, closed and
  withdrawn look the same) or that the grant differs from the request (approved and
  approved_modified look the same). The schedule impact is what is in effect now: the
  granted arrangement once approved (approved, approved_modified, implemented,
  review_due), the interim arrangement while the case is pending, else nothing (an empty
  list and `effective` None). Never the type, a reason, a note or the requested arrangement.

Times are "HH:MM" strings, weekdays `mon`..`sun`; dates stay `date`/`datetime` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time
from typing import Any

from accommodation.domain.calendar import is_overdue
from accommodation.domain.model import Accommodation, Arrangement, Status
from accommodation.domain.process import IN_EFFECT, PENDING, allowed_actions
from shared.weekly import WEEKDAYS, Window

MANAGER_STATUS: dict[Status, str] = {
    Status.SUBMITTED: "pending",
    Status.IN_REVIEW: "pending",
    Status.INFO_REQUESTED: "pending",
    Status.APPROVED: "approved",
    Status.APPROVED_MODIFIED: "approved",
    Status.IMPLEMENTED: "implemented",
    Status.REVIEW_DUE: "implemented",
    Status.DENIED: "closed",
    Status.CLOSED: "closed",
    Status.WITHDRAWN: "closed",
}


def _hhmm(moment: time) -> str:
    return moment.strftime("%H:%M")


def _ordered(windows: tuple[Window, ...]) -> list[Window]:
    return sorted(windows, key=lambda w: (WEEKDAYS.index(w.weekday), w.start, w.end))


def schedule_impact(arrangement: Arrangement) -> list[dict[str, str]]:
    """When the employee is unavailable for work, by weekday (mon first), then time."""
    return [{"weekday": w.weekday, "unavailable_from": _hhmm(w.start),
             "unavailable_to": _hhmm(w.end)} for w in _ordered(arrangement.schedule)]


def arrangement_view(arrangement: Arrangement | None) -> dict[str, Any] | None:
    if arrangement is None:
        return None
    return {"schedule": [{"weekday": w.weekday, "start": _hhmm(w.start), "end": _hhmm(w.end)}
                         for w in _ordered(arrangement.schedule)],
            "start_date": arrangement.start_date, "end_date": arrangement.end_date,
            "hours_per_week": arrangement.hours_per_week}


def in_effect(case: Accommodation) -> Arrangement | None:
    """The arrangement the workplace must honour now, if any."""
    if case.status in IN_EFFECT:
        return case.granted
    if case.status in PENDING:
        return case.interim
    return None


def _effective(arrangement: Arrangement | None) -> dict[str, date | None] | None:
    if arrangement is None:
        return None
    return {"start": arrangement.start_date, "end": arrangement.end_date}


def project_for_manager(case: Accommodation) -> dict[str, Any]:
    current = in_effect(case)
    return {"id": case.id, "status": MANAGER_STATUS[case.status],
            "schedule_impact": schedule_impact(current) if current else [],
            "effective": _effective(current)}


def project_for_hr(case: Accommodation) -> dict[str, Any]:
    current = in_effect(case)
    return {
        "id": case.id, "employee": {"external_id": case.external_id},
        "type": case.type.value, "status": case.status.value,
        "requested": arrangement_view(case.requested), "interim": arrangement_view(case.interim),
        "decision": {"granted": arrangement_view(case.granted),
                     "denial_reason": case.denial_reason},
        "schedule_impact": schedule_impact(current) if current else [],
        "effective": _effective(current),
        "referral_id": case.referral_id, "submitted_at": case.submitted_at,
        "submitted_by": case.submitted_by, "acknowledge_due": case.acknowledge_due,
        "decision_due": case.decision_due, "acknowledged_at": case.acknowledged_at,
        "decided_at": case.decided_at, "documentation_requested": case.documentation_requested,
        "reconsidered": case.reconsidered,
        "allowed_actions": [a.value for a in allowed_actions(case)],
        "history": [{"action": t.action.value, "from": t.from_status.value,
                     "to": t.to_status.value, "actor": t.actor, "at": t.at}
                    for t in case.history],
    }


def project_for_specialist(case: Accommodation) -> dict[str, Any]:
    view = project_for_hr(case)
    view["functional_limitations"] = case.functional_limitations
    view["medical_documentation"] = case.medical_documentation
    for entry, transition in zip(view["history"], case.history, strict=True):
        entry["note"] = transition.note
    return view


PROJECTIONS: dict[str, Callable[[Accommodation], dict[str, Any]]] = {
    "specialist": project_for_specialist,
    "hr": project_for_hr,
    "manager": project_for_manager,
}


def project(case: Accommodation, role: str, *, today: date | None = None) -> dict[str, Any]:
    """The case as `role` may see it; with `today`, HR and specialists also get `overdue`."""
    if role not in PROJECTIONS:
        raise ValueError(f"no view of an accommodation for the role {role!r}")
    view = PROJECTIONS[role](case)
    if today is not None and role != "manager":
        view["overdue"] = is_overdue(case, today)
    return view
