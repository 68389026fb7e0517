"""directory: subject_keys, the per-subject data keys of shared.crypto (wrapped) and
the tombstones of erased subjects

Revision ID: d0002
Revises: d0001
"""

import sqlalchemy as sa
from alembic import op

revision = "d0002"
down_revision = "d0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subject_keys",
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("kid", sa.String(16), nullable=False),
        sa.Column("kek_version", sa.Integer, nullable=True),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("rewrapped_at", TS, nullable=True),
        sa.Column("erased_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("subject", name="pk_subject_keys"),
        sa.CheckConstraint(
            "(erased_at IS NULL AND wrapped_key IS NOT NULL AND kek_version IS NOT NULL) OR "
            "(erased_at IS NOT NULL AND wrapped_key IS NULL AND kek_version IS NULL)",
            name="ck_subject_keys_key_or_tombstone",
        ),
    )
    op.create_index("ix_subject_keys_kek_version", "subject_keys", ["kek_version"])


def downgrade() -> None:
    op.drop_table("subject_keys")
