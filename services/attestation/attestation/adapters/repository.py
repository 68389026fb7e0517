"""The attestation database through SQLAlchemy Core. The employee's external id is sealed
and opened here, at the boundary (`REFERRAL_FIELDS`); everything else is operational."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, case, func, insert, or_, select, update

from attestation.adapters.orm import (
    REFERRAL_FIELDS,
    attendance_batches,
    attendance_records,
    attestation_reads,
    attestations,
    consents,
    enrollments,
    referrals,
)
from attestation.domain.model import (
    AttendanceRecord,
    AttendanceStatus,
    Attestation,
    ConsentState,
    Enrollment,
)
from shared.crypto import FieldCipher
from shared.web.pagination import decode_cursor, encode_cursor
from shared.webhooks import webhook_deliveries


@dataclass(frozen=True)
class ReferralFacts:
    """What the service knows of one referral: enough to issue and address attestations."""

    id: str
    employer_id: str
    provider_id: str
    employee_subject: str
    external_id: str | None
    kind: str | None
    created_at: datetime | None


@dataclass(frozen=True)
class StoredRecord:
    version: int
    referral_id: str
    date: date
    status: str


class AttestationRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- what events tell us ------------------------------------------------------------
    def merge_referral(self, values: Mapping[str, Any]) -> None:
        """Insert the referral, or fill in what an earlier event did not carry."""
        known = {k: v for k, v in values.items() if v is not None}
        existing = self.conn.execute(select(referrals.c.id).where(
            referrals.c.id == known["id"])).first()
        sealed = REFERRAL_FIELDS.seal(self.cipher, known)
        if existing is None:
            self.conn.execute(insert(referrals).values(sealed))
            return
        for key in ("id", "employer_id", "employee_subject", "provider_id"):
            sealed.pop(key, None)
        if sealed:
            self.conn.execute(update(referrals).where(referrals.c.id == known["id"])
                              .values(sealed))

    def add_consent(self, values: Mapping[str, Any]) -> None:
        if self.conn.execute(select(consents.c.consent_id).where(
                consents.c.consent_id == values["consent_id"])).first() is None:
            self.conn.execute(insert(consents).values(**values))

    def end_consent(self, consent_id: str, **values: Any) -> bool:
        """Mark a consent revoked or expired; False when it is not known yet."""
        result = self.conn.execute(update(consents).where(consents.c.consent_id == consent_id)
                                   .values(**values).returning(consents.c.consent_id))
        return result.first() is not None

    def merge_enrollment(self, referral_id: str, values: Mapping[str, Any]) -> None:
        if self.conn.execute(select(enrollments.c.referral_id).where(
                enrollments.c.referral_id == referral_id)).first() is None:
            self.conn.execute(insert(enrollments).values(referral_id=referral_id, **values))
        else:
            self.conn.execute(update(enrollments).where(
                enrollments.c.referral_id == referral_id).values(**values))

    # -- reading what we know -------------------------------------------------------------
    def referral(self, referral_id: str) -> ReferralFacts | None:
        row = self.conn.execute(select(referrals).where(referrals.c.id == referral_id)).first()
        return None if row is None else self._facts(row._mapping)

    def providers_of(self, referral_ids: Iterable[str]) -> dict[str, str]:
        ids = sorted(set(referral_ids))
        if not ids:
            return {}
        rows = self.conn.execute(select(referrals.c.id, referrals.c.provider_id)
                                 .where(referrals.c.id.in_(ids))).all()
        return {row.id: row.provider_id for row in rows}

    def consent_of(self, referral_id: str) -> ConsentState | None:
        """The referral's newest consent, whatever its state."""
        row = self.conn.execute(select(consents).where(consents.c.referral_id == referral_id)
                                .order_by(consents.c.granted_at.desc()).limit(1)).first()
        return None if row is None else _consent(row._mapping)

    def consent_purpose(self, consent_id: str) -> str:
        return str(self.conn.execute(select(consents.c.purpose).where(
            consents.c.consent_id == consent_id)).scalar() or "")

    def enrollment_of(self, referral_id: str) -> Enrollment:
        row = self.conn.execute(select(enrollments).where(
            enrollments.c.referral_id == referral_id)).first()
        if row is None:
            return Enrollment(referral_id)
        return Enrollment(referral_id, row.status, row.start_date, row.end_date,
                          row.return_to_work_date)

    def referrals_with_live_consent(self, today: date) -> list[str]:
        """Referrals whose consent may allow an attestation today and whose enrollment
        started: the candidates of an issuing sweep."""
        stmt = (select(consents.c.referral_id).distinct()
                .join(enrollments, enrollments.c.referral_id == consents.c.referral_id)
                .join(referrals, referrals.c.id == consents.c.referral_id)
                .where(consents.c.revoked_at.is_(None), consents.c.expires_on > today,
                       enrollments.c.start_date.is_not(None))
                .order_by(consents.c.referral_id))
        return list(self.conn.execute(stmt).scalars())

    # -- attendance -----------------------------------------------------------------------
    def latest_versions(self, provider_id: str, record_ids: Iterable[str]
                        ) -> dict[str, StoredRecord]:
        ids = sorted(set(record_ids))
        if not ids:
            return {}
        t = attendance_records
        # Every version of just these ids, through the primary key (provider, record,
        # version); the newest wins below. A join against a per-id max() would scan the
        # provider's whole history and gets slower with every batch it has sent.
        rows = self.conn.execute(
            select(t.c.record_id, t.c.version, t.c.referral_id, t.c.date, t.c.status)
            .where(t.c.provider_id == provider_id, t.c.record_id.in_(ids))
            .order_by(t.c.record_id, t.c.version)).all()
        return {r.record_id: StoredRecord(r.version, r.referral_id, r.date, r.status)
                for r in rows}

    def add_records(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.conn.execute(insert(attendance_records), rows)

    def records_of(self, referral_id: str, provider_id: str, start: date,
                   end: date) -> list[AttendanceRecord]:
        """Every version of the provider's records for this referral that were ever dated
        in the period; `claims.latest_records` then keeps the newest of each."""
        t = attendance_records
        touched = select(t.c.record_id).where(
            t.c.provider_id == provider_id, t.c.referral_id == referral_id,
            t.c.date >= start, t.c.date <= end)
        rows = self.conn.execute(select(t).where(
            t.c.provider_id == provider_id, t.c.record_id.in_(touched))).all()
        return [AttendanceRecord(r.record_id, r.referral_id, r.date, AttendanceStatus(r.status),
                                 r.received_at, r.version) for r in rows]

    def batch_response(self, provider_id: str, webhook_id: str) -> dict[str, Any] | None:
        raw = self.conn.execute(select(attendance_batches.c.response).where(
            attendance_batches.c.provider_id == provider_id,
            attendance_batches.c.webhook_id == webhook_id)).scalar()
        return None if raw is None else dict(json.loads(raw))

    def store_batch_response(self, provider_id: str, webhook_id: str,
                             response: Mapping[str, Any], now: datetime) -> None:
        self.conn.execute(insert(attendance_batches).values(
            provider_id=provider_id, webhook_id=webhook_id, response=json.dumps(response),
            received_at=now))

    # -- attestations ---------------------------------------------------------------------
    def issued_periods(self, referral_id: str) -> set[tuple[str, date]]:
        rows = self.conn.execute(select(attestations.c.kind, attestations.c.period_start)
                                 .where(attestations.c.referral_id == referral_id)).all()
        return {(row.kind, row.period_start) for row in rows}

    def add_attestation(self, attestation: Attestation, employee_subject: str,
                        delivery_id: str | None) -> None:
        self.conn.execute(insert(attestations).values(
            id=attestation.id, referral_id=attestation.referral_id,
            employer_id=attestation.employer_id, consent_id=attestation.consent_id,
            employee_subject=employee_subject, kind=attestation.kind,
            period_start=attestation.period_start, period_end=attestation.period_end,
            claims=json.dumps(attestation.claims, sort_keys=True),
            issued_at=attestation.issued_at, expires_at=attestation.expires_at,
            jws=attestation.jws, delivery_id=delivery_id))

    def attestation(self, attestation_id: str) -> Attestation | None:
        row = self.conn.execute(select(attestations).where(
            attestations.c.id == attestation_id)).first()
        return None if row is None else _attestation(row._mapping)

    def list_for_employer(self, employer_id: str, *, external_id_bidx: str | None,
                          referral_id: str | None, limit: int,
                          cursor: str | None) -> tuple[list[Attestation], str | None]:
        a = attestations
        where = [a.c.employer_id == employer_id]
        if referral_id:
            where.append(a.c.referral_id == referral_id)
        if external_id_bidx:
            where.append(a.c.referral_id.in_(select(referrals.c.id).where(
                referrals.c.employer_id == employer_id,
                referrals.c.external_id_bidx == external_id_bidx)))
        if cursor:
            issued, last_id = decode_cursor(cursor)
            where.append(or_(a.c.issued_at < issued,
                             and_(a.c.issued_at == issued, a.c.id < last_id)))
        rows = self.conn.execute(select(a).where(*where).order_by(
            a.c.issued_at.desc(), a.c.id.desc()).limit(limit + 1)).all()
        items = [_attestation(row._mapping) for row in rows[:limit]]
        more = len(rows) > limit
        return items, (encode_cursor(items[-1].issued_at, items[-1].id) if more else None)

    def mark_read(self, attestation_id: str, client_id: str, now: datetime) -> bool:
        """Record that this client has been shown this attestation; False if it was."""
        if self.conn.execute(select(attestation_reads.c.client_id).where(
                attestation_reads.c.attestation_id == attestation_id,
                attestation_reads.c.client_id == client_id)).first():
            return False
        self.conn.execute(insert(attestation_reads).values(
            attestation_id=attestation_id, client_id=client_id, disclosed_at=now))
        return True

    def delivered_undisclosed(self, limit: int) -> list[tuple[Attestation, str]]:
        """(attestation, employee subject) whose `attestation.issued` webhook was
        delivered and whose disclosure is not recorded yet."""
        d = webhook_deliveries
        rows = self.conn.execute(select(attestations).join(
            d, d.c.id == attestations.c.delivery_id).where(
            d.c.status == "delivered", attestations.c.webhook_disclosed_at.is_(None))
            .limit(limit)).all()
        return [(_attestation(row._mapping), row.employee_subject) for row in rows]

    def mark_webhook_disclosed(self, attestation_id: str, now: datetime) -> None:
        self.conn.execute(update(attestations).where(attestations.c.id == attestation_id)
                          .values(webhook_disclosed_at=now))

    def abandon_pending_deliveries(self, consent_id: str, now: datetime) -> int:
        """Stop `attestation.issued` webhooks not sent yet under a consent that ended: the
        employer learns nothing more once it is revoked. (A delivery a deliverer is
        sending at this very moment cannot be called back.)"""
        d = webhook_deliveries
        ids = select(attestations.c.delivery_id).where(
            attestations.c.consent_id == consent_id, attestations.c.delivery_id.is_not(None))
        return self.conn.execute(update(d).where(d.c.id.in_(ids), d.c.status == "pending")
                                 .values(status="abandoned", next_attempt_at=None,
                                         finished_at=now, last_error="consent_ended")).rowcount

    # -- reports --------------------------------------------------------------------------
    def outcomes(self, employer_id: str, start: datetime, end: datetime
                 ) -> list[tuple[str, str, str | None, bool, int]]:
        """(kind, "YYYY-MM" of creation in UTC, enrollment status, consent granted, count)
        of the employer referrals created in [start, end), counted in the database: the
        report reads one row per group, not one per referral."""
        has_consent = select(consents.c.consent_id).where(
            consents.c.referral_id == referrals.c.id).exists()
        if self.conn.dialect.name == "postgresql":
            month = func.to_char(func.timezone("UTC", referrals.c.created_at), "YYYY-MM")
        else:  # SQLite keeps UTC timestamps as ISO text
            month = func.strftime("%Y-%m", referrals.c.created_at)
        consented = case((has_consent, 1), else_=0)
        groups = (select(referrals.c.kind, month.label("month"), enrollments.c.status,
                         consented.label("consented"), func.count().label("n"))
                  .select_from(referrals.outerjoin(
                      enrollments, enrollments.c.referral_id == referrals.c.id))
                  .where(referrals.c.employer_id == employer_id,
                         referrals.c.kind.is_not(None),
                         referrals.c.created_at >= start, referrals.c.created_at < end)
                  .group_by(referrals.c.kind, month, enrollments.c.status, consented))
        return [(r.kind, r.month, r.status, bool(r.consented), int(r.n))
                for r in self.conn.execute(groups).all()]

    def _facts(self, row: Any) -> ReferralFacts:
        opened = REFERRAL_FIELDS.open(self.cipher, {c.name: row[c.name] for c in referrals.c})
        external = opened["external_id"]
        return ReferralFacts(opened["id"], opened["employer_id"], opened["provider_id"],
                             opened["employee_subject"],
                             None if external is None else str(external),
                             opened["kind"], opened["created_at"])


def _consent(row: Any) -> ConsentState:
    return ConsentState(row["consent_id"], row["referral_id"], row["employer_id"],
                        frozenset(s for s in row["scopes"].split(",") if s),
                        row["expires_on"], row["revoked_at"])


def _attestation(row: Any) -> Attestation:
    return Attestation(
        id=row["id"], referral_id=row["referral_id"], employer_id=row["employer_id"],
        consent_id=row["consent_id"], period_start=row["period_start"],
        period_end=row["period_end"], claims=json.loads(row["claims"]),
        issued_at=row["issued_at"], expires_at=row["expires_at"], jws=row["jws"],
        kind=row["kind"])
