"""Providers and employers from the shared directory: whether a provider exists, the
secrets it signs its webhooks with, and the employer's webhook endpoint (if any)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from shared.directory.endpoints import WebhookEndpoints
from shared.directory.service import Directory

CACHE_SECONDS = 30.0


class DirectoryParties:
    def __init__(self, directory: Directory, endpoints: WebhookEndpoints,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = directory
        self.endpoints = endpoints
        self.clock = clock
        self._providers: dict[str, tuple[float, Any]] = {}

    def provider_exists(self, provider_id: str) -> bool:
        now = self.clock()
        hit = self._providers.get(provider_id)
        if hit is None or now - hit[0] >= CACHE_SECONDS:
            if len(self._providers) > 10_000:
                self._providers.clear()
            hit = (now, self.directory.get_provider(provider_id))
            self._providers[provider_id] = hit
        return hit[1] is not None

    def provider_secrets(self, provider_id: str) -> list[str]:
        """The provider's live webhook secrets (it signs what it sends us with them)."""
        if not provider_id.startswith("prv_"):  # endpoints of employers share the table
            return []
        endpoint = self.endpoints.for_owner(provider_id)
        return [] if endpoint is None else list(endpoint.secrets)

    def employer_endpoint_id(self, employer_id: str) -> str | None:
        """The employer's enabled webhook endpoint, where `attestation.issued` goes."""
        if not employer_id.startswith("emp_"):
            return None
        endpoint = self.endpoints.for_owner(employer_id)
        return None if endpoint is None or endpoint.disabled else endpoint.id
