"""`/start/<employer_id>`: an employee asks for a confidential referral themselves. The
provider hears of it; the employer never does (no event, no HR record)."""

from __future__ import annotations

from flask import request

from referral.domain.commands import SelfRefer
from referral.domain.model import Contact
from referral.entrypoints.pages import blp, csrf, forms, wording
from referral.entrypoints.pages.rendering import error_page, page, public_url, services
from referral.service_layer.handlers import LinkNotFound, UnknownParty
from shared.ids import is_id

Page = tuple[str, int]


@blp.get("/start/<employer_id>")
def start_page(employer_id: str) -> Page:
    employer_name = _employer_name(employer_id)
    if employer_name is None:
        return error_page(404)
    return _start_form(employer_id, employer_name, forms.SelfReferralForm())


@blp.post("/start/<employer_id>")
def start(employer_id: str) -> Page:
    employer_name = _employer_name(employer_id)
    if employer_name is None:
        return error_page(404)
    if not csrf.request_is_genuine(csrf.for_employer(employer_id)):
        return error_page(403)
    providers = [pid for pid, _ in services().names.providers()]
    values, errors = forms.read_self_referral(request.form, providers)
    if not errors:
        try:
            referral, manage_token = services().self_refer(SelfRefer(
                employer_id=employer_id, provider_id=values.provider_id,
                contact=Contact(values.name, values.email or None, values.phone or None),
                program_options=values.program_options))
        except UnknownParty as unknown:
            errors = unknown.errors
        except LinkNotFound:
            return error_page(404)
        else:
            provider_name = services().names.provider_name(referral.provider_id)
            return page("started.html", employer_name=employer_name,
                        provider_name=provider_name or "The provider",
                        manage_url=public_url(f"/m/{manage_token}"))
    return _start_form(employer_id, employer_name, values, errors)


def _employer_name(employer_id: str) -> str | None:
    if len(employer_id) > forms.MAX_ID or not is_id(employer_id, "emp"):
        return None
    return services().names.employer_name(employer_id)


def _start_form(employer_id: str, employer_name: str, values: forms.SelfReferralForm,
                errors: forms.Errors | None = None) -> Page:
    return page("start.html", 422 if errors else 200, employer_id=employer_id,
                employer_name=employer_name, values=values, errors=errors or {},
                providers=services().names.providers(), csrf_token=csrf.for_employer(employer_id),
                program_options=wording.PROGRAM_OPTION_WORDS)
