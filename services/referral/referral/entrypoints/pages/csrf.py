"""CSRF protection without a session (the mechanism is `shared.web.pages`): the form's
hidden token is an HMAC (the server's keyed blind index) bound to what the form acts on:
the hash of a referral or manage link, or the employer of a self-referral page."""

from __future__ import annotations

from referral.domain.links import hash_token
from referral.entrypoints.pages.rendering import services
from shared.web import pages as shared_pages
from shared.web.pages import request_is_genuine

FIELD = shared_pages.CSRF_FIELD

__all__ = ["FIELD", "for_employer", "for_link", "for_manage", "request_is_genuine"]


def for_link(token: str) -> str:
    return _digest(f"link:{hash_token(token)}")


def for_manage(manage_token: str) -> str:
    return _digest(f"manage:{hash_token(manage_token)}")


def for_employer(employer_id: str) -> str:
    return _digest(f"start:{employer_id}")


def _digest(binding: str) -> str:
    return shared_pages.csrf_token(services().blind_index, binding)
