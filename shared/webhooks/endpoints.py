"""Where webhooks go: the `EndpointDirectory` protocol the deliverer asks.

The directory database implements it (`shared.directory.endpoints.WebhookEndpoints`);
tests use `shared.webhooks.testing.InMemoryEndpoints`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Endpoint:
    """An endpoint and its live signing secrets, current first (two during a rotation).
    Secrets are kept out of repr so that an endpoint in a log or traceback leaks none."""

    id: str
    url: str = field(repr=False)
    secrets: list[str] = field(repr=False)
    disabled: bool = False


class EndpointDirectory(Protocol):
    def get(self, endpoint_id: str) -> Endpoint | None:
        """The endpoint, or None when it no longer exists."""
        ...

    def disable(self, endpoint_id: str, reason: str) -> None:
        """Stop deliveries to it (the receiver answered 410 Gone); `reason` is operational
        text such as "410 Gone from receiver"."""
        ...
