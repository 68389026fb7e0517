"""What can go wrong with protected values, as exceptions a caller can tell apart.

Messages name subjects, versions and files, never plaintext or key material.
"""

from __future__ import annotations


class CryptoError(Exception):
    """Base of every error raised by `shared.crypto`."""


class DecryptionError(CryptoError):
    """A ciphertext does not open: tampered, truncated, not a token, or presented with
    another row's, field's, tenant's or subject's AAD. Never "the value was erased":
    that is the `ERASED` marker, not an error."""


class SubjectErasedError(CryptoError):
    """New data cannot be encrypted for a subject whose key was shredded.

    Erasure is final for a subject id: a returning employee gets a new subject id."""


class KeyringError(CryptoError):
    """The keyring file is missing, malformed, too widely readable, or lacks a KEK version."""


class UnencodableText(CryptoError, ValueError):
    """The value is not valid Unicode (a lone surrogate): it cannot be encrypted. The
    exception never holds the value."""
