"""RFC 9457 problem details: one exception type and one renderer for every error.

Raise `Problem(status, title, detail=..., errors=...)` anywhere below a view; the app
factory renders it (and every werkzeug HTTP error, and any unexpected exception) as
`application/problem+json`. `type` is a stable URI per kind of problem, so integrators
can branch on it without parsing English.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_BASE = "https://bridgeline.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"


class Problem(Exception):
    def __init__(
        self,
        status: int,
        title: str | None = None,
        *,
        detail: str | None = None,
        type_: str | None = None,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.type = type_ or slug_type(self.title)
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions
        super().__init__(f"{status} {self.title}")

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extensions)
        return body


def slug_type(title: str) -> str:
    return PROBLEM_BASE + "-".join(title.lower().replace("'", "").split())
