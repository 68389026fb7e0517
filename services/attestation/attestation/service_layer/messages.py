"""What leaves the attestation service, built in one place: the attestation as the
employer receives it (API and webhook alike), and the events it publishes.

Events carry ids, periods and claim names, never claim values: the only party that
receives what the employee agreed to share is the employer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from attestation.domain.model import Attestation
from shared.contract import REDISCLOSURE_NOTICE
from shared.ids import new_id
from shared.messaging import CloudEvent

SOURCE = "/attestation"
PURPOSE_CODE = "employment_support"  # the audit log's closed vocabulary


def attestation_view(a: Attestation, external_id: str | None, now: datetime) -> dict[str, Any]:
    """`GET /v1/attestations/{id}` and the `attestation.issued` webhook's `data`."""
    return {
        "id": a.id, "referral_id": a.referral_id, "kind": a.kind,
        "employee": {"external_id": external_id},
        "period": {"start": a.period_start.isoformat(), "end": a.period_end.isoformat()},
        "claims": dict(a.claims), "issued_at": _rfc3339(a.issued_at),
        "expires_at": _rfc3339(a.expires_at), "expired": a.is_expired(now),
        "notice": REDISCLOSURE_NOTICE, "consent_id": a.consent_id, "jws": a.jws,
    }


def attestation_issued(a: Attestation, employee_subject: str) -> CloudEvent:
    return CloudEvent(type="attestation.issued", source=SOURCE, subject=a.referral_id,
                      tenant=a.employer_id, key_subject=employee_subject, data={
                          "attestation_id": a.id, "referral_id": a.referral_id,
                          "employer_id": a.employer_id, "consent_id": a.consent_id,
                          "kind": a.kind,
                          "period": {"start": a.period_start.isoformat(),
                                     "end": a.period_end.isoformat()},
                          "claims": sorted(a.claims), "issued_at": _rfc3339(a.issued_at),
                          "expires_at": _rfc3339(a.expires_at)})


def disclosure_recorded(a: Attestation, employee_subject: str, *, role: str, channel: str,
                        purpose: str, at: datetime) -> CloudEvent:
    """The shape the referral service's consumer reads for the employee's manage page."""
    return CloudEvent(type="disclosure.recorded", source=SOURCE, subject=a.referral_id,
                      tenant=a.employer_id, key_subject=employee_subject, data={
                          "disclosure_id": new_id("dsc"), "referral_id": a.referral_id,
                          "consent_id": a.consent_id,
                          "recipient": {"employer_id": a.employer_id, "role": role},
                          "information": sorted(a.claims), "purpose": purpose,
                          "channel": channel, "disclosed_at": _rfc3339(at)})


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
