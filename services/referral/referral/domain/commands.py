"""What callers ask the referral service to do (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from referral.domain.model import Contact, Kind, Window


@dataclass(frozen=True)
class CreateReferral:
    employer_id: str
    provider_id: str
    kind: Kind
    external_id: str
    contact: Contact
    purpose: str | None = None
    link_ttl_days: int = 14


@dataclass(frozen=True)
class AcceptReferral:
    token: str
    scopes: list[str]
    expires_on: date | None
    signature: str
    program_options: list[str] = field(default_factory=list)
    shared_contact: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class DeclineReferral:
    token: str


@dataclass(frozen=True)
class RevokeConsent:
    manage_token: str


@dataclass(frozen=True)
class SelfRefer:
    employer_id: str
    provider_id: str
    contact: Contact
    program_options: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ApplyProviderUpdate:
    """A verified provider webhook (`intake.scheduled`, `enrollment.*`)."""

    provider_id: str
    webhook_id: str
    update_type: str
    referral_id: str
    on_date: date | None = None
    schedule: list[Window] = field(default_factory=list)
    start_date: date | None = None
    expected_end_date: date | None = None
    level_of_care: str | None = None
    return_to_work_date: date | None = None
