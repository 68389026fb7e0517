"""`/r/<token>`: the referral link — the referral in plain words, the live preview of
what the employer will and will not see, the consent form, accept and decline."""

from __future__ import annotations

from datetime import timedelta
from functools import cache
from itertools import combinations
from typing import Any

from flask import request

from referral.domain import consent as consent_rules
from referral.domain.commands import AcceptReferral, DeclineReferral
from referral.domain.errors import InvalidConsent, LinkAlreadyUsed, LinkExpired, ReferralError
from referral.domain.model import Referral
from referral.entrypoints.pages import blp, csrf, forms, wording
from referral.entrypoints.pages.manage import consent_copy
from referral.entrypoints.pages.rendering import error_page, page, public_url, services
from referral.service_layer.handlers import LinkNotFound

Page = tuple[str, int]


@blp.get("/r/<token>")
def referral_page(token: str) -> Page:
    referral = _answerable(token)
    if not isinstance(referral, Referral):
        return referral
    return _consent_form(token, referral, forms.ConsentForm())


@blp.post("/r/<token>/preview")
def preview_page(token: str) -> Page:
    """The preview without JavaScript: the same form, kept as filled in."""
    referral = _answerable(token)
    if not isinstance(referral, Referral):
        return referral
    values, errors = forms.read_consent(request.form, offered_contact(referral))
    return _consent_form(token, referral, values, errors)


@blp.post("/r/<token>/accept")
def accept(token: str) -> Page:
    if not csrf.request_is_genuine(csrf.for_link(token)):
        return error_page(403)
    referral = _answerable(token)
    if not isinstance(referral, Referral):
        return referral
    values, errors = forms.read_consent(request.form, offered_contact(referral))
    if not errors:
        try:
            referral, manage_token = services().accept(AcceptReferral(
                token=token, scopes=values.scopes, expires_on=values.expiry_date(),
                signature=values.signature, program_options=values.program_options,
                shared_contact=values.shared_contact))
        except InvalidConsent as invalid:
            errors = invalid.errors
        except ReferralError as error:
            return refusal(error)
        else:
            return page("accepted.html", referral=referral, **consent_copy(referral),
                        manage_url=public_url(f"/m/{manage_token}"))
    return _consent_form(token, referral, values, errors)


@blp.post("/r/<token>/decline")
def decline(token: str) -> Page:
    if not csrf.request_is_genuine(csrf.for_link(token)):
        return error_page(403)
    try:
        referral = services().decline(DeclineReferral(token=token))
    except ReferralError as error:
        return refusal(error)
    return page("declined.html", referral=referral, **_parties(referral))


def refusal(error: ReferralError) -> Page:
    """The page for a link that cannot be answered (any other error is a bug: re-raised)."""
    if isinstance(error, LinkNotFound):
        return error_page(404)
    if isinstance(error, LinkExpired):
        return error_page(410)
    if isinstance(error, LinkAlreadyUsed):
        return error_page(409)
    raise error


def offered_contact(referral: Referral) -> list[str]:
    return [f for f in forms.CONTACT_FIELDS if getattr(referral.contact, f)]


@cache
def preview_table() -> dict[str, Any]:
    """The server's preview for every combination of ticked scopes, for the script to show:
    `texts` once, and per combination (scope values joined by commas, in form order) the
    indexes of what the employer will and will not see."""
    texts: list[str] = []
    table: dict[str, list[list[int]]] = {}

    def index(text: str) -> int:
        if text not in texts:
            texts.append(text)
        return texts.index(text)

    for size in range(len(forms.SCOPES) + 1):
        for ticked in combinations(forms.SCOPES, size):
            shown = consent_rules.preview(consent_rules.parse_scopes(list(ticked)))
            table[",".join(ticked)] = [[index(wording.sentence(t)) for t in shown.will_see],
                                       [index(wording.sentence(t)) for t in shown.will_not_see]]
    return {"texts": texts, "previews": table}


def _answerable(token: str) -> Referral | Page:
    try:
        referral = services().open_link(token)
        referral.ensure_answerable(services().clock())
    except ReferralError as error:
        return refusal(error)
    return referral


def _parties(referral: Referral) -> dict[str, str]:
    names = services().names
    return {"employer_name": names.employer_name(referral.employer_id) or "Your employer",
            "provider_name": names.provider_name(referral.provider_id) or "The provider"}


def _consent_form(token: str, referral: Referral, values: forms.ConsentForm,
                  errors: forms.Errors | None = None) -> Page:
    today = services().clock().date()
    scopes = consent_rules.parse_scopes(values.scopes)
    return page(
        "referral.html", 422 if errors else 200,
        token=token, referral=referral, values=values, errors=errors or {},
        csrf_token=csrf.for_link(token), kind_words=wording.KIND_WORDS[referral.kind],
        employee_name=referral.contact.name,
        contact_options=[(f, wording.CONTACT_WORDS[f]) for f in offered_contact(referral)],
        scope_descriptions=[(s.value, wording.sentence(consent_rules.SCOPE_DESCRIPTIONS[s]))
                            for s in consent_rules.Scope],
        preview=consent_rules.preview(scopes), preview_table=preview_table(),
        today=today, default_expiry=values.expires_on
        or consent_rules.default_expiry(today).isoformat(),
        min_expiry=(today + timedelta(days=1)).isoformat(),
        max_expiry=(today + timedelta(days=consent_rules.MAX_CONSENT_DAYS)).isoformat(),
        purpose=consent_rules.PURPOSE, revocation=consent_rules.REVOCATION_TEXT,
        **_parties(referral))
