"""The referral database's tables. Identifying and clinical fields hold ciphertexts
(`shared.crypto` tokens) and are declared once, in the `EncryptedFields` specs below;
exact-match lookups go through blind-index columns (`*_bidx`)."""

from __future__ import annotations

from sqlalchemy import Column, Date, ForeignKey, Index, MetaData, String, Table, Text

from shared.crypto import EncryptedFields
from shared.db import UtcDateTime

metadata = MetaData()

referrals = Table(
    "referrals", metadata,
    Column("id", String(40), primary_key=True),
    Column("employer_id", String(40), nullable=False),
    Column("provider_id", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("origin", String(10), nullable=False),
    Column("state", String(20), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("external_id", Text),            # encrypted
    Column("external_id_bidx", String(64)),
    Column("employee_name", Text, nullable=False),   # encrypted
    Column("employee_email", Text),          # encrypted
    Column("employee_email_bidx", String(64)),
    Column("employee_phone", Text),          # encrypted
    Column("purpose", Text),                 # encrypted: HR's free text may say too much
    Column("link_token_hash", String(64), unique=True),
    Column("link_expires_at", UtcDateTime(), nullable=False),
    Column("manage_token_hash", String(64), unique=True),
    Column("answered_at", UtcDateTime()),
    Column("program_options", String(100), nullable=False, default=""),
    Column("shared_contact", String(100), nullable=False, default=""),
    Column("schedule", Text),                # JSON weekly windows (operational)
    Column("start_date", Date),
    Column("expected_end_date", Date),
    Column("level_of_care", Text),           # encrypted (clinical)
    Column("intake_date", Date),
    Column("end_date", Date),
    Column("return_to_work_date", Date),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_referrals_employer_created", "employer_id", "created_at", "id"),
    Index("ix_referrals_employer_external", "employer_id", "external_id_bidx"),
    Index("ix_referrals_state_link_expiry", "state", "link_expires_at"),
)

consents = Table(
    "consents", metadata,
    Column("id", String(40), primary_key=True),
    Column("referral_id", String(40), ForeignKey("referrals.id"), nullable=False, unique=True),
    Column("employer_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("scopes", String(200), nullable=False),
    Column("expires_on", Date, nullable=False),
    Column("signature", Text, nullable=False),   # encrypted: the typed name
    Column("signed_at", UtcDateTime(), nullable=False),
    Column("discloser", String(40), nullable=False),
    Column("recipient_role", String(20), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("form_version", String(20), nullable=False),
    Column("revoked_at", UtcDateTime()),
    Column("expiry_announced_at", UtcDateTime()),
)

# What the attestation service disclosed, learnt from `disclosure.recorded` events,
# for the employee's manage page.
disclosures = Table(
    "disclosures", metadata,
    Column("id", String(80), primary_key=True),
    Column("referral_id", String(40), ForeignKey("referrals.id"), nullable=False, index=True),
    Column("consent_id", String(40)),
    Column("recipient", String(100), nullable=False),
    Column("information", String(300), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("disclosed_at", UtcDateTime(), nullable=False),
)

REFERRAL_FIELDS = EncryptedFields(
    "referrals", ("external_id", "employee_name", "employee_email", "employee_phone",
                  "purpose", "level_of_care"),
    tenant="employer_id", subject="employee_subject")
CONSENT_FIELDS = EncryptedFields("consents", ("signature",), tenant="employer_id",
                                 subject="employee_subject")
