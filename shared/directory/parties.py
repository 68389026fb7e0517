"""Employers and providers as a service sees them from the shared directory: names (for
pages), whether a provider exists, the secrets a provider signs its webhooks with, and the
webhook endpoints deliveries go to. Directory rows are cached briefly: they are read on
every page view and webhook, and change rarely (revoking a client is the auth cache's
business, not this one's)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.directory.endpoints import WebhookEndpoints
from shared.directory.service import Directory

CACHE_SECONDS = 30.0
MAX_ENTRIES = 10_000


class DirectoryParties:
    def __init__(self, directory: Directory, endpoints: WebhookEndpoints,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.endpoints = endpoints
        self.clock = clock
        self._cache: dict[tuple[str, str], tuple[float, Any]] = {}

    def _cached(self, kind: str, key: str, load: Callable[[], Any]) -> Any:
        now = self.clock()
        hit = self._cache.get((kind, key))
        if hit and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        value = load()
        if len(self._cache) > MAX_ENTRIES:
            self._cache.clear()
        self._cache[(kind, key)] = (now, value)
        return value

    def employer_name(self, employer_id: str) -> str | None:
        employer = self._cached("emp", employer_id,
                                lambda: self.directory.get_employer(employer_id))
        return None if employer is None else employer.name

    def provider_name(self, provider_id: str) -> str | None:
        provider = self._cached("prv", provider_id,
                                lambda: self.directory.get_provider(provider_id))
        return None if provider is None else provider.name

    def provider_exists(self, provider_id: str) -> bool:
        return self.provider_name(provider_id) is not None

    def providers(self) -> list[tuple[str, str]]:
        """(id, name) of every provider, for the self-referral page."""
        return self._cached("all", "providers", lambda: [
            (p.id, p.name) for p in self.directory.list_providers()])

    def provider_secrets(self, provider_id: str) -> list[str]:
        """The provider's live webhook secrets (it signs what it sends us with them)."""
        if not provider_id.startswith("prv_"):  # employers' endpoints share the table
            return []
        endpoint = self.endpoints.for_owner(provider_id)
        return [] if endpoint is None else list(endpoint.secrets)

    def provider_endpoint_id(self, provider_id: str) -> str | None:
        return self._endpoint_id(provider_id, "prv_")

    def employer_endpoint_id(self, employer_id: str) -> str | None:
        """The employer's enabled webhook endpoint (where `attestation.issued` goes)."""
        return self._endpoint_id(employer_id, "emp_")

    def _endpoint_id(self, owner_id: str, prefix: str) -> str | None:
        if not owner_id.startswith(prefix):
            return None
        endpoint = self.endpoints.for_owner(owner_id)
        return None if endpoint is None or endpoint.disabled else endpoint.id
