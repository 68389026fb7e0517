"""What callers ask the accommodation service to do (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass

from accommodation.domain.model import AccommodationType, Action, Arrangement


@dataclass(frozen=True)
class SubmitAccommodation:
    employer_id: str
    external_id: str
    type: AccommodationType
    requested: Arrangement
    submitted_by: str                      # a client id, or "employee" (accommodation link)
    functional_limitations: str | None = None
    medical_documentation: str | None = None
    referral_id: str | None = None


@dataclass(frozen=True)
class TakeAction:
    employer_id: str
    accommodation_id: str
    action: Action
    actor: str
    role: str
    note: str | None = None
    reason: str | None = None
    granted: Arrangement | None = None


@dataclass(frozen=True)
class IssueLink:
    employer_id: str
    external_id: str
    created_by: str
    referral_id: str | None = None
    ttl_days: int = 30
