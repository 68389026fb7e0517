"""referral: referrals, consents, disclosures

Revision ID: r0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "r0001"
down_revision = None
branch_labels = ("referral",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("provider_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("origin", sa.String(10), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("external_id", sa.Text),
        sa.Column("external_id_bidx", sa.String(64)),
        sa.Column("employee_name", sa.Text, nullable=False),
        sa.Column("employee_email", sa.Text),
        sa.Column("employee_email_bidx", sa.String(64)),
        sa.Column("employee_phone", sa.Text),
        sa.Column("purpose", sa.Text),
        sa.Column("link_token_hash", sa.String(64), unique=True),
        sa.Column("link_expires_at", UtcDateTime(), nullable=False),
        sa.Column("manage_token_hash", sa.String(64), unique=True),
        sa.Column("answered_at", UtcDateTime()),
        sa.Column("program_options", sa.String(100), nullable=False, server_default=""),
        sa.Column("shared_contact", sa.String(100), nullable=False, server_default=""),
        sa.Column("schedule", sa.Text),
        sa.Column("start_date", sa.Date),
        sa.Column("expected_end_date", sa.Date),
        sa.Column("level_of_care", sa.Text),
        sa.Column("intake_date", sa.Date),
        sa.Column("end_date", sa.Date),
        sa.Column("return_to_work_date", sa.Date),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_referrals_employer_created", "referrals",
                    ["employer_id", "created_at", "id"])
    op.create_index("ix_referrals_employer_external", "referrals",
                    ["employer_id", "external_id_bidx"])
    op.create_index("ix_referrals_state_link_expiry", "referrals", ["state", "link_expires_at"])
    op.create_table(
        "consents",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("referral_id", sa.String(40), sa.ForeignKey("referrals.id"), nullable=False,
                  unique=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(200), nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("signature", sa.Text, nullable=False),
        sa.Column("signed_at", UtcDateTime(), nullable=False),
        sa.Column("discloser", sa.String(40), nullable=False),
        sa.Column("recipient_role", sa.String(20), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("form_version", sa.String(20), nullable=False),
        sa.Column("revoked_at", UtcDateTime()),
        sa.Column("expiry_announced_at", UtcDateTime()),
    )
    op.create_table(
        "disclosures",
        sa.Column("id", sa.String(80), primary_key=True),
        sa.Column("referral_id", sa.String(40), sa.ForeignKey("referrals.id"), nullable=False,
                  index=True),
        sa.Column("consent_id", sa.String(40)),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("information", sa.String(300), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("disclosed_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("disclosures")
    op.drop_table("consents")
    op.drop_table("referrals")
