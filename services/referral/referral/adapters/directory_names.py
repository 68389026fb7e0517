"""Names and endpoints from the shared directory, cached briefly: employers and providers
are read on every page view, and renamed rarely."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.directory.endpoints import WebhookEndpoints
from shared.directory.service import Directory

CACHE_SECONDS = 30.0


class DirectoryNames:
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
        if len(self._cache) > 10_000:
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

    def provider_endpoint_id(self, provider_id: str) -> str | None:
        endpoint = self.endpoints.for_owner(provider_id)
        return None if endpoint is None or endpoint.disabled else endpoint.id

    def provider_secrets(self, provider_id: str) -> list[str]:
        """The provider's live webhook secrets (it signs what it sends us with them)."""
        if not provider_id.startswith("prv_"):  # endpoints of employers share the table
            return []
        endpoint = self.endpoints.for_owner(provider_id)
        return [] if endpoint is None else list(endpoint.secrets)

    def providers(self) -> list[tuple[str, str]]:
        """(id, name) of every provider, for the self-referral page."""
        return self._cached("all", "providers", lambda: [
            (p.id, p.name) for p in self.directory.list_providers()])
