"""Referrals in and out of the database (SQLAlchemy Core). Encryption happens here, at
the boundary, through the `EncryptedFields` specs: the domain only sees plaintext, the
tables only ciphertexts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, and_, bindparam, insert, or_, select, update
from sqlalchemy.sql import ColumnElement

from referral.adapters.orm import CONSENT_FIELDS, REFERRAL_FIELDS, consents, disclosures, referrals
from referral.domain.consent import Consent, ConsentTerms, Scope
from referral.domain.model import (
    Contact,
    Enrollment,
    Kind,
    Origin,
    Referral,
    State,
    Window,
)
from referral.domain.projections import HrRecord
from shared.crypto import FieldCipher
from shared.db.direct import DirectStatement
from shared.messaging.outbox import Announced, Write
from shared.web.pagination import decode_cursor, encode_cursor

_MUTABLE = ("state", "manage_token_hash", "answered_at", "program_options", "shared_contact",
            "schedule", "start_date", "expected_end_date", "level_of_care", "intake_date",
            "end_date", "return_to_work_date")


@dataclass(frozen=True)
class HrFilter:
    external_id_bidx: str | None = None
    status: str | None = None


class ReferralRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- writing ------------------------------------------------------------------------
    def add(self, referral: Referral, *, external_id_bidx: str | None,
            email_bidx: str | None) -> None:
        self.adding(referral, external_id_bidx=external_id_bidx,
                    email_bidx=email_bidx).run(self.conn)

    def adding(self, referral: Referral, *, external_id_bidx: str | None,
               email_bidx: str | None) -> Write:
        """The INSERT of a new referral, its fields sealed, for `Outbox.add_with` to run
        with the event that announces it."""
        row = {**_referral_values(referral), "external_id_bidx": external_id_bidx,
               "employee_email_bidx": email_bidx}
        return Write(_INSERT, REFERRAL_FIELDS.seal(self.cipher, row))

    def save(self, referral: Referral) -> None:
        """Write what a referral's lifecycle changes, and its consent if new or revoked."""
        values = _referral_values(referral)
        changed = {k: values[k] for k in _MUTABLE}
        sealed = REFERRAL_FIELDS.seal(self.cipher, {**changed, **_binding(values)})
        for key in ("id", "employer_id", "employee_subject"):
            sealed.pop(key)
        self.conn.execute(update(referrals).where(referrals.c.id == referral.id).values(sealed))
        if referral.consent is not None:
            self._save_consent(referral)

    def _save_consent(self, referral: Referral) -> None:
        consent = referral.consent
        assert consent is not None
        exists = self.conn.execute(select(consents.c.id).where(
            consents.c.id == consent.id)).first()
        if exists:
            self.conn.execute(update(consents).where(consents.c.id == consent.id)
                              .values(revoked_at=consent.revoked_at))
            return
        values = {
            "id": consent.id, "referral_id": referral.id, "employer_id": referral.employer_id,
            "employee_subject": referral.employee_subject,
            "scopes": ",".join(sorted(s.value for s in consent.scopes)),
            "expires_on": consent.expires_on, "signature": consent.signature,
            "signed_at": consent.signed_at, "discloser": consent.discloser,
            "recipient_role": consent.recipient_role, "purpose": consent.purpose,
            "form_version": consent.form_version, "revoked_at": consent.revoked_at,
        }
        self.conn.execute(insert(consents).values(CONSENT_FIELDS.seal(self.cipher, values)))

    def mark_consent_expiry_announced(self, consent_id: str, now: datetime) -> None:
        self.conn.execute(update(consents).where(consents.c.id == consent_id)
                          .values(expiry_announced_at=now))

    def add_disclosure(self, values: dict[str, Any]) -> bool:
        if self.conn.execute(select(disclosures.c.id).where(
                disclosures.c.id == values["id"])).first():
            return False
        self.conn.execute(insert(disclosures).values(**values))
        return True

    # -- reading ------------------------------------------------------------------------
    def get(self, referral_id: str, *, for_update: bool = False) -> Referral | None:
        return self._one(referrals.c.id == referral_id, for_update)

    def by_link_hash(self, token_hash: str, *, for_update: bool = False) -> Referral | None:
        return self._one(referrals.c.link_token_hash == token_hash, for_update)

    def by_manage_hash(self, token_hash: str, *, for_update: bool = False) -> Referral | None:
        return self._one(referrals.c.manage_token_hash == token_hash, for_update)

    def hr_record(self, employer_id: str, referral_id: str) -> HrRecord | None:
        """The employer's referral as HR's view needs it (one statement; only the
        external id and HR's purpose text are decrypted), None if not the employer's."""
        row = _HR_ONE.first(self.conn, {"hr_referral_id": referral_id})
        if row is None or row["employer_id"] != employer_id \
                or row["origin"] != Origin.EMPLOYER.value:
            return None  # another employer's, or a self-referral: as if missing
        return self._hr_record(row)

    def list_for_hr(self, employer_id: str, flt: HrFilter, now: datetime, limit: int,
                    cursor: str | None) -> tuple[list[HrRecord], str | None]:
        where: list[ColumnElement[bool]] = [referrals.c.employer_id == employer_id,
                                            referrals.c.origin == Origin.EMPLOYER.value]
        if flt.external_id_bidx:
            where.append(referrals.c.external_id_bidx == flt.external_id_bidx)
        if flt.status:
            where.append(hr_status_condition(flt.status, now))
        if cursor:
            created, last_id = decode_cursor(cursor)
            where.append(or_(referrals.c.created_at < created,
                             and_(referrals.c.created_at == created, referrals.c.id < last_id)))
        stmt = (_hr_select().where(*where)
                .order_by(referrals.c.created_at.desc(), referrals.c.id.desc()).limit(limit + 1))
        rows = self.conn.execute(stmt).all()
        items = [self._hr_record(r._mapping) for r in rows[:limit]]
        next_cursor = (encode_cursor(items[-1].created_at, items[-1].id)
                       if len(rows) > limit else None)
        return items, next_cursor

    def due_for_expiry(self, now: datetime, limit: int) -> list[Referral]:
        stmt = _joined().where(referrals.c.state == State.INVITED.value,
                               referrals.c.link_expires_at <= now).limit(limit)
        return self._claimed(stmt, referrals)

    def consents_due_for_expiry(self, today: date, limit: int) -> list[Referral]:
        stmt = _joined().where(consents.c.revoked_at.is_(None),
                               consents.c.expiry_announced_at.is_(None),
                               consents.c.expires_on <= today).limit(limit)
        return self._claimed(stmt, consents)

    def _claimed(self, stmt: Any, table: Any) -> list[Referral]:
        """Rows for a sweep; on PostgreSQL locked (skipping rows another worker holds),
        so several workers never announce the same expiry twice."""
        if self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=table, skip_locked=True)
        return [self._from_row(r._mapping) for r in self.conn.execute(stmt).all()]

    def disclosures_of(self, referral_id: str) -> list[dict[str, Any]]:
        rows = self.conn.execute(select(disclosures).where(
            disclosures.c.referral_id == referral_id)
            .order_by(disclosures.c.disclosed_at.desc())).all()
        return [dict(r._mapping) for r in rows]

    def _one(self, condition: ColumnElement[bool], for_update: bool) -> Referral | None:
        stmt = _joined().where(condition)
        if for_update and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=referrals)
        row = self.conn.execute(stmt).first()
        return None if row is None else self._from_row(row._mapping)

    def _hr_record(self, row: Any) -> HrRecord:
        ref = REFERRAL_FIELDS.open(self.cipher, row, fields=_HR_FIELDS)
        return HrRecord(
            id=ref["id"], kind=Kind(ref["kind"]), origin=Origin(ref["origin"]),
            state=State(ref["state"]), external_id=_text(ref["external_id"]),
            provider_id=ref["provider_id"], purpose=_text(ref["purpose"]),
            link_expires_at=ref["link_expires_at"], created_at=ref["created_at"],
            consent=None if ref["consent_id"] is None else ConsentTerms(
                scopes=frozenset(Scope(s) for s in ref["consent_scopes"].split(",")),
                expires_on=ref["consent_expires_on"], revoked_at=ref["consent_revoked_at"]))

    def _from_row(self, row: Any) -> Referral:
        ref = REFERRAL_FIELDS.open(self.cipher, {c.name: row[c] for c in referrals.c})
        consent = None
        if row[consents.c.id] is not None:
            con = CONSENT_FIELDS.open(self.cipher, {c.name: row[c] for c in consents.c})
            consent = Consent(
                id=con["id"], scopes=frozenset(Scope(s) for s in con["scopes"].split(",")),
                expires_on=con["expires_on"], signature=str(con["signature"]),
                signed_at=con["signed_at"], discloser=con["discloser"],
                recipient_employer_id=con["employer_id"], recipient_role=con["recipient_role"],
                purpose=con["purpose"], form_version=con["form_version"],
                revoked_at=con["revoked_at"])
        return Referral(
            id=ref["id"], employer_id=ref["employer_id"], provider_id=ref["provider_id"],
            kind=Kind(ref["kind"]), origin=Origin(ref["origin"]),
            employee_subject=ref["employee_subject"], external_id=_text(ref["external_id"]),
            contact=Contact(str(ref["employee_name"]), _text(ref["employee_email"]),
                            _text(ref["employee_phone"])),
            purpose=_text(ref["purpose"]), link_token_hash=ref["link_token_hash"],
            link_expires_at=ref["link_expires_at"], created_at=ref["created_at"],
            state=State(ref["state"]), manage_token_hash=ref["manage_token_hash"],
            answered_at=ref["answered_at"], program_options=_split(ref["program_options"]),
            shared_contact=_split(ref["shared_contact"]), consent=consent,
            enrollment=Enrollment(
                schedule=_windows(ref["schedule"]), start_date=ref["start_date"],
                expected_end_date=ref["expected_end_date"],
                level_of_care=_text(ref["level_of_care"]), intake_date=ref["intake_date"],
                end_date=ref["end_date"], return_to_work_date=ref["return_to_work_date"]))


def hr_status_condition(status: str, now: datetime) -> ColumnElement[bool]:
    """The SQL twin of `projections.hr_status` for one status (tested against it)."""
    today = now.date()
    no_consent = consents.c.id.is_(None)
    live = and_(consents.c.id.is_not(None), consents.c.revoked_at.is_(None),
                consents.c.expires_on > today)
    by_state = {"accepted": [State.ACCEPTED, State.INTAKE_SCHEDULED],
                "enrolled": [State.ENROLLED], "completed": [State.COMPLETED],
                "discontinued": [State.DISCONTINUED]}
    if status == "invited":
        return and_(no_consent, referrals.c.link_expires_at > now)
    if status == "closed":
        return or_(and_(no_consent, referrals.c.link_expires_at <= now),
                   and_(consents.c.id.is_not(None), consents.c.revoked_at.is_(None),
                        consents.c.expires_on <= today))
    if status == "consent_revoked":
        return consents.c.revoked_at.is_not(None)
    return and_(live, referrals.c.state.in_([s.value for s in by_state[status]]))


def _joined() -> Any:
    return select(referrals, consents).select_from(
        referrals.outerjoin(consents, consents.c.referral_id == referrals.c.id))


# Statements built once; the ones on the HR request paths run directly on the driver
# (`shared.db.direct`: about 45 µs of CPU less per statement on PostgreSQL).
# A new referral, unless the employer referred the employee before (`Outbox.add_unless`
# then returns the latest such referral's subject: the employee's, so one erasure shreds
# them all; the latest, as an earlier one may have been erased).
_INSERT = Announced(referrals, unless=select(referrals.c.employee_subject).where(
    referrals.c.employer_id == bindparam("employer_id"),
    referrals.c.external_id_bidx == bindparam("external_id_bidx"))
    .order_by(referrals.c.created_at.desc(), referrals.c.id.desc()).limit(1))


# HR reads select what `HrRecord` holds, plus the AAD binding of its encrypted fields.
_HR_FIELDS = ("external_id", "purpose")


def _hr_select() -> Any:
    r, c = referrals.c, consents.c
    return select(
        r.id, r.employer_id, r.employee_subject, r.kind, r.origin, r.state, r.external_id,
        r.provider_id, r.purpose, r.link_expires_at, r.created_at,
        c.id.label("consent_id"), c.scopes.label("consent_scopes"),
        c.expires_on.label("consent_expires_on"), c.revoked_at.label("consent_revoked_at"),
    ).select_from(referrals.outerjoin(consents, c.referral_id == r.id))


# By primary key alone, the tenant and origin checked in `hr_record`. PostgreSQL keeps a
# prepared statement's generic plan until the table is next analyzed: minutes later with
# autovacuum, never without it (as on the development machines). With the employer in
# the WHERE clause, the plan made while the table was nearly empty scanned the employer's
# index and filtered on the id, so each GET read all of the employer's referrals: 4x
# slower after 10,000 of them in the bench.
_HR_ONE = DirectStatement(_hr_select().where(referrals.c.id == bindparam("hr_referral_id")))


def _binding(values: dict[str, Any]) -> dict[str, Any]:
    return {k: values[k] for k in ("id", "employer_id", "employee_subject")}


def _referral_values(r: Referral) -> dict[str, Any]:
    e = r.enrollment
    return {
        "id": r.id, "employer_id": r.employer_id, "provider_id": r.provider_id,
        "kind": r.kind.value, "origin": r.origin.value, "state": r.state.value,
        "employee_subject": r.employee_subject, "external_id": r.external_id,
        "employee_name": r.contact.name, "employee_email": r.contact.email,
        "employee_phone": r.contact.phone, "purpose": r.purpose,
        "link_token_hash": r.link_token_hash, "link_expires_at": r.link_expires_at,
        "manage_token_hash": r.manage_token_hash, "answered_at": r.answered_at,
        "program_options": ",".join(r.program_options),
        "shared_contact": ",".join(r.shared_contact),
        "schedule": json.dumps([[w.weekday, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")]
                                for w in e.schedule]) if e.schedule else None,
        "start_date": e.start_date, "expected_end_date": e.expected_end_date,
        "level_of_care": e.level_of_care, "intake_date": e.intake_date, "end_date": e.end_date,
        "return_to_work_date": e.return_to_work_date, "created_at": r.created_at,
    }


def _windows(raw: str | None) -> list[Window]:
    if not raw:
        return []
    return [Window(d, time.fromisoformat(s), time.fromisoformat(e)) for d, s, e in json.loads(raw)]


def _split(raw: str | None) -> list[str]:
    return [p for p in (raw or "").split(",") if p]


def _text(value: Any) -> str | None:
    """Plaintext or None; a shredded subject's value reads as its marker text."""
    return None if value is None else str(value)
