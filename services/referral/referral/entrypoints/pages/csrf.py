"""CSRF protection without a session: the form's hidden token is an HMAC (the server's
keyed blind index) bound to what the form acts on — the hash of a referral or manage link,
or the employer of a self-referral page. A page only hands it to whoever can read the page,
and a request the browser marks as cross-site is refused outright."""

from __future__ import annotations

import hmac

from flask import request

from referral.domain.links import hash_token
from referral.entrypoints.pages.rendering import services

FIELD = "csrf_token"


def for_link(token: str) -> str:
    return _digest(f"link:{hash_token(token)}")


def for_manage(manage_token: str) -> str:
    return _digest(f"manage:{hash_token(manage_token)}")


def for_employer(employer_id: str) -> str:
    return _digest(f"start:{employer_id}")


def request_is_genuine(expected: str) -> bool:
    """The posted token matches and the browser does not call the request cross-site."""
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() == "cross-site":
        return False
    sent = request.form.get(FIELD, "")
    return len(sent) == len(expected) and hmac.compare_digest(sent.encode(), expected.encode())


def _digest(binding: str) -> str:
    return services().blind_index.digest("csrf", binding, tenant="pages")
