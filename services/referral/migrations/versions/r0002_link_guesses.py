"""referral: failed link lookups per client network (shared.web.link_guard)

Revision ID: r0002
Revises: r0001

One row per client network with failed lookups of the referral service's links in its
current window: a keyed HMAC of the network (never the address), the count, and when
the window ends. Rows whose window has passed are deleted, so the table holds only the
current window's clients.
"""

import sqlalchemy as sa
from alembic import op

from shared.db import UtcDateTime

revision = "r0002"
down_revision = "r0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "link_guesses",
        sa.Column("client_hash", sa.String(64), nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_ends_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_hash", name="pk_link_guesses"),
    )
    op.create_index("ix_link_guesses_window_ends_at", "link_guesses", ["window_ends_at"])


def downgrade() -> None:
    op.drop_table("link_guesses")
