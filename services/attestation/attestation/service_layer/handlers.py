"""The attestation service's use cases. Each runs in one database transaction: the
state change, its outbox events, its audit entries and its webhook deliveries commit
together or not at all."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError

from attestation.adapters.repository import AttestationRepository, ReferralFacts
from attestation.adapters.signing import SigningKeyError, SigningKeys, attestation_payload
from attestation.domain.claims import build_claims, should_issue
from attestation.domain.issuance import due_periods
from attestation.domain.model import Attestation, AttestationKind, ConsentState
from attestation.domain.periods import DEFAULT_VALIDITY_DAYS, Period, expires_at
from attestation.domain.reports import ReferralOutcome, utilization_report
from attestation.service_layer import messages
from attestation.service_layer.attendance import AttendanceBatch, ingest
from shared.audit import AuditEvent, AuditLog, Recipient, system_actor
from shared.crypto import BlindIndex, FieldCipher, strip
from shared.ids import new_id
from shared.messaging import Outbox
from shared.webhooks import enqueue_delivery

log = logging.getLogger("bridgeline.attestation")
ISSUER_ACTOR = system_actor("attestation_webhook")
SWEEP_BATCH = 200
DEFAULT_GRACE_DAYS = 3


class AttestationError(Exception):
    """A use case refused; mapped to problem+json in `entrypoints.errors`."""


class AttestationNotFound(AttestationError):
    def __init__(self) -> None:
        super().__init__("no such attestation")


class Parties(Protocol):
    """Who is who: providers and their secrets, employers and their webhook endpoints."""

    def provider_exists(self, provider_id: str) -> bool: ...

    def provider_secrets(self, provider_id: str) -> list[str]: ...

    def employer_endpoint_id(self, employer_id: str) -> str | None: ...


class SigningKeySource(Protocol):
    def current(self) -> SigningKeys: ...


@dataclass
class AttestationServices:
    engine: Engine
    cipher: FieldCipher
    blind_index: BlindIndex
    parties: Parties
    signing: SigningKeySource
    issuer: str
    validity_days: int = DEFAULT_VALIDITY_DAYS
    # A week without any attendance yet waits this many days after it ends before it is
    # attested (as "0 of 0"); a week with attendance is attested as soon as it is over.
    grace_days: int = DEFAULT_GRACE_DAYS
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    audit: AuditLog = field(
        default_factory=lambda: AuditLog(purposes={messages.PURPOSE_CODE}))

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.cipher)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, AttestationRepository]]:
        with self.engine.begin() as conn:
            yield conn, AttestationRepository(conn, self.cipher)

    def external_id_bidx(self, employer_id: str, external_id: str) -> str:
        return self.blind_index.digest("external_id", external_id, tenant=employer_id,
                                       normalize=strip)

    # -- events from the referral service (in the consumer's transaction) ---------------
    def record_referral(self, conn: Connection, data: dict[str, Any], subject: str,
                        at: datetime | None = None) -> None:
        """`referral.created`, and the referral part of `consent.granted` / `enrollment.*`,
        whichever arrives first."""
        external = (data.get("employee") or {}).get("external_id")
        external = external if isinstance(external, str) else None  # None when erased
        values = {"id": data["referral_id"], "employer_id": data["employer_id"],
                  "provider_id": data["provider_id"], "employee_subject": subject,
                  "kind": data.get("kind"), "created_at": at, "external_id": external,
                  "external_id_bidx": external and self.external_id_bidx(
                      data["employer_id"], external)}
        AttestationRepository(conn, self.cipher).merge_referral(values)

    def record_consent(self, conn: Connection, data: dict[str, Any], subject: str,
                       at: datetime) -> None:
        self.record_referral(conn, data, subject)
        repo = AttestationRepository(conn, self.cipher)
        repo.add_consent({
            "consent_id": data["consent_id"], "referral_id": data["referral_id"],
            "employer_id": data["employer_id"], "scopes": ",".join(sorted(data["scopes"])),
            "expires_on": date.fromisoformat(data["expires_on"]),
            "purpose": str(data.get("purpose") or ""), "granted_at": at})
        self._issue_quietly(conn, repo, data["referral_id"])

    def end_consent(self, conn: Connection, data: dict[str, Any], how: str,
                    at: datetime) -> None:
        """`consent.revoked` / `consent.expired`: nothing more is issued or sent from now
        on. An end that overtakes its grant leaves a tombstone the grant cannot revive."""
        repo = AttestationRepository(conn, self.cipher)
        column = "revoked_at" if how == "revoked" else "expired_at"
        if not repo.end_consent(data["consent_id"], **{column: at}):
            repo.add_consent({
                "consent_id": data["consent_id"], "referral_id": data["referral_id"],
                "employer_id": data["employer_id"], "scopes": "", "expires_on": at.date(),
                "purpose": "", "granted_at": at, column: at})
        repo.abandon_pending_deliveries(data["consent_id"], self.clock())

    def record_enrollment(self, conn: Connection, event_type: str, data: dict[str, Any],
                          subject: str) -> None:
        self.record_referral(conn, data, subject)
        repo = AttestationRepository(conn, self.cipher)
        if event_type == "enrollment.started":
            values: dict[str, Any] = {"status": "enrolled",
                                      "start_date": _date(data.get("start_date"))}
        else:
            values = {"status": event_type.removeprefix("enrollment."),
                      "end_date": _date(data.get("date")),
                      "return_to_work_date": _date(data.get("return_to_work_date"))}
            if repo.enrollment_of(data["referral_id"]).start_date is None:
                values["start_date"] = values["end_date"]  # ended before we heard it start
        repo.merge_enrollment(data["referral_id"], values)
        self._issue_quietly(conn, repo, data["referral_id"])

    # -- the provider ---------------------------------------------------------------------
    def ingest_attendance(self, batch: AttendanceBatch) -> dict[str, Any]:
        with self.transaction() as (conn, repo):
            return ingest(conn, repo, batch, self.clock())

    # -- issuing --------------------------------------------------------------------------
    def issue_due(self, now: datetime | None = None) -> int:
        """Issue every attestation that is due; returns how many (the periodic task
        sweeps again at once while this is not 0). One transaction per referral."""
        now = now or self.clock()
        with self.transaction() as (_, repo):
            candidates = repo.referrals_with_live_consent(now.date())
        issued = 0
        for referral_id in candidates:
            try:
                with self.transaction() as (conn, repo):
                    issued += self._issue_for(conn, repo, referral_id, now)
            except IntegrityError:  # another worker issued the same period just now
                continue
            except SigningKeyError as exc:
                log.error("cannot sign attestations", extra={"fields": {"reason": str(exc)}})
                return 0
        return issued + self.disclose_delivered(now)

    def disclose_delivered(self, now: datetime | None = None) -> int:
        """Record the disclosure of every `attestation.issued` webhook delivered since
        the last sweep (the employer has it only once its endpoint accepted it)."""
        now = now or self.clock()
        with self.transaction() as (conn, repo):
            done = repo.delivered_undisclosed(SWEEP_BATCH)
            for attestation, subject in done:
                self._disclose(conn, repo, attestation, subject, actor=ISSUER_ACTOR,
                               channel="webhook", now=now)
                repo.mark_webhook_disclosed(attestation.id, now)
        return len(done)

    def _issue_quietly(self, conn: Connection, repo: AttestationRepository,
                       referral_id: str) -> None:
        """Issue what an event made due, now; without a keyring the sweep does it later."""
        try:
            with conn.begin_nested():
                self._issue_for(conn, repo, referral_id, self.clock())
        except (SigningKeyError, IntegrityError, ValueError) as exc:
            # The event itself is recorded either way; the periodic sweep retries.
            log.error("could not issue on event", extra={"fields": {
                "referral_id": referral_id, "exc_type": type(exc).__name__}})

    def _issue_for(self, conn: Connection, repo: AttestationRepository, referral_id: str,
                   now: datetime) -> int:
        facts = repo.referral(referral_id)
        consent = repo.consent_of(referral_id)
        if facts is None or consent is None or not should_issue(consent, now.date()):
            return 0
        enrollment = repo.enrollment_of(referral_id)
        issued = 0
        for kind, period in due_periods(enrollment, now.date(),
                                        repo.issued_periods(referral_id)):
            records = repo.records_of(referral_id, facts.provider_id, period.start, period.end)
            if kind == "weekly" and not records \
                    and now.date() <= period.end + timedelta(days=self.grace_days):
                continue  # the provider may not have reported this week yet
            claims = build_claims(consent, enrollment, records, period, kind)
            if claims:  # a consent whose scopes say nothing of this period: nothing to send
                self._issue(conn, repo, facts, consent, kind, period, claims, now)
                issued += 1
        return issued

    def _issue(self, conn: Connection, repo: AttestationRepository, facts: ReferralFacts,
               consent: ConsentState, kind: AttestationKind, period: Period,
               claims: dict[str, Any], now: datetime) -> None:
        attestation_id = new_id("att")
        expiry = expires_at(period.end, days=self.validity_days)
        jws = self.signing.current().sign(attestation_payload(
            iss=self.issuer, attestation_id=attestation_id, referral_id=facts.id,
            consent_id=consent.consent_id, claims=claims, period_start=period.start,
            period_end=period.end, issued_at=now, expires_at=expiry))
        attestation = Attestation(attestation_id, facts.id, facts.employer_id,
                                  consent.consent_id, period.start, period.end, claims, now,
                                  expiry, jws, kind)
        endpoint_id = self.parties.employer_endpoint_id(facts.employer_id)
        delivery_id = None if endpoint_id is None else enqueue_delivery(
            conn, endpoint_id=endpoint_id, event_type="attestation.issued",
            data=messages.attestation_view(attestation, facts.external_id, now),
            subject=facts.employee_subject, tenant=facts.employer_id, cipher=self.cipher,
            now=now)
        repo.add_attestation(attestation, facts.employee_subject, delivery_id)
        self.outbox.add(conn, messages.attestation_issued(attestation, facts.employee_subject))

    # -- HR -------------------------------------------------------------------------------
    def get_for_hr(self, employer_id: str, client_id: str,
                   attestation_id: str) -> dict[str, Any]:
        now = self.clock()
        with self.transaction() as (conn, repo):
            attestation = repo.attestation(attestation_id)
            if attestation is None or attestation.employer_id != employer_id:
                raise AttestationNotFound()
            return self._shown(conn, repo, attestation, client_id, now)

    def list_for_hr(self, employer_id: str, client_id: str, *, external_id: str | None,
                    referral_id: str | None, limit: int,
                    cursor: str | None) -> tuple[list[dict[str, Any]], str | None]:
        now = self.clock()
        bidx = self.external_id_bidx(employer_id, external_id) if external_id else None
        with self.transaction() as (conn, repo):
            items, next_cursor = repo.list_for_employer(
                employer_id, external_id_bidx=bidx, referral_id=referral_id, limit=limit,
                cursor=cursor)
            return [self._shown(conn, repo, a, client_id, now) for a in items], next_cursor

    def _shown(self, conn: Connection, repo: AttestationRepository, attestation: Attestation,
               client_id: str, now: datetime) -> dict[str, Any]:
        """The HR view, recording the disclosure the first time this client sees it."""
        facts = repo.referral(attestation.referral_id)
        assert facts is not None  # an attestation is only issued for a known referral
        if repo.mark_read(attestation.id, client_id, now):
            self._disclose(conn, repo, attestation, facts.employee_subject, actor=client_id,
                           channel="api", now=now)
        consent = repo.consent_of(attestation.referral_id)
        authorised = consent is not None and consent.consent_id == attestation.consent_id \
            and consent.is_active(now.date())
        return {**messages.attestation_view(attestation, facts.external_id, now),
                "further_information": "authorised" if authorised else "not_authorised"}

    def _disclose(self, conn: Connection, repo: AttestationRepository,
                  attestation: Attestation, subject: str, *, actor: str, channel: str,
                  now: datetime) -> None:
        recipient = Recipient(attestation.employer_id, "hr")
        self.audit.append(conn, AuditEvent.disclosure(
            actor=actor, subject=subject, resource_type="attestation",
            resource_ids=[attestation.id], fields=sorted(attestation.claims),
            purpose=messages.PURPOSE_CODE, consent_id=attestation.consent_id,
            recipient=recipient))
        self.outbox.add(conn, messages.disclosure_recorded(
            attestation, subject, role=recipient.role, channel=channel,
            purpose=repo.consent_purpose(attestation.consent_id), at=now))

    # -- reports --------------------------------------------------------------------------
    def utilization(self, employer_id: str, start: date, end: date) -> dict[str, Any]:
        """Referrals created from `start` to `end` (inclusive), by kind and by month."""
        begin = datetime.combine(start, time(0), tzinfo=UTC)
        stop = datetime.combine(end + timedelta(days=1), time(0), tzinfo=UTC)
        with self.transaction() as (_, repo):
            rows = repo.outcomes(employer_id, begin, stop)
        return utilization_report(
            ReferralOutcome(kind, _outcome(status, consented), month, count)
            for kind, month, status, consented, count in rows)


def _outcome(enrollment_status: str | None, consented: bool) -> str:
    if enrollment_status in ("completed", "discontinued"):
        return enrollment_status
    return "engaged" if consented or enrollment_status == "enrolled" else "invited"


def _date(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None

