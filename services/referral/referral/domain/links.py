"""Tokens in links: 256 random bits, shown once in a URL, stored only as a SHA-256 hash
(a hash of a random token cannot be guessed back, so a slow hash would add nothing)."""

from __future__ import annotations

import hashlib
import re
import secrets

DEFAULT_LINK_TTL_DAYS = 14
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_token() -> tuple[str, str]:
    """(token for the URL, hash to store)."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """A cheap check before any lookup: malformed tokens never reach the database."""
    return bool(TOKEN_SHAPE.match(token))
