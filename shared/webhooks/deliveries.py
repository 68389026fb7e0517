"""Outbound webhooks as rows: written in the caller's transaction, sent later by the
`WebhookDeliverer`, never inside a request.

    with sessions.begin() as session:
        referral.accept(...)
        enqueue_delivery(session, endpoint_id=provider_endpoint.id,
                         event_type="referral.accepted", data={"referral_id": ..., ...},
                         subject=referral.employee_subject, tenant=referral.employer_id,
                         cipher=cipher)

The whole body (`{"type", "timestamp", "data"}`, exactly the bytes that will be signed
and sent) is encrypted under the subject's key with the AAD bound to this row, so the
table holds no personal data in plaintext and a shredded subject's webhook can never be
sent. Statuses: `pending` -> `delivered` | `exhausted` (schedule spent; replayable) |
`abandoned` (`last_error` says why: `subject_erased`, `gone`, `endpoint_disabled`,
`endpoint_unknown`, `payload_unreadable`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.orm import Session

from shared.crypto import Aad
from shared.ids import new_id
from shared.webhooks.inbound import EVENT_TYPE
from shared.webhooks.schedule import NextStep
from shared.webhooks.tables import webhook_attempts, webhook_deliveries

TABLE = "webhook_deliveries"
PAYLOAD_FIELD = "payload"
NOT_REPLAYABLE = {"subject_erased": "its subject was erased; the payload is gone",
                  "payload_unreadable": "its stored payload does not decrypt"}
d = webhook_deliveries


class PayloadCipher(Protocol):
    """What we need of `shared.crypto.FieldCipher` (tests pass a fake)."""

    def encrypt(self, plaintext: str, *, subject: str, aad: Aad) -> str: ...

    def decrypt(self, token: str, *, subject: str, aad: Aad) -> Any: ...


class ReplayRefused(Exception):
    """The delivery does not exist or cannot be sent again; the message says why."""


@dataclass(frozen=True)
class ClaimedDelivery:
    id: str
    endpoint_id: str
    event_type: str
    tenant: str
    subject: str
    payload_ciphertext: str = field(repr=False)
    attempt: int
    claim_token: str

    @property
    def payload_aad(self) -> Aad:
        return payload_aad(self.tenant, self.id)


@dataclass(frozen=True)
class AttemptRecord:
    started_at: datetime
    duration_ms: int
    status_code: int | None
    error_class: str | None


def payload_aad(tenant: str, delivery_id: str) -> Aad:
    return Aad(tenant, TABLE, delivery_id, PAYLOAD_FIELD)


def webhook_body(event_type: str, data: dict[str, Any], occurred_at: datetime) -> str:
    """The Standard Webhooks payload, minified: exactly what is signed and sent."""
    moment = occurred_at.astimezone(UTC).isoformat(timespec="milliseconds")
    payload = {"type": event_type, "timestamp": moment.replace("+00:00", "Z"), "data": data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def enqueue_delivery(target: Session | Connection, *, endpoint_id: str, event_type: str,
                     data: dict[str, Any], subject: str, tenant: str, cipher: PayloadCipher,
                     now: datetime | None = None) -> str:
    """Write a pending delivery in `target`'s transaction; returns its id (which is also
    the `webhook-id` the receiver will see, on every attempt)."""
    if len(event_type) > 200 or not EVENT_TYPE.fullmatch(event_type):
        raise ValueError("an event type is at most 200 characters of dot-separated words")
    if not isinstance(data, dict):
        raise TypeError("webhook data must be a dict")
    now = now or datetime.now(UTC)
    delivery_id = new_id("whd")
    ciphertext = cipher.encrypt(webhook_body(event_type, data, now), subject=subject,
                                aad=payload_aad(tenant, delivery_id))
    target.execute(insert(d).values(
        id=delivery_id, endpoint_id=endpoint_id, event_type=event_type, tenant=tenant,
        subject=subject, payload_ciphertext=ciphertext, status="pending", attempts=0,
        next_attempt_at=now, created_at=now))
    return delivery_id


def claim_due(connection: Connection, now: datetime, limit: int,
              lease: timedelta) -> list[ClaimedDelivery]:
    """Take up to `limit` due deliveries for one attempt each, until `now + lease`.

    PostgreSQL: `FOR UPDATE SKIP LOCKED` gives concurrent claimers disjoint rows, and
    once committed the rows are no longer due, so no other deliverer sends them unless
    the lease lapses (a deliverer that died mid-attempt). SQLite: the claim is a single
    UPDATE under the database's one write lock, so claimers take turns.
    """
    token = secrets.token_hex(16)
    due = (select(d.c.id).where(d.c.status == "pending", d.c.next_attempt_at <= now)
           .order_by(d.c.next_attempt_at).limit(limit).with_for_update(skip_locked=True))
    claim = (update(d).where(d.c.id.in_(due.scalar_subquery()))
             .values(attempts=d.c.attempts + 1, next_attempt_at=now + lease, claim_token=token)
             .returning(d.c.id, d.c.endpoint_id, d.c.event_type, d.c.tenant, d.c.subject,
                        d.c.payload_ciphertext, d.c.attempts))
    return [ClaimedDelivery(r.id, r.endpoint_id, r.event_type, r.tenant, r.subject,
                            r.payload_ciphertext, r.attempts, token)
            for r in connection.execute(claim).all()]


def record_outcome(connection: Connection, claim: ClaimedDelivery, step: NextStep,
                   attempt: AttemptRecord | None, now: datetime) -> bool:
    """Record what became of a claimed delivery (and its HTTP attempt, if one was made).
    False when the claim had lapsed and another deliverer owns the row now."""
    if attempt is not None:
        connection.execute(insert(webhook_attempts).values(
            delivery_id=claim.id, attempt=claim.attempt, started_at=attempt.started_at,
            duration_ms=attempt.duration_ms, status_code=attempt.status_code,
            error_class=attempt.error_class))
    final = step.status != "pending"
    updated = connection.execute(
        update(d).where(d.c.id == claim.id, d.c.claim_token == claim.claim_token).values(
            status=step.status, next_attempt_at=step.next_attempt_at, claim_token=None,
            last_status_code=attempt.status_code if attempt else None,
            last_error=step.reason, finished_at=now if final else None))
    return updated.rowcount == 1


def list_deliveries(connection: Connection, status: str | None = None,
                    limit: int = 100) -> Sequence[Row[Any]]:
    """The newest deliveries first, without their payloads."""
    columns = [d.c.id, d.c.endpoint_id, d.c.event_type, d.c.status, d.c.attempts,
               d.c.next_attempt_at, d.c.last_status_code, d.c.last_error, d.c.created_at,
               d.c.finished_at]
    query = select(*columns).order_by(d.c.created_at.desc(), d.c.id).limit(limit)
    if status is not None:
        query = query.where(d.c.status == status)
    return connection.execute(query).all()


def replay_delivery(connection: Connection, delivery_id: str, now: datetime) -> None:
    """Give an exhausted or abandoned delivery a fresh schedule, starting now."""
    row = connection.execute(select(d.c.status, d.c.last_error)
                             .where(d.c.id == delivery_id)).first()
    if row is None:
        raise ReplayRefused(f"no delivery {delivery_id}")
    if row.status not in ("exhausted", "abandoned"):
        raise ReplayRefused(f"{delivery_id} is {row.status}, not exhausted or abandoned")
    if row.last_error in NOT_REPLAYABLE:
        raise ReplayRefused(f"{delivery_id} cannot be sent: {NOT_REPLAYABLE[row.last_error]}")
    _reschedule(connection, now, d.c.id == delivery_id)


def replay_exhausted(connection: Connection, now: datetime) -> int:
    """Give every exhausted delivery a fresh schedule, starting now; returns how many."""
    return _reschedule(connection, now, d.c.status == "exhausted")


def _reschedule(connection: Connection, now: datetime, which: Any) -> int:
    statement = update(d).where(which).values(
        status="pending", attempts=0, next_attempt_at=now, claim_token=None, finished_at=None)
    return connection.execute(statement).rowcount


def prune_delivered(connection: Connection, older_than: datetime) -> int:
    """Delete deliveries delivered before `older_than`, with their attempts. Exhausted
    and abandoned ones are kept for an operator to look at and replay."""
    old = (select(d.c.id).where(d.c.status == "delivered", d.c.finished_at < older_than)
           .scalar_subquery())
    connection.execute(delete(webhook_attempts).where(webhook_attempts.c.delivery_id.in_(old)))
    return connection.execute(delete(d).where(d.c.id.in_(old))).rowcount
