"""accommodation: cases, their transitions, employee links, program schedules

Revision ID: a0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "a0001"
down_revision = None
branch_labels = ("accommodation",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accommodations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("external_id_bidx", sa.String(64), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("requested", sa.Text, nullable=False),
        sa.Column("granted", sa.Text),
        sa.Column("interim", sa.Text),
        sa.Column("functional_limitations", sa.Text),
        sa.Column("medical_documentation", sa.Text),
        sa.Column("denial_reason", sa.Text),
        sa.Column("referral_id", sa.String(40)),
        sa.Column("documentation_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("reconsidered", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("submitted_at", UtcDateTime(), nullable=False),
        sa.Column("submitted_by", sa.String(40), nullable=False),
        sa.Column("acknowledge_due", sa.Date, nullable=False),
        sa.Column("decision_due", sa.Date, nullable=False),
        sa.Column("acknowledged_at", UtcDateTime()),
        sa.Column("decided_at", UtcDateTime()),
        sa.Column("overdue_announced_at", UtcDateTime()),
    )
    op.create_table(
        "accommodation_transitions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("accommodation_id", sa.String(40), sa.ForeignKey("accommodations.id"), nullable=False,
               index=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("from_status", sa.String(30), nullable=False),
        sa.Column("to_status", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(40), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_table(
        "accommodation_links",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("employee_subject", sa.String(64), nullable=False),
        sa.Column("external_id", sa.Text, nullable=False),
        sa.Column("referral_id", sa.String(40)),
        sa.Column("created_by", sa.String(40), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.Column("used_at", UtcDateTime()),
    )
    op.create_table(
        "program_schedules",
        sa.Column("referral_id", sa.String(40), primary_key=True),
        sa.Column("employer_id", sa.String(40), nullable=False),
        sa.Column("schedule", sa.Text, nullable=False),
        sa.Column("start_date", sa.Date),
        sa.Column("expected_end_date", sa.Date),
        sa.Column("received_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_accommodations_employer_submitted", "accommodations", ["employer_id", "submitted_at", "id"])
    op.create_index("ix_accommodations_employer_external", "accommodations", ["employer_id", "external_id_bidx"])


def downgrade() -> None:
    op.drop_table("program_schedules")
    op.drop_table("accommodation_links")
    op.drop_table("accommodation_transitions")
    op.drop_table("accommodations")
