"""Consent to disclose: the 42 CFR Part 2 §2.31 elements, the closed set of scopes, and
the plain-language preview of what the employer will and will not see.

Any scope reveals that the employee takes part, so every consent includes
`participation`; accepting without ticking anything shares nothing and records no
consent at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from referral.domain.errors import InvalidConsent

FORM_VERSION = "2026-11"
DEFAULT_CONSENT_DAYS = 120
MAX_CONSENT_DAYS = 365
PURPOSE = "to support your employment while you take part in a treatment program"
RECIPIENT_ROLE = "hr"
REVOCATION_TEXT = (
    "You may revoke this consent at any time, at once, with the Revoke button on your "
    "manage page. Revocation stops every further disclosure; it cannot undo what was "
    "already disclosed.")


class Scope(StrEnum):
    PARTICIPATION = "participation"
    ATTENDANCE_SUMMARY = "attendance_summary"
    COMPLETION = "completion"
    RETURN_TO_WORK = "return_to_work"
    SCHEDULE_NEEDS = "schedule_needs"


# What each scope lets the employer receive, in the words the employee reads.
SCOPE_DESCRIPTIONS: dict[Scope, str] = {
    Scope.PARTICIPATION: "whether you accepted the referral and are enrolled in a program",
    Scope.ATTENDANCE_SUMMARY: ("each week, how many scheduled sessions you attended, and "
                               "whether that meets the program's expectations"),
    Scope.COMPLETION: "whether you completed the program or stopped, and the date",
    Scope.RETURN_TO_WORK: "the return-to-work date your provider gives",
    Scope.SCHEDULE_NEEDS: ("the days and times of your program, so that your work schedule "
                           "can be adjusted (not what kind of program it is)"),
}
NEVER_SHARED = (
    "your diagnosis or why you are in treatment",
    "the kind of program or level of care",
    "what is said in your sessions, and your provider's notes",
    "your contact details",
)


class ConsentStatus(StrEnum):
    NONE = "none"
    GRANTED = "granted"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass
class Consent:
    id: str
    scopes: frozenset[Scope]
    expires_on: date
    signature: str                 # the typed name: identifying, stored encrypted
    signed_at: datetime
    discloser: str                 # the provider id
    recipient_employer_id: str
    recipient_role: str = RECIPIENT_ROLE
    purpose: str = PURPOSE
    form_version: str = FORM_VERSION
    revoked_at: datetime | None = None

    def status(self, today: date) -> ConsentStatus:
        return self.terms.status(today)

    @property
    def terms(self) -> ConsentTerms:
        return ConsentTerms(self.scopes, self.expires_on, self.revoked_at)

    @property
    def description(self) -> str:
        return describe(self.scopes)


@dataclass(frozen=True)
class ConsentTerms:
    """What a consent lets the employer see and until when: its scopes, end and
    revocation, without the signature or the parties (what HR's view is made of)."""

    scopes: frozenset[Scope]
    expires_on: date
    revoked_at: datetime | None = None

    def status(self, today: date) -> ConsentStatus:
        if self.revoked_at is not None:
            return ConsentStatus.REVOKED
        if today >= self.expires_on:
            return ConsentStatus.EXPIRED
        return ConsentStatus.GRANTED


def consent_status(consent: Consent | ConsentTerms | None, today: date) -> ConsentStatus:
    return ConsentStatus.NONE if consent is None else consent.status(today)


def describe(scopes: frozenset[Scope]) -> str:
    """The specific description of the information, derived from the scopes (§2.31(a)(3))."""
    return "; ".join(SCOPE_DESCRIPTIONS[s] for s in Scope if s in scopes)


def parse_scopes(values: list[str]) -> frozenset[Scope]:
    """Scopes from form values; any scope implies `participation`."""
    unknown = sorted(set(values) - {s.value for s in Scope})
    if unknown:
        raise InvalidConsent({"scopes": [f"Unknown scope: {', '.join(unknown)}."]})
    scopes = frozenset(Scope(v) for v in values)
    return scopes | {Scope.PARTICIPATION} if scopes else scopes


def default_expiry(today: date) -> date:
    return today + timedelta(days=DEFAULT_CONSENT_DAYS)


def validate_terms(*, scopes: frozenset[Scope], expires_on: date | None, signature: str,
                   employee_name: str, today: date) -> date:
    """Check what the employee filled in; returns the expiry date. Raises InvalidConsent
    with one message per field, in the employee's words."""
    errors: dict[str, list[str]] = {}
    expires_on = expires_on or default_expiry(today)
    if expires_on <= today:
        errors["expires_on"] = ["Choose an end date after today."]
    elif expires_on > today + timedelta(days=MAX_CONSENT_DAYS):
        errors["expires_on"] = ["Choose an end date within one year from today."]
    typed = " ".join(signature.split())
    if scopes and not typed:
        errors["signature"] = ["Type your full name to sign."]
    elif scopes and typed.casefold() != " ".join(employee_name.split()).casefold():
        errors["signature"] = [f"Type your name exactly as shown: {employee_name}."]
    if errors:
        raise InvalidConsent(errors)
    return expires_on


@dataclass(frozen=True)
class Preview:
    will_see: list[str]
    will_not_see: list[str]


def preview(scopes: frozenset[Scope]) -> Preview:
    """What the employer will and will not see with these scopes (the live preview)."""
    shared = [SCOPE_DESCRIPTIONS[s] for s in Scope if s in scopes]
    withheld = [SCOPE_DESCRIPTIONS[s] for s in Scope if s not in scopes]
    if not scopes:
        shared = []
        withheld = ["anything at all: your employer will not learn whether you accepted"]
    return Preview(will_see=shared, will_not_see=withheld + list(NEVER_SHARED))
