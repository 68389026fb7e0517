"""attestation: referrals, consents, enrollments, attendance, attestations

Revision ID: t0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "t0001"
down_revision = None
branch_labels = ("attestation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("external_id_bidx", sa.String(64)),
        sa.Column("kind", sa.String(20)),
        sa.Column("created_at", UtcDateTime()),
    )
    op.create_index("ix_att_referrals_employer_external", "referrals",
                    ["employer_id", "external_id_bidx"])
    op.create_index("ix_att_referrals_employer_created", "referrals",
                    ["employer_id", "created_at"])
    op.create_table(
        "consents",
        sa.Column("consent_id", sa.String(40), primary_key=True),
        sa.Column("referral_id", sa.String(40), nullable=False, index=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("granted_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("expired_at", UtcDateTime()),
    )
    op.create_table(
        "enrollments",
        sa.Column("referral_id", sa.String(40), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("start_date", sa.Date),
        sa.Column("end_date", sa.Date),
        sa.Column("return_to_work_date", sa.Date),
    )
    op.create_table(
        "attendance_records",
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("referral_id", sa.String(40), nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "record_id", "version"),
    )
    op.create_index("ix_attendance_referral_date", "attendance_records",
                    ["referral_id", "date"])
    op.create_table(
        "attendance_batches",
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("webhook_id", sa.String(255), nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider_id", "webhook_id"),
    )
    op.create_table(
        "attestations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("referral_id", sa.String(40), nullable=False),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("consent_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("period_start", sa.Date, nullable=False),
        sa.Column("period_end", sa.Date, nullable=False),
        sa.Column("claims", sa.Text, nullable=False),
        sa.Column("issued_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("jws", sa.Text, nullable=False),
        sa.Column("delivery_id", sa.String(40)),
        sa.Column("webhook_disclosed_at", UtcDateTime()),
        sa.UniqueConstraint("referral_id", "kind", "period_start", name="uq_attestation_period"),
    )
    op.create_index("ix_attestations_employer_issued", "attestations",
                    ["employer_id", "issued_at", "id"])
    op.create_index("ix_attestations_referral", "attestations", ["referral_id"])
    op.create_table(
        "attestation_reads",
        sa.Column("attestation_id", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(40), nullable=False),
        sa.Column("disclosed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("attestation_id", "client_id"),
    )


def downgrade() -> None:
    for table in ("attestation_reads", "attestations", "attendance_batches",
                  "attendance_records", "enrollments", "consents", "referrals"):
        op.drop_table(table)
