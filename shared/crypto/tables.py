"""The subject key store, in the directory database that every service shares: one
employee has one data key everywhere, so erasing it once shreds their data in every
service and in every message. Created by migration d0002."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Column, Integer, LargeBinary, String, Table

from shared.db import UtcDateTime
from shared.directory.tables import metadata

# A row is either a live key (wrapped under `kek_version`) or, after erasure, a
# tombstone without key material. The tombstone lets a read of a shredded value say
# "erased" instead of "no such key", and stops a new key from being minted for the
# same subject, which would make the old values look tampered instead of erased.
subject_keys = Table(
    "subject_keys",
    metadata,
    Column("subject", String(200), primary_key=True),
    Column("kid", String(16), nullable=False),
    Column("kek_version", Integer, nullable=True, index=True),
    Column("wrapped_key", LargeBinary, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("rewrapped_at", UtcDateTime(), nullable=True),
    Column("erased_at", UtcDateTime(), nullable=True),
    CheckConstraint(
        "(erased_at IS NULL AND wrapped_key IS NOT NULL AND kek_version IS NOT NULL) OR "
        "(erased_at IS NOT NULL AND wrapped_key IS NULL AND kek_version IS NULL)",
        name="key_or_tombstone",
    ),
)
