"""Referrals and their lifecycle.

A referral is created by HR (`origin="employer"`) or by the employee on the
self-referral page (`origin="self"`, never visible to the employer). Its internal
`state` is the truth; what HR sees is `projections.project_for_hr` of it.

    invited ──accept──▶ accepted ──intake──▶ intake_scheduled ──start──▶ enrolled
       │ └──decline──▶ declined                                          │
       └──(link expires)──▶ expired                    completed ◀──┴──▶ discontinued
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from referral.domain.consent import Consent
from referral.domain.errors import LinkAlreadyUsed, LinkExpired, TransitionNotAllowed
from shared.weekly import Window


class Kind(StrEnum):
    SUPERVISORY = "supervisory"
    FORMAL = "formal"
    RETURN_TO_WORK = "return_to_work"


class Origin(StrEnum):
    EMPLOYER = "employer"
    SELF = "self"


class State(StrEnum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    INTAKE_SCHEDULED = "intake_scheduled"
    ENROLLED = "enrolled"
    COMPLETED = "completed"
    DISCONTINUED = "discontinued"


class ProgramOption(StrEnum):
    EVENING = "evening"
    WEEKEND = "weekend"
    VIRTUAL = "virtual"


# Provider updates: which states each may arrive in, and the state it leads to.
PROVIDER_TRANSITIONS: dict[str, tuple[frozenset[State], State]] = {
    "intake.scheduled": (frozenset({State.ACCEPTED, State.INTAKE_SCHEDULED}),
                         State.INTAKE_SCHEDULED),
    "enrollment.started": (frozenset({State.ACCEPTED, State.INTAKE_SCHEDULED, State.ENROLLED}),
                           State.ENROLLED),
    "enrollment.completed": (frozenset({State.ENROLLED}), State.COMPLETED),
    "enrollment.discontinued": (frozenset({State.ACCEPTED, State.INTAKE_SCHEDULED,
                                           State.ENROLLED}), State.DISCONTINUED),
}
ANSWERABLE = frozenset({State.INVITED})


@dataclass
class Enrollment:
    schedule: list[Window] = field(default_factory=list)
    start_date: date | None = None
    expected_end_date: date | None = None
    level_of_care: str | None = None           # clinical: stored encrypted
    intake_date: date | None = None
    end_date: date | None = None
    return_to_work_date: date | None = None


@dataclass
class Contact:
    """What the employee is called and how to reach them (identifying: encrypted)."""

    name: str
    email: str | None = None
    phone: str | None = None


@dataclass
class Referral:
    id: str
    employer_id: str
    provider_id: str
    kind: Kind
    origin: Origin
    employee_subject: str
    external_id: str | None
    contact: Contact
    purpose: str | None
    link_token_hash: str | None
    link_expires_at: datetime
    created_at: datetime
    state: State = State.INVITED
    manage_token_hash: str | None = None
    answered_at: datetime | None = None
    program_options: list[str] = field(default_factory=list)
    shared_contact: list[str] = field(default_factory=list)   # "email", "phone"
    consent: Consent | None = None
    enrollment: Enrollment = field(default_factory=Enrollment)

    def link_expired(self, now: datetime) -> bool:
        return now >= self.link_expires_at

    def ensure_answerable(self, now: datetime) -> None:
        """The link may still be answered: raises LinkAlreadyUsed or LinkExpired."""
        if self.state not in ANSWERABLE:
            if self.state is State.EXPIRED:
                raise LinkExpired()
            raise LinkAlreadyUsed(self.state)
        if self.link_expired(now):
            raise LinkExpired()

    def accept(self, now: datetime, *, manage_token_hash: str, consent: Consent | None,
               program_options: list[str], shared_contact: list[str]) -> None:
        self.ensure_answerable(now)
        self.state = State.ACCEPTED
        self.answered_at = now
        self.manage_token_hash = manage_token_hash
        self.consent = consent
        self.program_options = sorted(set(program_options))
        self.shared_contact = sorted(set(shared_contact))

    def decline(self, now: datetime) -> None:
        self.ensure_answerable(now)
        self.state = State.DECLINED
        self.answered_at = now

    def expire(self, now: datetime) -> bool:
        """Mark an unanswered link expired; False when there is nothing to do."""
        if self.state is not State.INVITED or not self.link_expired(now):
            return False
        self.state = State.EXPIRED
        return True

    def apply_provider_update(self, update_type: str) -> None:
        allowed_from, target = PROVIDER_TRANSITIONS[update_type]
        if self.state not in allowed_from:
            raise TransitionNotAllowed(update_type, self.state)
        self.state = target
