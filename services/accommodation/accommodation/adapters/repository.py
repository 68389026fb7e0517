"""Accommodation cases in and out of the database (SQLAlchemy Core); encryption at the
boundary through the `EncryptedFields` specs, so the domain only sees plaintext."""

from __future__ import annotations

import json
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.sql import ColumnElement

from accommodation.adapters.orm import (
    ACCOMMODATION_FIELDS,
    LINK_FIELDS,
    TRANSITION_FIELDS,
    accommodations,
    links,
    program_schedules,
    transitions,
)
from accommodation.domain.model import (
    Accommodation,
    AccommodationType,
    Action,
    Arrangement,
    Status,
    Transition,
    Window,
)
from shared.crypto import FieldCipher
from shared.ids import new_id
from shared.web.pagination import decode_cursor, encode_cursor

PENDING = (Status.SUBMITTED, Status.IN_REVIEW, Status.INFO_REQUESTED)
# What the process may change. The clinical fields are written once, at submission: a
# case read without them (any role but specialist) must never overwrite them.
_MUTABLE = ("status", "granted", "interim", "denial_reason", "documentation_requested",
            "reconsidered", "decision_due", "acknowledged_at", "decided_at",
            "overdue_announced_at")


class AccommodationRepository:
    def __init__(self, conn: Connection, cipher: FieldCipher) -> None:
        self.conn = conn
        self.cipher = cipher

    # -- cases --------------------------------------------------------------------------
    def add(self, case: Accommodation, external_id_bidx: str) -> None:
        values = {**_case_values(case), "external_id_bidx": external_id_bidx}
        self.conn.execute(insert(accommodations).values(
            ACCOMMODATION_FIELDS.seal(self.cipher, values)))
        self._add_transitions(case, 0)

    def save(self, case: Accommodation, known_transitions: int) -> None:
        values = _case_values(case)
        sealed = ACCOMMODATION_FIELDS.seal(self.cipher, {
            **{k: values[k] for k in _MUTABLE},
            **{k: values[k] for k in ("id", "employer_id", "employee_subject")}})
        for key in ("id", "employer_id", "employee_subject"):
            sealed.pop(key)
        self.conn.execute(update(accommodations).where(accommodations.c.id == case.id)
                          .values(sealed))
        self._add_transitions(case, known_transitions)

    def _add_transitions(self, case: Accommodation, already: int) -> None:
        for seq, t in enumerate(case.history[already:], start=already):
            row = {"id": new_id("trn"), "accommodation_id": case.id, "seq": seq,
                   "employer_id": case.employer_id, "employee_subject": case.employee_subject,
                   "action": t.action.value, "from_status": t.from_status.value,
                   "to_status": t.to_status.value, "actor": t.actor, "at": t.at,
                   "note": t.note}
            self.conn.execute(insert(transitions).values(TRANSITION_FIELDS.seal(self.cipher, row)))

    def get(self, case_id: str, *, for_update: bool = False,
            clinical: bool = False) -> Accommodation | None:
        """A case; its clinical fields are decrypted only when `clinical` (the caller
        audits that read), so other roles' reads never open them."""
        stmt = select(accommodations).where(accommodations.c.id == case_id)
        if for_update and self.conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        row = self.conn.execute(stmt).first()
        if row is None:
            return None
        case = self._from_row(row._mapping, clinical)
        case.history = self._history(case_id, case)
        return case

    def page(self, employer_id: str, *, external_id_bidx: str | None,
             statuses: list[str] | None,
             overdue_on: date | None, limit: int,
             cursor: str | None) -> tuple[list[Accommodation], str | None]:
        a = accommodations
        where: list[ColumnElement[bool]] = [a.c.employer_id == employer_id]
        if external_id_bidx:
            where.append(a.c.external_id_bidx == external_id_bidx)
        if statuses is not None:
            where.append(a.c.status.in_(statuses))
        if overdue_on is not None:
            where.append(overdue_condition(overdue_on))
        if cursor:
            created, last_id = decode_cursor(cursor)
            where.append(or_(a.c.submitted_at < created,
                             and_(a.c.submitted_at == created, a.c.id < last_id)))
        rows = self.conn.execute(select(a).where(*where).order_by(
            a.c.submitted_at.desc(), a.c.id.desc()).limit(limit + 1)).all()
        items = [self._from_row(r._mapping, clinical=False) for r in rows[:limit]]
        next_cursor = (encode_cursor(items[-1].submitted_at, items[-1].id)
                       if len(rows) > limit else None)
        return items, next_cursor

    def overdue_unannounced(self, today: date, limit: int) -> list[Accommodation]:
        rows = self.conn.execute(select(accommodations).where(
            overdue_condition(today), accommodations.c.overdue_announced_at.is_(None))
            .limit(limit)).all()
        return [self._from_row(r._mapping, clinical=False) for r in rows]

    def subject_for(self, employer_id: str, external_id_bidx: str) -> str | None:
        """The subject of the employee's latest case (an earlier one may be erased)."""
        return self.conn.execute(select(accommodations.c.employee_subject).where(
            accommodations.c.employer_id == employer_id,
            accommodations.c.external_id_bidx == external_id_bidx)
            .order_by(accommodations.c.submitted_at.desc(), accommodations.c.id.desc())
            .limit(1)).scalar()

    def _history(self, case_id: str, case: Accommodation) -> list[Transition]:
        rows = self.conn.execute(select(transitions).where(
            transitions.c.accommodation_id == case_id).order_by(transitions.c.seq)).all()
        out = []
        for r in rows:
            t = TRANSITION_FIELDS.open(self.cipher, dict(r._mapping))
            out.append(Transition(Action(t["action"]), Status(t["from_status"]),
                                  Status(t["to_status"]), t["actor"], t["at"],
                                  None if t["note"] is None else str(t["note"])))
        return out

    def _from_row(self, row: Any, clinical: bool) -> Accommodation:
        data = dict(row)
        if not clinical:  # never decrypt what the caller may not see
            data["functional_limitations"] = data["medical_documentation"] = None
        opened = ACCOMMODATION_FIELDS.open(self.cipher, data)
        return Accommodation(
            id=opened["id"], employer_id=opened["employer_id"],
            employee_subject=opened["employee_subject"], external_id=str(opened["external_id"]),
            type=AccommodationType(opened["type"]), requested=_arrangement(opened["requested"]),
            submitted_at=opened["submitted_at"], submitted_by=opened["submitted_by"],
            acknowledge_due=opened["acknowledge_due"], decision_due=opened["decision_due"],
            status=Status(opened["status"]),
            functional_limitations=_text(opened["functional_limitations"]),
            medical_documentation=_text(opened["medical_documentation"]),
            referral_id=opened["referral_id"], granted=_maybe(opened["granted"]),
            interim=_maybe(opened["interim"]), denial_reason=_text(opened["denial_reason"]),
            documentation_requested=bool(opened["documentation_requested"]),
            reconsidered=bool(opened["reconsidered"]),
            acknowledged_at=opened["acknowledged_at"], decided_at=opened["decided_at"],
            overdue_announced_at=opened["overdue_announced_at"])

    # -- links and program schedules ------------------------------------------------------
    def add_link(self, values: dict[str, Any]) -> None:
        self.conn.execute(insert(links).values(LINK_FIELDS.seal(self.cipher, values)))

    def link_by_hash(self, token_hash: str) -> dict[str, Any] | None:
        row = self.conn.execute(select(links).where(links.c.token_hash == token_hash)).first()
        return None if row is None else LINK_FIELDS.open(self.cipher, dict(row._mapping))

    def mark_link_used(self, link_id: str, now: datetime) -> bool:
        done = self.conn.execute(update(links).where(links.c.id == link_id,
                                                     links.c.used_at.is_(None))
                                 .values(used_at=now).returning(links.c.id)).first()
        return done is not None

    def put_program_schedule(self, values: dict[str, Any]) -> None:
        exists = self.conn.execute(select(func.count()).select_from(program_schedules).where(
            program_schedules.c.referral_id == values["referral_id"])).scalar()
        if exists:
            self.conn.execute(update(program_schedules).where(
                program_schedules.c.referral_id == values["referral_id"]).values(values))
        else:
            self.conn.execute(insert(program_schedules).values(values))

    def program_schedule(self, referral_id: str, employer_id: str) -> dict[str, Any] | None:
        """The program's windows, only for a referral of this employer: a link naming
        another employer's referral id must learn nothing of it."""
        row = self.conn.execute(select(program_schedules).where(
            program_schedules.c.referral_id == referral_id,
            program_schedules.c.employer_id == employer_id)).first()
        return None if row is None else dict(row._mapping)


def overdue_condition(today: date) -> ColumnElement[bool]:
    """SQL twin of `calendar.is_overdue`: still unacknowledged after the acknowledge due
    date, or still pending after the decision due date."""
    a = accommodations
    return or_(and_(a.c.status == Status.SUBMITTED.value, a.c.acknowledge_due < today),
               and_(a.c.status.in_([s.value for s in PENDING]), a.c.decision_due < today))


def windows_json(windows: tuple[Window, ...] | list[Window]) -> list[list[str]]:
    return [[w.weekday, w.start.strftime("%H:%M"), w.end.strftime("%H:%M")] for w in windows]


def windows_from_json(raw: list[list[str]]) -> tuple[Window, ...]:
    return tuple(Window(d, time.fromisoformat(s), time.fromisoformat(e)) for d, s, e in raw)


def arrangement_json(a: Arrangement | None) -> str | None:
    if a is None:
        return None
    return json.dumps({"schedule": windows_json(a.schedule), "start_date": a.start_date.isoformat(),
                       "end_date": a.end_date.isoformat() if a.end_date else None,
                       "hours_per_week": a.hours_per_week})


def _arrangement(raw: str) -> Arrangement:
    d = json.loads(raw)
    return Arrangement(windows_from_json(d["schedule"]), date.fromisoformat(d["start_date"]),
                       date.fromisoformat(d["end_date"]) if d["end_date"] else None,
                       d["hours_per_week"])


def _maybe(raw: str | None) -> Arrangement | None:
    return None if raw is None else _arrangement(raw)


def _case_values(c: Accommodation) -> dict[str, Any]:
    return {
        "id": c.id, "employer_id": c.employer_id, "employee_subject": c.employee_subject,
        "external_id": c.external_id, "type": c.type.value, "status": c.status.value,
        "requested": arrangement_json(c.requested), "granted": arrangement_json(c.granted),
        "interim": arrangement_json(c.interim),
        "functional_limitations": c.functional_limitations,
        "medical_documentation": c.medical_documentation, "denial_reason": c.denial_reason,
        "referral_id": c.referral_id, "documentation_requested": c.documentation_requested,
        "reconsidered": c.reconsidered, "submitted_at": c.submitted_at,
        "submitted_by": c.submitted_by, "acknowledge_due": c.acknowledge_due,
        "decision_due": c.decision_due, "acknowledged_at": c.acknowledged_at,
        "decided_at": c.decided_at, "overdue_announced_at": c.overdue_announced_at,
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
