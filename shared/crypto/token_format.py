"""The stored form of an encrypted value: `enc:` + lowercase hex of

    ver (1 byte) || kid (8 bytes) || nonce (12 bytes) || ciphertext || GCM tag (16 bytes)

`ver` names this layout and the algorithm (1 = AES-256-GCM); `kid` names the subject's
data key, so a value presented with another subject's key is refused before any
decryption is attempted. The header (ver || kid) is authenticated too: it starts the
AAD. The text prefix lets a reader (and a migration) recognise a ciphertext.

Why hex and not base64: on CPython 3.11 `binascii.a2b_base64` decodes about four
times slower than `bytes.fromhex`, and the text encoding is most of the cost of a
field beyond a few dozen bytes (bench/crypto_bench.py: 256-byte field 2.7x bare
AES-GCM with hex, 3.7x with base64; 4 KiB 4.7x against 12x). Hex costs 2x the bytes
instead of 1.33x, which fields of this size can afford.
"""

from __future__ import annotations

from shared.crypto.errors import DecryptionError

TOKEN_PREFIX = "enc:"  # noqa: S105 - a format marker, not a secret
FORMAT_VERSION = 1
KID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
HEADER_BYTES = 1 + KID_BYTES
_MIN_RAW = HEADER_BYTES + NONCE_BYTES + TAG_BYTES
_PREFIX_LEN = len(TOKEN_PREFIX)


def header_for(kid: bytes) -> bytes:
    if len(kid) != KID_BYTES:
        raise ValueError(f"a key id has {KID_BYTES} bytes")
    return bytes([FORMAT_VERSION]) + kid


def encode_token(raw: bytes) -> str:
    """The token of `header || nonce || ciphertext || tag`."""
    return TOKEN_PREFIX + raw.hex()


def parse_token(token: str) -> tuple[bytes, bytes, bytes]:
    """(header, nonce, ciphertext||tag) of a token; DecryptionError if it is not one."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        raise DecryptionError("not an encrypted value")
    body = token[_PREFIX_LEN:]
    try:
        raw = bytes.fromhex(body)
    except ValueError as exc:
        raise DecryptionError("malformed encrypted value") from exc
    # fromhex forgives upper case and spaces; insisting on the canonical text makes
    # every edit of a token fail, not only most of them.
    if len(raw) < _MIN_RAW or raw[0] != FORMAT_VERSION or raw.hex() != body:
        raise DecryptionError("unsupported, truncated or malformed encrypted value")
    return raw[:HEADER_BYTES], raw[HEADER_BYTES:HEADER_BYTES + NONCE_BYTES], \
        raw[HEADER_BYTES + NONCE_BYTES:]


def kid_of(header: bytes) -> bytes:
    return header[1:]


def is_token(value: object) -> bool:
    """Whether `value` looks like a ciphertext (a cheap check, not a verification)."""
    return isinstance(value, str) and value.startswith(TOKEN_PREFIX)
