"""The events the attestation service consumes, all from the referral service: referrals,
consents and enrollments, kept in its own tables. Sensitive fields (the employee's
external id) arrive decrypted by the consumer runner; a crypto-shredded one arrives as
the `Erased` marker and is not stored."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from attestation.service_layer.handlers import AttestationServices
from shared.messaging import CloudEvent

ENROLLMENT_EVENTS = ("enrollment.started", "enrollment.completed", "enrollment.discontinued")


def event_handlers(
        services: AttestationServices) -> dict[str, Callable[[Session, CloudEvent], None]]:
    def on_referral_created(session: Session, event: CloudEvent) -> None:
        services.record_referral(session.connection(), dict(event.data), _subject(event),
                                 event.time)

    def on_consent_granted(session: Session, event: CloudEvent) -> None:
        services.record_consent(session.connection(), dict(event.data), _subject(event),
                                event.time)

    def on_consent_ended(session: Session, event: CloudEvent) -> None:
        services.end_consent(session.connection(), dict(event.data),
                             event.type.removeprefix("consent."), event.time)

    def on_enrollment(session: Session, event: CloudEvent) -> None:
        services.record_enrollment(session.connection(), event.type, dict(event.data),
                                   _subject(event))

    return {"referral.created": on_referral_created, "consent.granted": on_consent_granted,
            "consent.revoked": on_consent_ended, "consent.expired": on_consent_ended,
            **{name: on_enrollment for name in ENROLLMENT_EVENTS}}


def _subject(event: CloudEvent) -> str:
    if not event.key_subject:
        raise ValueError(f"{event.type} without a key subject")
    return event.key_subject
