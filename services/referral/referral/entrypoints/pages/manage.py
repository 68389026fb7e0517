"""`/m/<manage_token>`: what became of the referral, a printable copy of the consent, the
log of every disclosure made under it, and the Revoke button (effective at once)."""

from __future__ import annotations

from typing import Any

from referral.domain import consent as consent_rules
from referral.domain.commands import RevokeConsent
from referral.domain.errors import ConsentNotRevocable
from referral.domain.model import Origin, Referral
from referral.entrypoints.pages import blp, csrf, wording
from referral.entrypoints.pages.rendering import error_page, page, services
from referral.service_layer.handlers import LinkNotFound
from shared.contract import REDISCLOSURE_NOTICE

Page = tuple[str, int]


@blp.get("/m/<manage_token>")
def manage_page(manage_token: str) -> Page:
    try:
        referral, disclosures = services().open_manage(manage_token)
    except LinkNotFound:
        return error_page(404)
    names = services().names
    return page("manage.html", manage_token=manage_token, referral=referral,
                csrf_token=csrf.for_manage(manage_token),
                state_words=wording.STATE_WORDS[referral.state],
                self_referral=referral.origin is Origin.SELF,
                disclosures=wording.disclosure_rows(disclosures, names.employer_name),
                **consent_copy(referral))


@blp.post("/m/<manage_token>/revoke")
def revoke(manage_token: str) -> Page:
    if not csrf.request_is_genuine(csrf.for_manage(manage_token)):
        return error_page(403)
    try:
        services().revoke(RevokeConsent(manage_token=manage_token))
    except LinkNotFound:
        return error_page(404)
    except ConsentNotRevocable:
        return error_page(409, title="There is no consent to revoke",
                          message="This consent was already revoked or has ended, so "
                                  "nothing more is shared with your employer under it.")
    return page("revoked.html", manage_token=manage_token)


def consent_copy(referral: Referral) -> dict[str, Any]:
    """Every §2.31 element of the consent, as the employee signed it."""
    names = services().names
    consent = referral.consent
    today = services().clock().date()
    copy: dict[str, Any] = {
        "consent": consent,
        "consent_status": consent_rules.consent_status(consent, today).value,
        "employee_name": referral.contact.name,
        "employer_name": names.employer_name(referral.employer_id) or "Your employer",
        "provider_name": names.provider_name(referral.provider_id) or "The provider",
        "revocation": consent_rules.REVOCATION_TEXT,
        "redisclosure_notice": REDISCLOSURE_NOTICE,
    }
    if consent is not None:
        copy["information"] = [consent_rules.SCOPE_DESCRIPTIONS[s]
                               for s in consent_rules.Scope if s in consent.scopes]
    return copy
