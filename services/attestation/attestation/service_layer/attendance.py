"""Attendance batches from providers: stored record by record, idempotent per record id.

Per record: a new id is `accepted`; the same id with the same referral, date and status
is `unchanged` (nothing written); the same id with anything different is `corrected`
(a new version, the old ones kept as history). A record for a referral we know to be
routed to another provider is `rejected` with its reason; a record for a referral we do
not know yet is kept, and counted once the referral's events arrive (attestations only
count records of the referral's own provider). A resent `webhook-id` changes nothing and
answers what the first delivery was answered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection

from attestation.adapters.repository import AttestationRepository, StoredRecord
from shared.webhooks import record_received

NOT_ROUTED = "The referral is not routed to this provider."


@dataclass(frozen=True)
class AttendanceIn:
    id: str
    referral_id: str
    date: date
    status: str


@dataclass(frozen=True)
class AttendanceBatch:
    provider_id: str
    webhook_id: str
    records: list[AttendanceIn]


def ingest(conn: Connection, repo: AttestationRepository, batch: AttendanceBatch,
           now: datetime) -> dict[str, Any]:
    if not record_received(conn, batch.provider_id, batch.webhook_id, now):
        return repo.batch_response(batch.provider_id, batch.webhook_id) or _answer([], 0, 0, 0)
    owners = repo.providers_of(r.referral_id for r in batch.records)
    latest: dict[str, StoredRecord] = repo.latest_versions(
        batch.provider_id, (r.id for r in batch.records))
    rows: list[dict[str, Any]] = []
    rejected: list[dict[str, str]] = []
    accepted = unchanged = corrected = 0
    for record in batch.records:
        owner = owners.get(record.referral_id)
        if owner is not None and owner != batch.provider_id:
            rejected.append({"id": record.id, "error": NOT_ROUTED})
            continue
        previous = latest.get(record.id)
        if previous is not None and (previous.referral_id, previous.date, previous.status) \
                == (record.referral_id, record.date, record.status):
            unchanged += 1
            continue
        version = 1 if previous is None else previous.version + 1
        accepted, corrected = (accepted + 1, corrected) if previous is None \
            else (accepted, corrected + 1)
        latest[record.id] = StoredRecord(version, record.referral_id, record.date,
                                         record.status)
        rows.append({"provider_id": batch.provider_id, "record_id": record.id,
                     "version": version, "referral_id": record.referral_id,
                     "date": record.date, "status": record.status, "received_at": now})
    repo.add_records(rows)
    answer = _answer(rejected, accepted, unchanged, corrected)
    repo.store_batch_response(batch.provider_id, batch.webhook_id, answer, now)
    return answer


def _answer(rejected: list[dict[str, str]], accepted: int, unchanged: int,
            corrected: int) -> dict[str, Any]:
    return {"accepted": accepted, "unchanged": unchanged, "corrected": corrected,
            "rejected": rejected}
