"""Bearer tokens: `bl1.<client id>.<secret>`.

The secret is 256 random bits, so a single SHA-256 is the right hash: a slow password
KDF protects low-entropy secrets from guessing and would only cost every request time
here. The client id in the token lets us fetch one row and compare in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_VERSION = "bl1"  # noqa: S105 - a format tag, not a secret
_TOKEN = re.compile(r"^bl1\.(cli_[a-z2-7]{26})\.([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class ClientToken:
    client_id: str
    secret: str

    def __str__(self) -> str:
        return f"{TOKEN_VERSION}.{self.client_id}.{self.secret}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_token(raw: str) -> ClientToken | None:
    match = _TOKEN.match(raw)
    if not match:
        return None
    return ClientToken(client_id=match.group(1), secret=match.group(2))


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)
