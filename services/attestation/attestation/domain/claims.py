"""The privacy projection of the attestation service: which claims an employer receives.

A claim appears only when the consent holds its scope (`CLAIM_SCOPES`) and the data for
it exists; values come from a closed vocabulary. The functions take only statuses, dates
and counts, so a provider name, a program type or a note cannot reach a claim.

`compliant` is True when, in the period, at least one session was scheduled, no session
was missed without excuse, and the sessions attended are at least `COMPLIANCE_THRESHOLD`
(3/4) of those scheduled. Sessions the program cancelled are not scheduled. An excused
absence is no breach, but a week in which more than a quarter of the sessions were missed,
excused or not, does not meet the program's expectations. With nothing scheduled there is
nothing to judge, so `compliant` is left out (`attendance` still says 0 of 0).

`participation` says whether the employee is enrolled on the last day of the period:
"enrolled" once enrollment has started and until the day it ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from fractions import Fraction
from typing import Any

from attestation.domain.model import (
    AttendanceRecord,
    AttendanceStatus,
    AttestationKind,
    ConsentScope,
    ConsentState,
    Enrollment,
)
from attestation.domain.periods import Period

COMPLIANCE_THRESHOLD = Fraction(3, 4)

CLAIM_SCOPES: dict[str, ConsentScope] = {
    "participation": ConsentScope.PARTICIPATION,
    "attendance": ConsentScope.ATTENDANCE_SUMMARY,
    "compliant": ConsentScope.ATTENDANCE_SUMMARY,
    "completion": ConsentScope.COMPLETION,
    "return_to_work": ConsentScope.RETURN_TO_WORK,
}
ATTESTABLE_SCOPES: frozenset[str] = frozenset(CLAIM_SCOPES.values())

# 42 CFR 2.32(a)(1). The same words on every attestation, so its presence reveals nothing.


def should_issue(consent: ConsentState | None, today: date) -> bool:
    """Whether a new attestation may be issued today: never without an active consent, and
    not when no scope of the consent yields a claim (`schedule_needs` alone, say)."""
    return (consent is not None and consent.is_active(today)
            and bool(consent.scopes & ATTESTABLE_SCOPES))


def latest_records(records: Iterable[AttendanceRecord]) -> list[AttendanceRecord]:
    """One record per id, the latest version (then the latest received) winning; earlier
    versions are history the caller keeps, not facts to count. Sorted by date, id."""
    latest: dict[str, AttendanceRecord] = {}
    for record in records:
        current = latest.get(record.id)
        if current is None or ((record.version, record.received_at)
                               > (current.version, current.received_at)):
            latest[record.id] = record
    return sorted(latest.values(), key=lambda record: (record.date, record.id))


def build_claims(consent: ConsentState, enrollment: Enrollment,
                 records_in_period: Iterable[AttendanceRecord], period: Period,
                 kind: AttestationKind = "weekly") -> dict[str, Any]:
    """The claims of one attestation, only those the consent allows. Records outside the
    period are ignored; a record of another referral is a caller bug and raises."""
    _check_inputs(consent, enrollment, period, kind)
    scopes = consent.scopes
    claims: dict[str, Any] = {}
    if ConsentScope.PARTICIPATION in scopes:
        claims["participation"] = "enrolled" if _enrolled_at(enrollment, period.end) \
            else "not_enrolled"
    if ConsentScope.ATTENDANCE_SUMMARY in scopes:
        records = _records_of(consent.referral_id, records_in_period, period)
        claims.update(attendance_claims(records))
    if ConsentScope.COMPLETION in scopes and enrollment.has_ended \
            and enrollment.end_date is not None and enrollment.end_date <= period.end:
        claims["completion"] = {"status": enrollment.status,
                                "date": enrollment.end_date.isoformat()}
    if ConsentScope.RETURN_TO_WORK in scopes and enrollment.return_to_work_date is not None:
        claims["return_to_work"] = {"date": enrollment.return_to_work_date.isoformat()}
    return claims


def attendance_claims(records: Iterable[AttendanceRecord], *,
                      threshold: Fraction = COMPLIANCE_THRESHOLD) -> dict[str, Any]:
    """`attendance` and, when anything was scheduled, `compliant` (see the module doc)."""
    statuses = [record.status for record in latest_records(records)]
    scheduled = sum(status != AttendanceStatus.CANCELLED_BY_PROGRAM for status in statuses)
    attended = statuses.count(AttendanceStatus.ATTENDED)
    claims: dict[str, Any] = {"attendance": {"attended": attended, "scheduled": scheduled}}
    if scheduled:
        claims["compliant"] = (AttendanceStatus.ABSENT_UNEXCUSED not in statuses
                               and Fraction(attended, scheduled) >= threshold)
    return claims


def _enrolled_at(enrollment: Enrollment, day: date) -> bool:
    if enrollment.status is None or enrollment.start_date is None:
        return False
    if enrollment.start_date > day:
        return False
    return not (enrollment.has_ended and enrollment.end_date is not None
                and enrollment.end_date <= day)


def _records_of(referral_id: str, records: Iterable[AttendanceRecord],
                period: Period) -> list[AttendanceRecord]:
    kept = []
    for record in latest_records(records):  # a correction may move a session's date
        if record.referral_id != referral_id:
            raise ValueError("attendance of another referral passed to build_claims")
        if period.includes(record.date):
            kept.append(record)
    return kept


def _check_inputs(consent: ConsentState, enrollment: Enrollment, period: Period,
                  kind: str) -> None:
    if consent.referral_id != enrollment.referral_id:
        raise ValueError("consent and enrollment belong to different referrals")
    if period.end < period.start:
        raise ValueError("a period ends on or after its start")
    if kind not in ("weekly", "final"):
        raise ValueError(f"unknown attestation kind {kind!r}")
    if kind == "final" and not enrollment.has_ended:
        raise ValueError("a final attestation needs an enrollment that has ended")
