"""Blind indexes: exact-match lookups over encrypted values (email, external id).

    index = build_blind_index(settings)
    email_digest = index.digest("employee_email", email, tenant=employer_id,
                                normalize=casefold_strip)
    # store email_digest beside the ciphertext; look rows up by the same digest

`digest` is HMAC-SHA256 under a key of its own per field, derived with HKDF from the
keyring's blind-index root secret (never from a KEK), and cached. The tenant is part of
the message, so the same email at two employers gives unrelated digests.

Normalisation is the caller's choice, passed as `normalize`: writes and lookups of one
field must use the same function, or lookups silently miss. `exact` (the default)
changes nothing; `casefold_strip` is for emails and names typed by people; `strip` for
external ids whose case matters.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from hashlib import sha256

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

Normalizer = Callable[[str], str]
# Part of the derivation: changing it changes every digest, so every index must be rebuilt.
_INFO_LABEL = b"bridgeline-blind-index-v1\x00"


def exact(value: str) -> str:
    return value


def strip(value: str) -> str:
    return value.strip()


def casefold_strip(value: str) -> str:
    return value.strip().casefold()


def _part(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(4, "big") + data


class BlindIndex:
    def __init__(self, root_secret: bytes) -> None:
        if len(root_secret) < 32:
            raise ValueError("the blind-index root secret needs at least 32 bytes")
        self._root = root_secret
        self._field_macs: dict[str, hmac.HMAC] = {}

    def digest(self, field: str, value: str, *, tenant: str,
               normalize: Normalizer = exact) -> str:
        """64 hex characters identifying (field, tenant, normalised value)."""
        base = self._field_macs.get(field) or self._derive(field)
        mac = base.copy()
        mac.update(_part(tenant) + _part(normalize(value)))
        return mac.hexdigest()

    def _derive(self, field: str) -> hmac.HMAC:
        key = HKDF(algorithm=SHA256(), length=32, salt=None,
                   info=_INFO_LABEL + field.encode("utf-8")).derive(self._root)
        # A keyed HMAC object is copied per digest: the key schedule is done once.
        mac = hmac.new(key, digestmod=sha256)
        self._field_macs[field] = mac
        return mac
