"""directory: employers, providers, webhook endpoints, API clients

Revision ID: d0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "d0001"
down_revision = None
branch_labels = ("directory",)
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "employers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "providers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("owner_id", sa.String(40), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("secret_ciphertext", sa.Text, nullable=False),
        sa.Column("previous_secret_ciphertext", sa.Text, nullable=True),
        sa.Column("previous_secret_expires_at", TS, nullable=True),
        sa.Column("disabled_at", TS, nullable=True),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_webhook_endpoints_owner_id", "webhook_endpoints", ["owner_id"], unique=True)
    op.create_table(
        "api_clients",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("employer_id", sa.String(40), sa.ForeignKey("employers.id", name="fk_api_clients_employer_id_employers"), nullable=True),
        sa.Column("provider_id", sa.String(40), sa.ForeignKey("providers.id", name="fk_api_clients_provider_id_providers"), nullable=True),
        sa.Column("label", sa.String(200), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_index("ix_api_clients_employer_id", "api_clients", ["employer_id"])
    op.create_index("ix_api_clients_provider_id", "api_clients", ["provider_id"])


def downgrade() -> None:
    op.drop_table("api_clients")
    op.drop_table("webhook_endpoints")
    op.drop_table("providers")
    op.drop_table("employers")
