"""Standard Webhooks v1 symmetric signatures (HMAC-SHA256), for sending and receiving.

A secret is `whsec_` + base64 of 24 to 64 random bytes, one per endpoint. The signed
content is `{webhook-id}.{webhook-timestamp}.{body}` over the exact body bytes sent, and
the `webhook-signature` header is a space-separated list of `v1,<base64 MAC>`: during a
secret rotation it carries one signature per live secret, so a receiver that knows
either secret accepts the webhook.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_source
from collections.abc import Iterable, Sequence

SECRET_PREFIX = "whsec_"  # noqa: S105 (a format marker, not a secret)
SECRET_MIN_BYTES = 24
SECRET_MAX_BYTES = 64
SECRET_DEFAULT_BYTES = 32
SIGNATURE_VERSION = "v1"
MAC_BYTES = 32


def generate_secret(length: int = SECRET_DEFAULT_BYTES) -> str:
    """A new endpoint secret: `whsec_` + base64 of `length` random bytes."""
    if not SECRET_MIN_BYTES <= length <= SECRET_MAX_BYTES:
        raise ValueError(f"a secret has {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes")
    raw = random_source.token_bytes(length)
    return SECRET_PREFIX + base64.b64encode(raw).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside a `whsec_` secret. Raises ValueError (never quoting the
    secret) when it is not one: a misconfigured secret must not sign or verify."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a webhook secret is whsec_ followed by base64") from None
    if not SECRET_MIN_BYTES <= len(key) <= SECRET_MAX_BYTES:
        raise ValueError(f"a webhook secret holds {SECRET_MIN_BYTES} to {SECRET_MAX_BYTES} bytes")
    return key


def signed_content(webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{webhook_id}.{timestamp}.".encode() + body


def mac(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> bytes:
    return hmac.new(key, signed_content(webhook_id, timestamp, body), hashlib.sha256).digest()


def signature_header(webhook_id: str, timestamp: int, body: bytes,
                     secrets: Sequence[str]) -> str:
    """The `webhook-signature` value: one `v1,` signature per secret, current first."""
    if not secrets:
        raise ValueError("an endpoint needs at least one secret to sign with")
    return " ".join(
        f"{SIGNATURE_VERSION},"
        + base64.b64encode(mac(secret_key(s), webhook_id, timestamp, body)).decode("ascii")
        for s in secrets)


def signed_headers(webhook_id: str, timestamp: int, body: bytes,
                   secrets: Sequence[str]) -> dict[str, str]:
    """Every header a Standard Webhooks request carries (plus its content type)."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(webhook_id, timestamp, body, secrets),
        "content-type": "application/json",
    }


def any_signature_matches(candidates: Iterable[bytes], webhook_id: str, timestamp: int,
                          body: bytes, secrets: Sequence[str]) -> bool:
    """Whether one of the presented MACs is that of one of our secrets. Every pair is
    compared in constant time, and all pairs are compared, so the timing tells nothing
    about which secret or which position matched."""
    expected = [mac(secret_key(s), webhook_id, timestamp, body) for s in secrets]
    matched = False
    for candidate in candidates:
        for mine in expected:
            matched |= hmac.compare_digest(candidate, mine)
    return matched
