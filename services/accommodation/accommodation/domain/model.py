"""An accommodation case: what the employee asked for, what was granted, and the
interactive process that got there (`process.py` holds the rules of that process).

`functional_limitations` and `medical_documentation` are clinical: stored encrypted,
shown only to the `specialist` role, and every read of them is audited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from shared.weekly import Window


class AccommodationType(StrEnum):
    SCHEDULE_CHANGE = "schedule_change"
    REDUCED_HOURS = "reduced_hours"
    REMOTE_WORK = "remote_work"
    INTERMITTENT_LEAVE = "intermittent_leave"
    LEAVE_OF_ABSENCE = "leave_of_absence"
    OTHER = "other"


class Status(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    APPROVED_MODIFIED = "approved_modified"
    DENIED = "denied"
    IMPLEMENTED = "implemented"
    REVIEW_DUE = "review_due"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Action(StrEnum):
    START_REVIEW = "start_review"
    REQUEST_INFO = "request_info"
    RECEIVE_INFO = "receive_info"
    GRANT_INTERIM = "grant_interim"
    APPROVE = "approve"
    APPROVE_MODIFIED = "approve_modified"
    DENY = "deny"
    IMPLEMENT = "implement"
    SCHEDULE_REVIEW = "schedule_review"
    CLOSE = "close"
    WITHDRAW = "withdraw"
    RECONSIDER = "reconsider"


@dataclass(frozen=True)
class Arrangement:
    """A schedule change, asked for or granted: the weekly windows the employee is NOT
    available for work, the dates it applies, and optionally the weekly hours."""

    schedule: tuple[Window, ...]
    start_date: date
    end_date: date | None = None
    hours_per_week: float | None = None


@dataclass(frozen=True)
class Transition:
    action: Action
    from_status: Status
    to_status: Status
    actor: str          # a client id, or "employee" for the accommodation link
    at: datetime
    note: str | None = None


@dataclass
class Accommodation:
    id: str
    employer_id: str
    employee_subject: str
    external_id: str
    type: AccommodationType
    requested: Arrangement
    submitted_at: datetime
    submitted_by: str
    acknowledge_due: date
    decision_due: date
    status: Status = Status.SUBMITTED
    functional_limitations: str | None = None     # clinical: encrypted, specialist only
    medical_documentation: str | None = None      # clinical: encrypted, specialist only
    referral_id: str | None = None
    granted: Arrangement | None = None
    interim: Arrangement | None = None
    denial_reason: str | None = None              # never shown to a manager
    documentation_requested: bool = False
    reconsidered: bool = False
    acknowledged_at: datetime | None = None
    decided_at: datetime | None = None
    overdue_announced_at: datetime | None = None
    history: list[Transition] = field(default_factory=list)
