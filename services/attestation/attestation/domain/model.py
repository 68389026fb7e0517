"""What the attestation service knows: attendance reported by providers, and the consent
and enrollment it learns from events. Nothing here holds a provider name, a program type
or free text, so nothing here can leak one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

EnrollmentStatus = Literal["enrolled", "completed", "discontinued"]
AttestationKind = Literal["weekly", "final"]
ENDED: frozenset[str] = frozenset({"completed", "discontinued"})


class AttendanceStatus(StrEnum):
    ATTENDED = "attended"
    ABSENT_EXCUSED = "absent_excused"
    ABSENT_UNEXCUSED = "absent_unexcused"
    CANCELLED_BY_PROGRAM = "cancelled_by_program"


class ConsentScope(StrEnum):
    """The closed set of consent scopes (DESIGN section 1)."""

    PARTICIPATION = "participation"
    ATTENDANCE_SUMMARY = "attendance_summary"
    COMPLETION = "completion"
    RETURN_TO_WORK = "return_to_work"
    SCHEDULE_NEEDS = "schedule_needs"


ConsentScopes = ConsentScope  # the name used in the issue brief
ALL_SCOPES: frozenset[str] = frozenset(scope.value for scope in ConsentScope)


@dataclass(frozen=True)
class AttendanceRecord:
    """One session as the provider reported it. A correction is a new version of the same
    id; `claims.latest_records` keeps the newest."""

    id: str
    referral_id: str
    date: date
    status: AttendanceStatus
    received_at: datetime
    version: int = 1


@dataclass(frozen=True)
class ConsentState:
    """The consent as the attestation service learns it from `consent.*` events."""

    consent_id: str
    referral_id: str
    employer_id: str
    scopes: frozenset[str]
    expires_on: date
    revoked_at: datetime | None = None

    def __post_init__(self) -> None:
        unknown = set(self.scopes) - ALL_SCOPES
        if unknown:
            raise ValueError(f"unknown consent scopes: {', '.join(sorted(unknown))}")

    def is_active(self, today: date) -> bool:
        """Active until revoked, and before `expires_on` (the referral service counts a
        consent as expired from its expiry date on; so do we)."""
        return self.revoked_at is None and today < self.expires_on


@dataclass(frozen=True)
class Enrollment:
    """The enrollment as learned from `enrollment.*` events; `status` None before any."""

    referral_id: str
    status: EnrollmentStatus | None = None
    start_date: date | None = None
    end_date: date | None = None
    return_to_work_date: date | None = None

    @property
    def has_ended(self) -> bool:
        return self.status in ENDED and self.end_date is not None


@dataclass(frozen=True)
class Attestation:
    """A signed, consent-filtered statement about one period of one referral."""

    id: str
    referral_id: str
    employer_id: str
    consent_id: str
    period_start: date
    period_end: date
    claims: dict[str, Any]
    issued_at: datetime
    expires_at: datetime
    jws: str
    kind: AttestationKind = "weekly"

    def is_expired(self, now: datetime) -> bool:
        """A stale `compliant` lapses: still listed, but marked expired."""
        return now >= self.expires_at
