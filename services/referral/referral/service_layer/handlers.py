"""The referral service's use cases. Each state change is atomic: the change, its outbox
events and its webhook deliveries commit together or not at all, in one transaction, or
(a new referral on PostgreSQL) in one statement (`Outbox.add_unless`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Engine

from referral.adapters.repository import HrFilter, ReferralRepository
from referral.domain import commands
from referral.domain import consent as consent_rules
from referral.domain.consent import Consent
from referral.domain.errors import ConsentNotRevocable, ReferralError
from referral.domain.links import hash_token, new_token, well_formed
from referral.domain.model import Kind, Origin, Referral, State
from referral.domain.projections import HrRecord
from referral.service_layer import messages
from shared.crypto import BlindIndex, FieldCipher, casefold_strip, strip
from shared.db.kept import kept_connections
from shared.ids import new_id
from shared.messaging import CloudEvent, Outbox
from shared.messaging.outbox import Write
from shared.webhooks import enqueue_delivery, record_received


class LinkNotFound(ReferralError):
    def __init__(self) -> None:
        super().__init__("there is no referral behind this link")


class ReferralNotFound(ReferralError):
    def __init__(self) -> None:
        super().__init__("no such referral")


class UnknownParty(ReferralError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.errors = {field: [message]}


class Names(Protocol):
    """Who is who: the directory (employers, providers, provider webhook endpoints)."""

    def employer_name(self, employer_id: str) -> str | None: ...

    def provider_name(self, provider_id: str) -> str | None: ...

    def provider_endpoint_id(self, provider_id: str) -> str | None: ...

    def provider_secrets(self, provider_id: str) -> list[str]: ...


@dataclass
class ReferralServices:
    engine: Engine
    cipher: FieldCipher
    blind_index: BlindIndex
    names: Names
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.cipher)
        # Where each statement is its own transaction (autocommit on PostgreSQL), for
        # reads of one statement and writes of one statement with their event: no
        # BEGIN/COMMIT round trips, and connections kept between requests
        # (`shared.db.kept`). On SQLite these are ordinary transactions.
        self.single = kept_connections(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, ReferralRepository]]:
        with self.engine.begin() as conn:
            yield conn, ReferralRepository(conn, self.cipher)

    def external_id_bidx(self, employer_id: str, external_id: str) -> str:
        return self.blind_index.digest("external_id", external_id, tenant=employer_id,
                                       normalize=strip)

    # -- HR ------------------------------------------------------------------------------
    def create_referral(self, cmd: commands.CreateReferral) -> tuple[Referral, str]:
        """The new referral and its link token (shown once, in the link URL)."""
        if self.names.provider_name(cmd.provider_id) is None:
            raise UnknownParty("provider_id", "No provider has this id.")
        now = self.clock()
        token, token_hash = new_token()
        ext_bidx = self.external_id_bidx(cmd.employer_id, cmd.external_id)
        email_bidx = (self.blind_index.digest("employee_email", cmd.contact.email,
                                              tenant=cmd.employer_id, normalize=casefold_strip)
                      if cmd.contact.email else None)
        # The employee is taken to be new: a fresh subject (its key stored ahead, no round
        # trip), and one statement (`Outbox.add_unless`) that writes the referral with its
        # event unless the employer referred this employee before. Only then a second
        # statement, with their subject, unless it was erased (a new start: the fresh
        # subject stays). Neither statement locks, as the lookup before them never did.
        referral = Referral(
            id=new_id("ref"), employer_id=cmd.employer_id, provider_id=cmd.provider_id,
            kind=cmd.kind, origin=Origin.EMPLOYER, employee_subject=self.cipher.new_subject(),
            external_id=cmd.external_id, contact=cmd.contact, purpose=cmd.purpose,
            link_token_hash=token_hash,
            link_expires_at=now + timedelta(days=cmd.link_ttl_days), created_at=now)
        with self.single.connect() as conn, conn.begin():
            repo = ReferralRepository(conn, self.cipher)

            def announced(r: Referral) -> tuple[CloudEvent, Write]:
                return messages.referral_created(r), repo.adding(
                    r, external_id_bidx=ext_bidx, email_bidx=email_bidx)

            earlier = self.outbox.add_unless(conn, *announced(referral))
            if earlier is not None:
                known = str(earlier["employee_subject"])
                if not self.cipher.is_erased(known):
                    self.cipher.put_back(referral.employee_subject)
                    referral = replace(referral, employee_subject=known)
                self.outbox.add_with(conn, *announced(referral))
        return referral, token

    def get_for_hr(self, employer_id: str, referral_id: str) -> Referral:
        """The whole referral, if the employer made it (for the service's own use: what
        HR is shown comes from `hr_record`)."""
        with self.transaction() as (_, repo):
            referral = repo.get(referral_id)
        if referral is None or referral.employer_id != employer_id \
                or referral.origin is not Origin.EMPLOYER:
            raise ReferralNotFound()
        return referral

    def hr_record(self, employer_id: str, referral_id: str) -> HrRecord:
        """What HR's view of one of the employer's referrals is made of; nothing else is
        read or decrypted."""
        with self.single.connect() as conn:
            record = ReferralRepository(conn, self.cipher).hr_record(employer_id, referral_id)
        if record is None:
            raise ReferralNotFound()
        return record

    def list_for_hr(self, employer_id: str, *, external_id: str | None, status: str | None,
                    limit: int, cursor: str | None) -> tuple[list[HrRecord], str | None]:
        flt = HrFilter(self.external_id_bidx(employer_id, external_id) if external_id else None,
                       status)
        with self.single.connect() as conn:
            return ReferralRepository(conn, self.cipher).list_for_hr(
                employer_id, flt, self.clock(), limit, cursor)

    # -- the employee ---------------------------------------------------------------------
    def open_link(self, token: str) -> Referral:
        """The referral behind a link, whatever its state (the page explains it)."""
        with self.transaction() as (_, repo):
            referral = repo.by_link_hash(hash_token(token)) if well_formed(token) else None
        if referral is None:
            raise LinkNotFound()
        return referral

    def open_manage(self, token: str) -> tuple[Referral, list[dict[str, Any]]]:
        """The referral behind a manage link, and what was disclosed under its consent."""
        with self.transaction() as (_, repo):
            referral = repo.by_manage_hash(hash_token(token)) if well_formed(token) else None
            if referral is None:
                raise LinkNotFound()
            return referral, repo.disclosures_of(referral.id)

    def accept(self, cmd: commands.AcceptReferral) -> tuple[Referral, str]:
        """Accept, granting consent when scopes were ticked; returns the manage token."""
        now = self.clock()
        manage_token, manage_hash = new_token()
        with self.transaction() as (conn, repo):
            referral = self._answerable(repo, cmd.token, now)
            scopes = consent_rules.parse_scopes(cmd.scopes)
            expires_on = consent_rules.validate_terms(
                scopes=scopes, expires_on=cmd.expires_on, signature=cmd.signature,
                employee_name=referral.contact.name, today=now.date())
            consent = None if not scopes else Consent(
                id=new_id("con"), scopes=scopes, expires_on=expires_on,
                signature=" ".join(cmd.signature.split()), signed_at=now,
                discloser=referral.provider_id, recipient_employer_id=referral.employer_id)
            referral.accept(now, manage_token_hash=manage_hash, consent=consent,
                            program_options=cmd.program_options,
                            shared_contact=cmd.shared_contact)
            repo.save(referral)
            self.outbox.add(conn, messages.referral_answered(referral, "referral.accepted"))
            if consent is not None:
                self.outbox.add(conn, messages.consent_granted(referral))
            self._notify_provider(conn, referral)
        return referral, manage_token

    def decline(self, cmd: commands.DeclineReferral) -> Referral:
        now = self.clock()
        with self.transaction() as (conn, repo):
            referral = self._answerable(repo, cmd.token, now)
            referral.decline(now)
            repo.save(referral)
            self.outbox.add(conn, messages.referral_answered(referral, "referral.declined"))
        return referral

    def revoke(self, cmd: commands.RevokeConsent) -> Referral:
        """Revoke the consent at once: the event stops every further disclosure."""
        now = self.clock()
        with self.transaction() as (conn, repo):
            referral = (repo.by_manage_hash(hash_token(cmd.manage_token), for_update=True)
                        if well_formed(cmd.manage_token) else None)
            if referral is None:
                raise LinkNotFound()
            consent = referral.consent
            if consent is None or consent.revoked_at is not None \
                    or consent.status(now.date()) is not consent_rules.ConsentStatus.GRANTED:
                raise ConsentNotRevocable()
            consent.revoked_at = now
            repo.save(referral)
            self.outbox.add(conn, messages.consent_ended(referral, "consent.revoked"))
        return referral

    def self_refer(self, cmd: commands.SelfRefer) -> tuple[Referral, str]:
        """A confidential referral the employee asks for: the provider hears of it, the
        employer never does (no event, no HR record)."""
        if self.names.employer_name(cmd.employer_id) is None:
            raise LinkNotFound()
        if self.names.provider_name(cmd.provider_id) is None:
            raise UnknownParty("provider_id", "Choose one of the providers listed.")
        now = self.clock()
        manage_token, manage_hash = new_token()
        referral = Referral(
            id=new_id("ref"), employer_id=cmd.employer_id, provider_id=cmd.provider_id,
            kind=Kind.SUPERVISORY, origin=Origin.SELF,
            employee_subject=self.cipher.new_subject(),
            external_id=None, contact=cmd.contact, purpose=None, link_token_hash=None,
            link_expires_at=now, created_at=now, state=State.ACCEPTED,
            manage_token_hash=manage_hash, answered_at=now,
            program_options=sorted(set(cmd.program_options)),
            shared_contact=[f for f in ("email", "phone") if getattr(cmd.contact, f)])
        with self.transaction() as (conn, repo):
            repo.add(referral, external_id_bidx=None, email_bidx=None)
            self._notify_provider(conn, referral)
        return referral, manage_token

    def _answerable(self, repo: ReferralRepository, token: str, now: datetime) -> Referral:
        referral = (repo.by_link_hash(hash_token(token), for_update=True)
                    if well_formed(token) else None)
        if referral is None:
            raise LinkNotFound()
        referral.ensure_answerable(now)
        return referral

    def _notify_provider(self, conn: Connection, referral: Referral) -> None:
        endpoint_id = self.names.provider_endpoint_id(referral.provider_id)
        if endpoint_id is None:
            return
        employer = self.names.employer_name(referral.employer_id) or ""
        enqueue_delivery(conn, endpoint_id=endpoint_id, event_type="referral.accepted",
                         data=messages.provider_referral_accepted(referral, employer),
                         subject=referral.employee_subject, tenant=referral.provider_id,
                         cipher=self.cipher)

    # -- the provider ---------------------------------------------------------------------
    def apply_provider_update(self, cmd: commands.ApplyProviderUpdate) -> bool:
        """Apply a verified provider webhook; False when this webhook id was seen before."""
        with self.transaction() as (conn, repo):
            if not record_received(conn, cmd.provider_id, cmd.webhook_id):
                return False
            referral = repo.get(cmd.referral_id, for_update=True)
            if referral is None or referral.provider_id != cmd.provider_id:
                raise ReferralNotFound()
            referral.apply_provider_update(cmd.update_type)
            _record_update(referral, cmd)
            repo.save(referral)
            # Only under a live consent: after revocation or expiry nothing more goes out.
            if cmd.update_type != "intake.scheduled" and referral.consent is not None \
                    and referral.consent.status(self.clock().date()) \
                    is consent_rules.ConsentStatus.GRANTED:
                self.outbox.add(conn, messages.enrollment_event(referral, cmd.update_type))
        return True

    # -- time -----------------------------------------------------------------------------
    def expire_due(self, batch: int = 200) -> int:
        """Expire unanswered links and announce lapsed consents; returns how many."""
        now = self.clock()
        with self.transaction() as (conn, repo):
            done = 0
            for referral in repo.due_for_expiry(now, batch):
                if referral.expire(now):
                    repo.save(referral)
                    self.outbox.add(conn, messages.referral_answered(referral,
                                                                     "referral.expired"))
                    done += 1
            for referral in repo.consents_due_for_expiry(now.date(), batch):
                assert referral.consent is not None
                repo.mark_consent_expiry_announced(referral.consent.id, now)
                self.outbox.add(conn, messages.consent_ended(referral, "consent.expired"))
                done += 1
        return done

    def record_disclosure(self, conn: Connection, data: dict[str, Any]) -> None:
        """A `disclosure.recorded` event from the attestation service, for the manage page."""
        repo = ReferralRepository(conn, self.cipher)
        referral = repo.get(data["referral_id"])
        if referral is None or referral.consent is None \
                or referral.consent.id != data.get("consent_id") \
                or not str(data.get("recipient", "")).endswith(f"@{referral.employer_id}"):
            # Not ours, or not under this referral's consent to this employer: showing it
            # would put someone else's disclosure on the employee's page.
            return
        repo.add_disclosure(data)


def _record_update(referral: Referral, cmd: commands.ApplyProviderUpdate) -> None:
    e = referral.enrollment
    if cmd.update_type == "intake.scheduled":
        e.intake_date = cmd.on_date
    elif cmd.update_type == "enrollment.started":
        e.schedule, e.start_date = cmd.schedule, cmd.start_date
        e.expected_end_date, e.level_of_care = cmd.expected_end_date, cmd.level_of_care
    else:
        e.end_date = cmd.on_date
        e.return_to_work_date = cmd.return_to_work_date
