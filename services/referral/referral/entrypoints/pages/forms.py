"""The employee's form posts, read and checked at the edge: lengths, closed vocabularies and
dates. Each checker returns the values to show again and the messages per field, worded
for the employee, so a bad post re-renders the form (422) instead of failing."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from werkzeug.datastructures import MultiDict

from referral.domain.consent import Scope
from referral.domain.model import ProgramOption

MAX_NAME = 200
MAX_EMAIL = 254
MAX_PHONE = 30
MAX_SIGNATURE = 200
MAX_ID = 64
SCOPES = tuple(s.value for s in Scope)
PROGRAM_OPTIONS = tuple(o.value for o in ProgramOption)
CONTACT_FIELDS = ("email", "phone")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9 ().-]{5,30}$")

Errors = dict[str, list[str]]


@dataclass
class ConsentForm:
    """What the employee filled in on the referral page."""

    scopes: list[str] = field(default_factory=list)
    program_options: list[str] = field(default_factory=list)
    shared_contact: list[str] = field(default_factory=list)
    expires_on: str = ""
    signature: str = ""

    def expiry_date(self) -> date | None:
        return date.fromisoformat(self.expires_on) if self.expires_on else None


@dataclass
class SelfReferralForm:
    provider_id: str = ""
    name: str = ""
    email: str = ""
    phone: str = ""
    program_options: list[str] = field(default_factory=list)


def read_consent(form: MultiDict[str, str], offered_contact: list[str],
                 ) -> tuple[ConsentForm, Errors]:
    errors: Errors = {}
    values = ConsentForm(
        scopes=_choices(form, "scopes", SCOPES, errors, "Choose only from the listed items."),
        program_options=_choices(form, "program_options", PROGRAM_OPTIONS, errors,
                                 "Choose only from the listed options."),
        shared_contact=_choices(form, "shared_contact", tuple(offered_contact), errors,
                                "Choose only from the listed contact details."),
        expires_on=_text(form, "expires_on", 10, errors),
        signature=_text(form, "signature", MAX_SIGNATURE, errors))
    if values.expires_on and "expires_on" not in errors:
        try:
            values.expiry_date()
        except ValueError:
            errors["expires_on"] = ["Enter the date as year-month-day, for example 2027-03-31."]
    return values, errors


def read_self_referral(form: MultiDict[str, str], providers: list[str],
                       ) -> tuple[SelfReferralForm, Errors]:
    errors: Errors = {}
    values = SelfReferralForm(
        provider_id=_text(form, "provider_id", MAX_ID, errors),
        name=_text(form, "name", MAX_NAME, errors),
        email=_text(form, "email", MAX_EMAIL, errors),
        phone=_text(form, "phone", MAX_PHONE, errors),
        program_options=_choices(form, "program_options", PROGRAM_OPTIONS, errors,
                                 "Choose only from the listed options."))
    if "provider_id" not in errors and values.provider_id not in providers:
        errors["provider_id"] = ["Choose one of the providers listed."]
    if "name" not in errors and not values.name:
        errors["name"] = ["Enter your name, so that the provider knows who to expect."]
    if "email" not in errors and values.email and not EMAIL.match(values.email):
        errors["email"] = ["Enter an email address like name@example.com, or leave it empty."]
    if "phone" not in errors and values.phone and not PHONE.match(values.phone):
        errors["phone"] = ["Enter a phone number with digits only (spaces, +, - and "
                           "brackets are fine), or leave it empty."]
    if not ({"email", "phone"} & errors.keys()) and not (values.email or values.phone):
        errors["email"] = ["Give an email address or a phone number, so that the provider "
                           "can reach you."]
    return values, errors


def _text(form: MultiDict[str, str], name: str, limit: int, errors: Errors) -> str:
    value = " ".join(form.get(name, "").split())
    if len(value) > limit:
        errors[name] = [f"Use at most {limit} characters."]
        return value[:limit]
    return value


def _choices(form: MultiDict[str, str], name: str, allowed: tuple[str, ...],
             errors: Errors, message: str) -> list[str]:
    chosen = list(dict.fromkeys(form.getlist(name)))
    if any(value not in allowed for value in chosen):
        errors[name] = [message]
    return [value for value in chosen if value in allowed]
