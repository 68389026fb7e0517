"""The attestation database's tables. What the service knows of referrals, consents and
enrollments it learnt from events; attendance comes from providers. The employee's
external id is the only identifying value, stored encrypted (`REFERRAL_FIELDS`) and
found through a blind index."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.crypto import EncryptedFields
from shared.db import UtcDateTime

metadata = MetaData()

# One row per employer referral (`referral.created`; `consent.granted` and `enrollment.*`
# fill it too when they arrive first). `kind` and `created_at` stay null until
# `referral.created` arrives.
referrals = Table(
    "referrals", metadata,
    Column("id", String(40), primary_key=True),
    Column("employer_id", String(40), nullable=False),
    Column("provider_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("external_id", Text),             # encrypted
    Column("external_id_bidx", String(64)),
    Column("kind", String(20)),
    Column("created_at", UtcDateTime()),
    Index("ix_att_referrals_employer_external", "employer_id", "external_id_bidx"),
    Index("ix_att_referrals_employer_created", "employer_id", "created_at"),
)

consents = Table(
    "consents", metadata,
    Column("consent_id", String(40), primary_key=True),
    Column("referral_id", String(40), nullable=False, index=True),
    Column("employer_id", String(40), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("purpose", Text, nullable=False),
    Column("granted_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Column("expired_at", UtcDateTime()),
)

enrollments = Table(
    "enrollments", metadata,
    Column("referral_id", String(40), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("return_to_work_date", Date),
)

# Every version of every record: a correction adds a version, an identical resend nothing.
attendance_records = Table(
    "attendance_records", metadata,
    Column("provider_id", String(40), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("referral_id", String(40), nullable=False),
    Column("date", Date, nullable=False),
    Column("status", String(24), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("provider_id", "record_id", "version"),
    Index("ix_attendance_referral_date", "referral_id", "date"),
)

# The answer to each accepted attendance webhook, replayed for a resent `webhook-id`.
attendance_batches = Table(
    "attendance_batches", metadata,
    Column("provider_id", String(40), nullable=False),
    Column("webhook_id", String(255), nullable=False),
    Column("response", Text, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("provider_id", "webhook_id"),
)

attestations = Table(
    "attestations", metadata,
    Column("id", String(40), primary_key=True),
    Column("referral_id", String(40), nullable=False),
    Column("employer_id", String(40), nullable=False),
    Column("consent_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("claims", Text, nullable=False),  # JSON, closed vocabulary only
    Column("issued_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("jws", Text, nullable=False),
    Column("delivery_id", String(40)),        # the `attestation.issued` webhook, if any
    Column("webhook_disclosed_at", UtcDateTime()),
    UniqueConstraint("referral_id", "kind", "period_start", name="uq_attestation_period"),
    Index("ix_attestations_employer_issued", "employer_id", "issued_at", "id"),
    Index("ix_attestations_referral", "referral_id"),
)

# Which client has already been shown which attestation: an API read is a disclosure,
# recorded once per attestation and client.
attestation_reads = Table(
    "attestation_reads", metadata,
    Column("attestation_id", String(40), nullable=False),
    Column("client_id", String(40), nullable=False),
    Column("disclosed_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("attestation_id", "client_id"),
)

REFERRAL_FIELDS = EncryptedFields("referrals", ("external_id",), tenant="employer_id",
                                  subject="employee_subject")
