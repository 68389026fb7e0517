"""What the employee pages of every service share (HTML reached through a link, no login).

- `install_security_headers(blp)`: a strict CSP on every response of a page blueprint (no
  inline script or style, nothing from another site) and no framing.
- CSRF without a session: a form's hidden token is an HMAC, made by the service's keyed
  blind index, of what the form acts on (the hash of a link token, an employer id). Only
  whoever can read the page gets it, and a request the browser marks cross-site is refused.
- `assets`: the shared stylesheet, at /assets/shared/pages.css.

Each service keeps its own templates, wording and error pages.
"""

from __future__ import annotations

import hmac
from typing import Protocol

from flask import Blueprint, Response, current_app, request

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
CSRF_FIELD = "csrf_token"

# The stylesheet and the page skeleton (`pages/base.html`) every service's pages extend.
assets = Blueprint("shared_pages", __name__, static_folder="static",
                   static_url_path="/assets/shared", template_folder="templates")


class KeyedDigest(Protocol):
    """What a CSRF token is made with (`shared.crypto.BlindIndex` is one)."""

    def digest(self, field: str, value: str, *, tenant: str) -> str: ...


def install_security_headers(blp: Blueprint) -> None:
    """Every response of `blp` gets the strict CSP and may not be framed. (The app factory
    already adds no-store, nosniff and no-referrer to every response.)"""

    @blp.after_request
    def secure_headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        response.headers["X-Frame-Options"] = "DENY"
        return response


def csrf_token(keyed: KeyedDigest, binding: str) -> str:
    """The token of a form bound to `binding` (e.g. "link:<hash of the link token>")."""
    return keyed.digest("csrf", binding, tenant="pages")


def request_is_genuine(expected: str) -> bool:
    """The posted token matches (constant time) and the browser does not call the request
    cross-site."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return False
    sent = request.form.get(CSRF_FIELD, "")
    return len(sent) == len(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def public_url(path: str) -> str:
    """`path` on the address the service is reached at (links shown to the employee)."""
    base = current_app.extensions["bridgeline"].settings.public_base_url.rstrip("/")
    return f"{base}{path}"
