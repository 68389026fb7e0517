"""The accommodation service's use cases. Each runs in one transaction: the case, its
transitions, its audit entries and its outbox events commit together or not at all."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from accommodation.adapters.repository import (
    AccommodationRepository,
    windows_from_json,
    windows_json,
)
from accommodation.domain import calendar as business_calendar
from accommodation.domain import process
from accommodation.domain.commands import IssueLink, SubmitAccommodation, TakeAction
from accommodation.domain.errors import AccommodationError
from accommodation.domain.model import (
    Accommodation,
    AccommodationType,
    Action,
    Arrangement,
    Window,
)
from accommodation.service_layer import messages
from shared.audit import AuditEvent, AuditLog
from shared.crypto import BlindIndex, FieldCipher, strip
from shared.ids import new_id
from shared.messaging import Outbox
from shared.tokens import hash_token, new_token, well_formed

CLINICAL_FIELDS = ("functional_limitations", "medical_documentation")
PURPOSE = "ada_interactive_process"
DECISIONS = frozenset({Action.APPROVE, Action.APPROVE_MODIFIED, Action.DENY})
DEFAULT_TRAVEL_MINUTES = 45


class CaseNotFound(AccommodationError):
    def __init__(self) -> None:
        super().__init__("no such accommodation")


class LinkNotUsable(AccommodationError):
    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why   # "unknown" | "expired" | "used"


@dataclass
class AccommodationServices:
    engine: Engine
    cipher: FieldCipher
    blind_index: BlindIndex
    calendar: business_calendar.BusinessCalendar
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    audit: AuditLog = field(default_factory=lambda: AuditLog(purposes={PURPOSE}))
    travel_minutes: int = DEFAULT_TRAVEL_MINUTES

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.cipher)

    @contextmanager
    def transaction(self) -> Iterator[tuple[Connection, AccommodationRepository]]:
        with self.engine.begin() as conn:
            yield conn, AccommodationRepository(conn, self.cipher)

    def external_id_bidx(self, employer_id: str, external_id: str) -> str:
        return self.blind_index.digest("external_id", external_id, tenant=employer_id,
                                       normalize=strip)

    def _subject(self, repo: AccommodationRepository, employer_id: str, bidx: str) -> str:
        """The employee's data-key subject: reused, so one erasure shreds all their cases,
        unless it was erased (a new case then starts a new subject)."""
        subject = repo.subject_for(employer_id, bidx)
        return (subject if subject and not self.cipher.is_erased(subject)
                else self.cipher.new_subject())

    def submit(self, cmd: SubmitAccommodation) -> Accommodation:
        with self.transaction() as (conn, repo):
            return self._submit(conn, repo, cmd)

    def _submit(self, conn: Connection, repo: AccommodationRepository,
                cmd: SubmitAccommodation) -> Accommodation:
        now = self.clock()
        ack_due, decision_due = self.calendar.due_dates(now.date(), False)
        bidx = self.external_id_bidx(cmd.employer_id, cmd.external_id)
        case = Accommodation(
            id=new_id("acc"), employer_id=cmd.employer_id,
            employee_subject=self._subject(repo, cmd.employer_id, bidx),
            external_id=cmd.external_id, type=cmd.type, requested=cmd.requested,
            submitted_at=now, submitted_by=cmd.submitted_by, acknowledge_due=ack_due,
            decision_due=decision_due, functional_limitations=cmd.functional_limitations,
            medical_documentation=cmd.medical_documentation, referral_id=cmd.referral_id)
        repo.add(case, bidx)
        self.outbox.add(conn, messages.submitted(case))
        return case

    def get(self, employer_id: str, case_id: str, *, role: str, actor: str) -> Accommodation:
        """A case for a role; a specialist's read opens the clinical fields and is audited
        in the same transaction (no audit entry, no read)."""
        clinical = role == "specialist"
        with self.transaction() as (conn, repo):
            case = repo.get(case_id, clinical=clinical)
            if case is None or case.employer_id != employer_id:
                raise CaseNotFound()
            if clinical:
                self._audit_clinical_read(conn, case, actor)
        return case

    def list_for_employer(self, employer_id: str, *, external_id: str | None,
                          statuses: list[str] | None, overdue: bool | None, limit: int,
                          cursor: str | None) -> tuple[list[Accommodation], str | None]:
        bidx = self.external_id_bidx(employer_id, external_id) if external_id else None
        with self.transaction() as (_, repo):
            return repo.page(employer_id, external_id_bidx=bidx, statuses=statuses,
                             overdue_on=self.clock().date() if overdue else None,
                             limit=limit, cursor=cursor)

    def act(self, cmd: TakeAction) -> Accommodation:
        now = self.clock()
        with self.transaction() as (conn, repo):
            case = repo.get(cmd.accommodation_id, for_update=True,
                            clinical=cmd.role == "specialist")
            if case is None or case.employer_id != cmd.employer_id:
                raise CaseNotFound()
            known = len(case.history)
            process.apply(case, cmd.action, actor=cmd.actor, at=now, note=cmd.note,
                          reason=cmd.reason, granted=cmd.granted, calendar=self.calendar)
            repo.save(case, known)
            if cmd.role == "specialist":
                self._audit_clinical_read(conn, case, cmd.actor)
            if cmd.action in DECISIONS or cmd.action is Action.RECONSIDER:
                self.outbox.add(conn, messages.decided(case))
        return case

    def announce_overdue(self, batch: int = 200) -> int:
        """Emit `accommodation.overdue` once per case that missed a due date."""
        now = self.clock()
        with self.transaction() as (conn, repo):
            cases = repo.overdue_unannounced(now.date(), batch)
            for case in cases:
                case.overdue_announced_at = now
                repo.save(case, len(case.history))
                self.outbox.add(conn, messages.overdue(case))
        return len(cases)

    def _audit_clinical_read(self, conn: Connection, case: Accommodation, actor: str) -> None:
        fields = [f for f in CLINICAL_FIELDS if getattr(case, f) is not None]
        if fields:
            self.audit.append(conn, AuditEvent.access(
                actor=actor, subject=case.employee_subject, resource_type="accommodation",
                resource_ids=[case.id], fields=fields, purpose=PURPOSE))

    # -- the employee's link ----------------------------------------------------------------
    def issue_link(self, cmd: IssueLink) -> tuple[str, datetime]:
        """A link for the employee to ask for an accommodation themselves; returns the
        token (shown once) and its expiry."""
        now = self.clock()
        token, token_hash = new_token()
        expires_at = now + timedelta(days=cmd.ttl_days)
        bidx = self.external_id_bidx(cmd.employer_id, cmd.external_id)
        with self.transaction() as (_, repo):
            repo.add_link({
                "id": new_id("acl"), "token_hash": token_hash, "employer_id": cmd.employer_id,
                "employee_subject": self._subject(repo, cmd.employer_id, bidx),
                "external_id": cmd.external_id, "referral_id": cmd.referral_id,
                "created_by": cmd.created_by, "created_at": now, "expires_at": expires_at})
        return token, expires_at

    def open_link(self, token: str) -> dict[str, Any]:
        """The link's employer, referral and suggestion; LinkNotUsable otherwise."""
        with self.transaction() as (_, repo):
            link = repo.link_by_hash(hash_token(token)) if well_formed(token) else None
        if link is None:
            raise LinkNotUsable("unknown")
        if link["used_at"] is not None:
            raise LinkNotUsable("used")
        if self.clock() >= link["expires_at"]:
            raise LinkNotUsable("expired")
        return {**link, "suggestion": self.suggestion_for(link["referral_id"],
                                                          link["employer_id"])}

    def submit_via_link(self, token: str, *, type_: AccommodationType,
                        requested: Arrangement,
                        functional_limitations: str | None) -> Accommodation:
        """The employee's own request; the link then is spent."""
        link = self.open_link(token)
        with self.transaction() as (conn, repo):
            if not repo.mark_link_used(link["id"], self.clock()):
                raise LinkNotUsable("used")
            return self._submit(conn, repo, SubmitAccommodation(
                employer_id=link["employer_id"], external_id=str(link["external_id"]),
                type=type_, requested=requested, submitted_by="employee",
                functional_limitations=functional_limitations,
                referral_id=link["referral_id"]))

    # -- events -------------------------------------------------------------------------------
    def record_program_schedule(self, conn: Connection, data: dict[str, Any]) -> None:
        """`enrollment.started` with the program's windows (only sent when the employee's
        consent has `schedule_needs`). The program type never arrives here."""
        schedule = data.get("schedule")
        if not schedule:
            return
        windows = [Window(w["weekday"], time.fromisoformat(w["start"]),
                          time.fromisoformat(w["end"])) for w in schedule]
        AccommodationRepository(conn, self.cipher).put_program_schedule({
            "referral_id": str(data["referral_id"]), "employer_id": str(data["employer_id"]),
            "schedule": _dumps(windows_json(windows)),
            "start_date": _date(data.get("start_date")),
            "expected_end_date": _date(data.get("expected_end_date")),
            "received_at": self.clock()})

    def suggestion_for(self, referral_id: str | None,
                       employer_id: str) -> Arrangement | None:
        """A schedule change the employee can submit in one click: unavailable from
        `travel_minutes` before each session until its end, for the program's dates."""
        if referral_id is None:
            return None
        with self.transaction() as (_, repo):
            program = repo.program_schedule(referral_id, employer_id)
        if program is None:
            return None
        windows = windows_from_json(json.loads(program["schedule"]))
        lead = timedelta(minutes=self.travel_minutes)
        widened = tuple(Window(w.weekday, _minus(w.start, lead), w.end) for w in windows)
        return Arrangement(widened, program["start_date"] or self.clock().date(),
                           program["expected_end_date"])


def _minus(t: time, delta: timedelta) -> time:
    moment = datetime.combine(date(2000, 1, 3), t) - delta
    return time(0, 0) if moment.date() < date(2000, 1, 3) else moment.time()


def _date(value: Any) -> date | None:
    return None if not value else date.fromisoformat(str(value))


def _dumps(value: Any) -> str:
    return json.dumps(value)


__all__ = ["AccommodationServices", "AccommodationType", "CaseNotFound", "LinkNotUsable"]
