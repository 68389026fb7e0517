"""The events the accommodation service publishes: status and schedule impact only —
never the type of accommodation, a limitation, a document, a reason or a note."""

from __future__ import annotations

from typing import Any

from accommodation.domain.model import Accommodation
from accommodation.domain.projections import schedule_impact
from shared.messaging import CloudEvent

SOURCE = "/accommodation"


def _event(type_: str, case: Accommodation, data: dict[str, Any]) -> CloudEvent:
    return CloudEvent(type=type_, source=SOURCE, subject=case.id, tenant=case.employer_id,
                      key_subject=case.employee_subject,
                      data={"accommodation_id": case.id, "employer_id": case.employer_id,
                            "referral_id": case.referral_id, "status": case.status.value,
                            **data})


def submitted(case: Accommodation) -> CloudEvent:
    return _event("accommodation.submitted", case, {
        "submitted_at": case.submitted_at.isoformat(),
        "acknowledge_due": case.acknowledge_due.isoformat(),
        "decision_due": case.decision_due.isoformat()})


def decided(case: Accommodation) -> CloudEvent:
    granted = case.granted
    return _event("accommodation.decided", case, {
        "schedule_impact": schedule_impact(granted) if granted else [],
        "effective": None if granted is None else {
            "start": granted.start_date.isoformat(),
            "end": granted.end_date.isoformat() if granted.end_date else None}})


def overdue(case: Accommodation) -> CloudEvent:
    return _event("accommodation.overdue", case, {
        "acknowledge_due": case.acknowledge_due.isoformat(),
        "decision_due": case.decision_due.isoformat()})
