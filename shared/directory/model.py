"""What the directory holds, as plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

EMPLOYER_ROLES = frozenset({"hr", "specialist", "manager"})
PROVIDER_ROLES = frozenset({"provider"})
ROLES = EMPLOYER_ROLES | PROVIDER_ROLES | {"admin"}


@dataclass(frozen=True)
class Employer:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class ApiClient:
    """A credential's owner. It belongs to exactly one employer, one provider, or is admin."""

    id: str
    role: str
    employer_id: str | None
    provider_id: str | None
    secret_hash: str
    revoked: bool
    label: str | None = None

    @property
    def tenant_id(self) -> str | None:
        """The employer or provider whose data this client may see (None for admin)."""
        return self.employer_id or self.provider_id
