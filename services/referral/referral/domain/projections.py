"""What HR may see of a referral: one pure function, the heart of the privacy promise.

- Without granted consent HR sees `invited` until the link expires, then `closed`:
  declined, ignored and expired look the same, at the same moments.
- With consent (which always includes `participation`): `accepted` → `enrolled` →
  `completed` | `discontinued`.
- After revocation: `consent_revoked` and nothing newer; after the consent expires:
  `closed`, as no further information is authorised.
- Self-referrals: nothing at all (None).

Deliberately absent from the view: anything that changes when the employee acts without
consent (no `updated_at`, no answer time), the provider's updates, contact details.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from referral.domain.consent import ConsentStatus, ConsentTerms, Scope, consent_status
from referral.domain.model import Kind, Origin, Referral, State

HR_STATUSES = ("invited", "closed", "accepted", "enrolled", "completed", "discontinued",
               "consent_revoked")

_WITH_PARTICIPATION = {
    State.ACCEPTED: "accepted",
    State.INTAKE_SCHEDULED: "accepted",
    State.ENROLLED: "enrolled",
    State.COMPLETED: "completed",
    State.DISCONTINUED: "discontinued",
}


def hr_status(origin: Origin, state: State, consent: ConsentStatus,
              scopes: frozenset[Scope], link_expired: bool) -> str | None:
    """The status HR sees, or None when HR may not see the referral at all."""
    if origin is Origin.SELF:
        return None
    if consent is ConsentStatus.REVOKED:
        return "consent_revoked"
    if consent is ConsentStatus.GRANTED and Scope.PARTICIPATION in scopes:
        return _WITH_PARTICIPATION.get(state, "accepted")
    if consent is ConsentStatus.EXPIRED:
        return "closed"
    return "closed" if link_expired else "invited"


@dataclass(frozen=True)
class HrConsentView:
    status: str
    scopes: list[str]
    expires_at: date | None


@dataclass(frozen=True)
class HrReferralView:
    id: str
    kind: Kind
    status: str
    external_id: str | None
    provider_id: str
    purpose: str | None
    link_expires_at: datetime
    created_at: datetime
    consent: HrConsentView


@dataclass(frozen=True)
class HrRecord:
    """The facts of a referral that HR's view is made of, and nothing else: what HR reads
    load and decrypt (never the contact details, the level of care, the provider's
    updates or the consent's signature)."""

    id: str
    kind: Kind
    origin: Origin
    state: State
    external_id: str | None
    provider_id: str
    purpose: str | None
    link_expires_at: datetime
    created_at: datetime
    consent: ConsentTerms | None

    @classmethod
    def of(cls, referral: Referral) -> HrRecord:
        return cls(id=referral.id, kind=referral.kind, origin=referral.origin,
                   state=referral.state, external_id=referral.external_id,
                   provider_id=referral.provider_id, purpose=referral.purpose,
                   link_expires_at=referral.link_expires_at, created_at=referral.created_at,
                   consent=referral.consent.terms if referral.consent else None)

    def link_expired(self, now: datetime) -> bool:
        return now >= self.link_expires_at


def project_for_hr(referral: Referral | HrRecord, now: datetime) -> HrReferralView | None:
    record = referral if isinstance(referral, HrRecord) else HrRecord.of(referral)
    consent = record.consent
    status_of_consent = consent_status(consent, now.date())
    scopes = consent.scopes if consent else frozenset()
    status = hr_status(record.origin, record.state, status_of_consent, scopes,
                       record.link_expired(now))
    if status is None:
        return None
    consent_view = (HrConsentView("none", [], None) if consent is None else HrConsentView(
        status_of_consent.value, sorted(s.value for s in scopes), consent.expires_on))
    return HrReferralView(
        id=record.id, kind=record.kind, status=status, external_id=record.external_id,
        provider_id=record.provider_id, purpose=record.purpose,
        link_expires_at=record.link_expires_at, created_at=record.created_at,
        consent=consent_view)
