"""Bearer authentication, role checks and tenant scoping for every service.

- `Authenticator` checks `Authorization: Bearer bl1.<client>.<secret>` in constant time
  against the directory's hash. Client rows are cached for `auth_cache_seconds` (at most
  30 s), which bounds how long a revoked token keeps working in any service.
- `@requires_roles("hr", ...)` on a view states who may call it: 401 without a valid
  token, 403 for another role. It also documents the endpoint's security in OpenAPI.
- `scoped(stmt, column)`, `owned_or_404(tenant)` and `tenant_id()` keep queries inside the
  caller's tenant: another tenant's resource is indistinguishable from a missing one.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request
from flask_smorest.utils import deepupdate

from shared.directory.credentials import parse_token, secret_matches
from shared.directory.model import ApiClient
from shared.directory.service import Directory
from shared.web.problems import Problem

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S")
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Principal:
    """Who is calling: a client of one employer or one provider, or an admin."""

    client_id: str
    role: str
    employer_id: str | None
    provider_id: str | None

    @property
    def tenant_id(self) -> str | None:
        return self.employer_id or self.provider_id


class Authenticator:
    def __init__(self, directory: Directory, cache_seconds: float = 10.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.cache_seconds = min(cache_seconds, 30.0)
        self.monotonic = monotonic
        self._cache: OrderedDict[str, tuple[float, ApiClient]] = OrderedDict()
        self._lock = threading.Lock()

    def authenticate(self, authorization: str | None) -> Principal:
        token = _bearer(authorization)
        client = self._client(token.client_id)
        # Compare even when the client is unknown, so timing says nothing about ids.
        stored = client.secret_hash if client else "0" * 64
        if not secret_matches(token.secret, stored) or client is None or client.revoked:
            raise unauthorized("The bearer token is not valid.")
        return Principal(client.id, client.role, client.employer_id, client.provider_id)

    def _client(self, client_id: str) -> ApiClient | None:
        now = self.monotonic()
        with self._lock:
            hit = self._cache.get(client_id)
            if hit and now - hit[0] < self.cache_seconds:
                return hit[1]
        client = self.directory.get_client(client_id)
        if client is not None:
            with self._lock:
                self._cache[client_id] = (now, client)
                self._cache.move_to_end(client_id)
                while len(self._cache) > CACHE_SIZE:
                    self._cache.popitem(last=False)
        return client


def _bearer(authorization: str | None) -> Any:
    if not authorization:
        raise unauthorized("This endpoint needs an `Authorization: Bearer <token>` header.")
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("Use the Bearer scheme: `Authorization: Bearer <token>`.")
    token = parse_token(value.strip())
    if token is None:
        raise unauthorized("The bearer token is malformed.")
    return token


def unauthorized(detail: str) -> Problem:
    return Problem(401, "Unauthorized", detail=detail,
                   headers={"WWW-Authenticate": 'Bearer realm="bridgeline"'})


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise RuntimeError("current_principal() outside a @requires_roles view")
    return principal


def tenant_id() -> str:
    """The caller's employer or provider id (views of tenant data only)."""
    tenant = current_principal().tenant_id
    if tenant is None:
        raise Problem(403, "Forbidden", detail="This endpoint serves an employer or provider.")
    return tenant


def scoped(stmt: S, tenant_column: Any) -> S:
    """Restrict a query to the caller's tenant, e.g.
    `scoped(select(referrals), referrals.c.employer_id)`. Use it on every list and
    lookup, so another tenant's rows are simply never found."""
    return stmt.where(tenant_column == tenant_id())  # type: ignore[attr-defined]


def owned_or_404(resource_tenant: str | None, what: str = "resource") -> None:
    """Refuse another tenant's resource exactly as a missing one."""
    if resource_tenant is None or resource_tenant != current_principal().tenant_id:
        raise Problem(404, "Not Found", detail=f"No such {what}.")


def requires_roles(*roles: str) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            authenticator: Authenticator = current_app.extensions["bridgeline"].authenticator
            principal = authenticator.authenticate(request.headers.get("Authorization"))
            g.principal = principal
            if principal.role not in roles:
                raise Problem(403, "Forbidden",
                              detail=f"This endpoint is for role {', '.join(roles)}.")
            return view(*args, **kwargs)

        wrapper._apidoc = deepupdate(  # type: ignore[attr-defined]
            deepcopy(getattr(view, "_apidoc", {})),
            {"manual_doc": {"security": [{"bearerAuth": []}],
                            "x-roles": list(roles),
                            "responses": {"400": "BAD_REQUEST", "401": "UNAUTHORIZED",
                                          "403": "FORBIDDEN"}}},
        )
        return wrapper  # type: ignore[return-value]

    return decorate
