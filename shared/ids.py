"""Opaque, prefixed identifiers (`ref_…`, `con_…`, `emp_…`).

128 bits of randomness in Crockford-free base32 (lower case, no padding): unguessable,
URL-safe, and safe to show to any party that may see the resource.
"""

from __future__ import annotations

import base64
import re
import secrets

_ID_BODY = re.compile(r"^[a-z2-7]{26}$")


def new_id(prefix: str) -> str:
    body = base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=").lower()
    return f"{prefix}_{body}"


def is_id(value: str, prefix: str) -> bool:
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and bool(_ID_BODY.match(body))
