"""The events and webhooks the referral service sends, built in one place so that what
leaves the service (and what stays out of it) is easy to review.

Identifying and clinical values travel encrypted (`sensitive_fields`); self-referrals
never produce an event: no other service, and so no employer, ever hears of them.
"""

from __future__ import annotations

from typing import Any

from referral.domain.consent import Scope
from referral.domain.model import Referral
from shared.messaging import CloudEvent

SOURCE = "/referral"


def _event(type_: str, referral: Referral, data: dict[str, Any],
           sensitive: tuple[str, ...] = ()) -> CloudEvent:
    return CloudEvent(type=type_, source=SOURCE, subject=referral.id,
                      tenant=referral.employer_id, key_subject=referral.employee_subject,
                      data={"referral_id": referral.id, "employer_id": referral.employer_id,
                            **data},
                      sensitive_fields=sensitive)


def referral_created(r: Referral) -> CloudEvent:
    return _event("referral.created", r, {
        "provider_id": r.provider_id, "kind": r.kind.value,
        "employee": {"external_id": r.external_id},
        "link_expires_at": r.link_expires_at.isoformat()}, ("employee.external_id",))


def referral_answered(r: Referral, type_: str) -> CloudEvent:
    """`referral.accepted`, `referral.declined` or `referral.expired`."""
    return _event(type_, r, {"provider_id": r.provider_id})


def consent_granted(r: Referral) -> CloudEvent:
    c = r.consent
    assert c is not None
    return _event("consent.granted", r, {
        "consent_id": c.id, "provider_id": r.provider_id,
        "scopes": sorted(s.value for s in c.scopes), "expires_on": c.expires_on.isoformat(),
        "recipient": {"employer_id": c.recipient_employer_id, "role": c.recipient_role},
        "purpose": c.purpose, "signed_at": c.signed_at.isoformat(),
        "form_version": c.form_version,
        "employee": {"name": r.contact.name, "external_id": r.external_id}},
        ("employee.name", "employee.external_id"))


def consent_ended(r: Referral, type_: str) -> CloudEvent:
    """`consent.revoked` or `consent.expired`."""
    c = r.consent
    assert c is not None
    when = c.revoked_at.isoformat() if c.revoked_at else c.expires_on.isoformat()
    return _event(type_, r, {"consent_id": c.id, "at": when})


def enrollment_event(r: Referral, type_: str) -> CloudEvent:
    e = r.enrollment
    data: dict[str, Any] = {"provider_id": r.provider_id}
    sensitive: tuple[str, ...] = ()
    if type_ == "enrollment.started":
        data |= {"start_date": _iso(e.start_date), "expected_end_date": _iso(e.expected_end_date),
                 "level_of_care": e.level_of_care}
        sensitive = ("level_of_care",)
        if r.consent and Scope.SCHEDULE_NEEDS in r.consent.scopes:
            data["schedule"] = [{"weekday": w.weekday, "start": w.start.strftime("%H:%M"),
                                 "end": w.end.strftime("%H:%M")} for w in e.schedule]
    else:
        data["date"] = _iso(e.end_date)
        if r.consent and Scope.RETURN_TO_WORK in r.consent.scopes:
            data["return_to_work_date"] = _iso(e.return_to_work_date)
    return _event(type_, r, data, sensitive)


def provider_referral_accepted(r: Referral, employer_name: str) -> dict[str, Any]:
    """The webhook body's `data` for the provider: only the contact details and program
    preferences the employee chose to share."""
    contact: dict[str, Any] = {"name": r.contact.name}
    if "email" in r.shared_contact and r.contact.email:
        contact["email"] = r.contact.email
    if "phone" in r.shared_contact and r.contact.phone:
        contact["phone"] = r.contact.phone
    return {
        "referral_id": r.id, "kind": "self" if r.origin.value == "self" else r.kind.value,
        "employer": None if r.origin.value == "self" else {"name": employer_name},
        "contact": contact, "program_options": r.program_options,
        "consent": None if r.consent is None else {
            "scopes": sorted(s.value for s in r.consent.scopes),
            "expires_on": r.consent.expires_on.isoformat()},
    }


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()
