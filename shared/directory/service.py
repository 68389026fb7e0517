"""Reads and writes of the directory. The CLI writes; every service reads."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update

from shared.directory import tables as t
from shared.directory.credentials import ClientToken, hash_secret, new_secret
from shared.directory.model import EMPLOYER_ROLES, PROVIDER_ROLES, ApiClient, Employer, Provider
from shared.ids import new_id

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class DirectoryError(ValueError):
    """A request the directory cannot honour (unknown employer, wrong role, ...)."""


def _client(row: Row[Any]) -> ApiClient:
    return ApiClient(
        id=row.id,
        role=row.role,
        employer_id=row.employer_id,
        provider_id=row.provider_id,
        secret_hash=row.secret_hash,
        revoked=row.revoked_at is not None,
        label=row.label,
    )


class Directory:
    def __init__(self, engine: Engine, clock: Clock = utcnow) -> None:
        self.engine = engine
        self.clock = clock

    # -- employers and providers -------------------------------------------------------
    def create_employer(self, name: str) -> Employer:
        employer = Employer(id=new_id("emp"), name=_name(name), created_at=self.clock())
        with self.engine.begin() as conn:
            conn.execute(insert(t.employers).values(**employer.__dict__))
        return employer

    def create_provider(self, name: str) -> Provider:
        provider = Provider(id=new_id("prv"), name=_name(name), created_at=self.clock())
        with self.engine.begin() as conn:
            conn.execute(insert(t.providers).values(**provider.__dict__))
        return provider

    def get_employer(self, employer_id: str) -> Employer | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.employers).where(t.employers.c.id == employer_id)).first()
        return Employer(row.id, row.name, row.created_at) if row else None

    def get_provider(self, provider_id: str) -> Provider | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.providers).where(t.providers.c.id == provider_id)).first()
        return Provider(row.id, row.name, row.created_at) if row else None

    def list_employers(self) -> list[Employer]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.employers).order_by(t.employers.c.created_at)).all()
        return [Employer(r.id, r.name, r.created_at) for r in rows]

    def list_providers(self) -> list[Provider]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.providers).order_by(t.providers.c.created_at)).all()
        return [Provider(r.id, r.name, r.created_at) for r in rows]

    # -- API clients -----------------------------------------------------------------
    def create_client(
        self,
        role: str,
        *,
        employer_id: str | None = None,
        provider_id: str | None = None,
        label: str | None = None,
    ) -> tuple[ApiClient, ClientToken]:
        self._check_client_owner(role, employer_id, provider_id)
        token = ClientToken(client_id=new_id("cli"), secret=new_secret())
        secret_hash = hash_secret(token.secret)
        values: dict[str, object] = {
            "id": token.client_id,
            "role": role,
            "employer_id": employer_id,
            "provider_id": provider_id,
            "label": label,
            "secret_hash": secret_hash,
            "created_at": self.clock(),
            "revoked_at": None,
        }
        with self.engine.begin() as conn:
            conn.execute(insert(t.api_clients).values(**values))
        client = ApiClient(token.client_id, role, employer_id, provider_id,
                           secret_hash, revoked=False, label=label)
        return client, token

    def _check_client_owner(self, role: str, employer_id: str | None,
                            provider_id: str | None) -> None:
        if role in EMPLOYER_ROLES:
            if not employer_id or provider_id:
                raise DirectoryError(f"role {role!r} needs --employer (and no --provider)")
            if self.get_employer(employer_id) is None:
                raise DirectoryError(f"no employer {employer_id}")
        elif role in PROVIDER_ROLES:
            if not provider_id or employer_id:
                raise DirectoryError("role 'provider' needs --provider (and no --employer)")
            if self.get_provider(provider_id) is None:
                raise DirectoryError(f"no provider {provider_id}")
        elif role == "admin":
            if employer_id or provider_id:
                raise DirectoryError("an admin client belongs to no employer or provider")
        else:
            raise DirectoryError(f"unknown role {role!r}")

    def get_client(self, client_id: str) -> ApiClient | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.api_clients).where(t.api_clients.c.id == client_id)).first()
        return _client(row) if row else None

    def list_clients(self, *, employer_id: str | None = None,
                     provider_id: str | None = None) -> list[ApiClient]:
        stmt = select(t.api_clients).order_by(t.api_clients.c.created_at)
        if employer_id:
            stmt = stmt.where(t.api_clients.c.employer_id == employer_id)
        if provider_id:
            stmt = stmt.where(t.api_clients.c.provider_id == provider_id)
        with self.engine.connect() as conn:
            return [_client(r) for r in conn.execute(stmt).all()]

    def revoke_client(self, client_id: str) -> bool:
        """Revoke a client; True if it existed and was active."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t.api_clients)
                .where(t.api_clients.c.id == client_id, t.api_clients.c.revoked_at.is_(None))
                .values(revoked_at=self.clock())
            )
        return result.rowcount == 1


def _name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not 1 <= len(cleaned) <= 200:
        raise DirectoryError("a name must have 1 to 200 characters")
    return cleaned

