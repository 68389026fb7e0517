"""Tables of the directory database, shared by every service; the CLI writes them."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, MetaData, String, Table, Text

from shared.db import NAMING_CONVENTION, UtcDateTime

metadata = MetaData(naming_convention=NAMING_CONVENTION)

employers = Table(
    "employers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

providers = Table(
    "providers",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# One endpoint per owner (an employer's HR system or a provider). Signing secrets must
# be usable, so they are stored encrypted (never hashed); during a rotation the previous
# secret keeps signing too until `previous_secret_expires_at`.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner_kind", String(16), nullable=False),
    Column("owner_id", String(40), nullable=False, index=True, unique=True),
    Column("url", Text, nullable=False),
    Column("secret_ciphertext", Text, nullable=False),
    Column("previous_secret_ciphertext", Text, nullable=True),
    Column("previous_secret_expires_at", UtcDateTime(), nullable=True),
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("disabled_reason", String(200), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_clients = Table(
    "api_clients",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("employer_id", String(40), ForeignKey("employers.id"), nullable=True, index=True),
    Column("provider_id", String(40), ForeignKey("providers.id"), nullable=True, index=True),
    Column("label", String(200), nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)
