"""Tokens in links (referral, manage and accommodation links): 256 random bits, shown
once in a URL, stored only as a SHA-256 hash. A hash of a random 256-bit token cannot be
guessed back, so a slow password hash would only cost time."""

from __future__ import annotations

import hashlib
import re
import secrets

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
