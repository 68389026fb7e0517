"""Opaque, prefixed identifiers (`ref_…`, `con_…`, `emp_…`).

128 bits of randomness in Crockford-free base32 (lower case, no padding): unguessable,
URL-safe, and safe to show to any party that may see the resource.
"""

from __future__ import annotations

import os
import re

_ID_BODY = re.compile(r"^[a-z2-7]{26}$")
# Base32 (RFC 4648's alphabet, lower case) two digits at a time: 128 random bits and two
# zero bits are 13 groups of 10 bits, read from the top. The same text as
# `base64.b32encode(...).rstrip("=").lower()`, a third of its CPU.
_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = range(120, -10, -10)


def new_id(prefix: str) -> str:
    return f"{prefix}_{id_body(os.urandom(16))}"


def id_body(raw: bytes) -> str:
    """The 26 characters of an id made of these 16 random bytes."""
    bits = int.from_bytes(raw, "big") << 2
    return "".join([_PAIRS[(bits >> shift) & 0x3FF] for shift in _SHIFTS])


def is_id(value: str, prefix: str) -> bool:
    head, sep, body = value.partition("_")
    return sep == "_" and head == prefix and bool(_ID_BODY.match(body))
