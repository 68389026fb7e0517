"""The accommodation database's tables. Clinical and identifying fields hold ciphertexts
(declared in the `EncryptedFields` specs); weekly windows are operational plaintext."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from shared.crypto import EncryptedFields
from shared.db import UtcDateTime

metadata = MetaData()

accommodations = Table(
    "accommodations", metadata,
    Column("id", String(40), primary_key=True),
    Column("employer_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("external_id", Text, nullable=False),          # encrypted
    Column("external_id_bidx", String(64), nullable=False),
    Column("type", String(30), nullable=False),
    Column("status", String(30), nullable=False),
    Column("requested", Text, nullable=False),            # JSON arrangement
    Column("granted", Text),
    Column("interim", Text),
    Column("functional_limitations", Text),               # encrypted (clinical)
    Column("medical_documentation", Text),                # encrypted (clinical)
    Column("denial_reason", Text),                        # encrypted
    Column("referral_id", String(40)),
    Column("documentation_requested", Boolean, nullable=False, default=False),
    Column("reconsidered", Boolean, nullable=False, default=False),
    Column("submitted_at", UtcDateTime(), nullable=False),
    Column("submitted_by", String(40), nullable=False),
    Column("acknowledge_due", Date, nullable=False),
    Column("decision_due", Date, nullable=False),
    Column("acknowledged_at", UtcDateTime()),
    Column("decided_at", UtcDateTime()),
    Column("overdue_announced_at", UtcDateTime()),
    Index("ix_accommodations_employer_submitted", "employer_id", "submitted_at", "id"),
    Index("ix_accommodations_employer_external", "employer_id", "external_id_bidx"),
)

transitions = Table(
    "accommodation_transitions", metadata,
    Column("id", String(40), primary_key=True),
    Column("accommodation_id", String(40), ForeignKey("accommodations.id"), nullable=False,
           index=True),
    Column("seq", Integer, nullable=False),
    Column("employer_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("action", String(30), nullable=False),
    Column("from_status", String(30), nullable=False),
    Column("to_status", String(30), nullable=False),
    Column("actor", String(40), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("note", Text),                                  # encrypted: may be clinical
)

# Links HR issues so the employee can ask for an accommodation themselves, and the
# suggestion pre-computed from the program schedule (`enrollment.started`).
links = Table(
    "accommodation_links", metadata,
    Column("id", String(40), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("employer_id", String(40), nullable=False),
    Column("employee_subject", String(64), nullable=False),
    Column("external_id", Text, nullable=False),           # encrypted
    Column("referral_id", String(40)),
    Column("created_by", String(40), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime()),
)

program_schedules = Table(
    "program_schedules", metadata,
    Column("referral_id", String(40), primary_key=True),
    Column("employer_id", String(40), nullable=False),
    Column("schedule", Text, nullable=False),              # JSON windows (operational)
    Column("start_date", Date),
    Column("expected_end_date", Date),
    Column("received_at", UtcDateTime(), nullable=False),
)

ACCOMMODATION_FIELDS = EncryptedFields(
    "accommodations", ("external_id", "functional_limitations", "medical_documentation",
                       "denial_reason"),
    tenant="employer_id", subject="employee_subject")
TRANSITION_FIELDS = EncryptedFields("accommodation_transitions", ("note",),
                                    tenant="employer_id", subject="employee_subject")
LINK_FIELDS = EncryptedFields("accommodation_links", ("external_id",), tenant="employer_id",
                              subject="employee_subject")
