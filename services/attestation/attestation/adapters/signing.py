"""Ed25519 signing keys for attestations, kept in a JSON keyring file (mode 0600).

Algorithm `Ed25519` (RFC 9864, the fully specified name; joserfc 1.8 still knows `EdDSA`
but warns that it is deprecated). The newest key signs; older keys stay in the keyring,
and in the published JWKS, so that attestations issued before a rotation still verify.
Retiring a key removes it: what it signed no longer verifies. Key ids are RFC 7638
thumbprints.

Keyring document: {"version": 1, "current": kid, "keys": [{"kid", "created_at", "jwk"}]}.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from attestation.domain.claims import CLAIM_SCOPES
from shared.contract import REDISCLOSURE_NOTICE
from shared.crypto.errors import KeyringError
from shared.crypto.keyring_file import locked, read_document, write_new, write_replacing

ALGORITHM = "Ed25519"  # RFC 9864 name; joserfc warns that "EdDSA" is deprecated
DOCUMENT_VERSION = 1
RESERVED_CLAIMS = frozenset({"iss", "sub", "iat", "exp", "jti", "consent_id", "period",
                             "notice"})


class SigningKeyError(Exception):
    """The keyring is missing, unreadable, or an operation on it is not allowed."""


class InvalidAttestationSignature(Exception):
    """A token that is malformed, signed by an unknown key, or tampered with."""


class SigningKeys:
    def __init__(self, keys: Mapping[str, tuple[OKPKey, str]], current_kid: str,
                 path: Path | None = None) -> None:
        self._keys = dict(keys)  # kid -> (private key, created_at), oldest first
        self._current = current_kid
        self._path = path

    @classmethod
    def generate(cls, path: Path | None = None) -> SigningKeys:
        """A keyring with one fresh key, written to `path` (never over an existing file);
        without a path it lives in memory only (tests)."""
        key = _new_key()
        keys = cls({_kid(key): (key, _now())}, _kid(key), path)
        if path is not None:
            _wrap(write_new, path, keys._document())
        return keys

    @classmethod
    def load(cls, path: Path) -> SigningKeys:
        if not path.exists():
            raise SigningKeyError(f"no signing keyring at {path}")
        document = _wrap(read_document, path)
        try:
            keys = {entry["kid"]: (OKPKey.import_key(entry["jwk"]), entry["created_at"])
                    for entry in document["keys"]}
            current = document["current"]
        except (KeyError, TypeError, ValueError, JoseError) as exc:
            raise SigningKeyError(f"{path} is not a signing keyring") from exc
        if current not in keys:
            raise SigningKeyError(f"{path}: the current key {current} is missing")
        return cls(keys, current, path)

    @property
    def current_kid(self) -> str:
        return self._current

    @property
    def kids(self) -> list[str]:
        return list(self._keys)

    def rotate(self) -> str:
        """A new key becomes current; the old ones keep verifying. Returns the new kid."""
        def change() -> None:
            key = _new_key()
            self._keys[_kid(key)] = (key, _now())
            self._current = _kid(key)
        self._update(change)
        return self._current

    def retire(self, kid: str) -> None:
        """Remove a key: tokens it signed stop verifying. The current key cannot retire."""
        def change() -> None:
            if kid == self._current:
                raise SigningKeyError("rotate before retiring the current key")
            if kid not in self._keys:
                raise SigningKeyError(f"no key {kid}")
            del self._keys[kid]
        self._update(change)

    def sign(self, payload: Mapping[str, Any]) -> str:
        key, _ = self._keys[self._current]
        header = {"alg": ALGORITHM, "kid": self._current, "typ": "JWT"}
        body = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return jws.serialize_compact(header, body, key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> dict[str, Any]:
        """The payload of a token signed by a key of this keyring. Checks the signature
        only; expiry is the caller's (the attestation's `expires_at`)."""
        try:
            header = jws.extract_compact(token.encode("ascii")).headers()
            entry = self._keys.get(str(header.get("kid")))
            if entry is None or header.get("alg") != ALGORITHM:
                raise InvalidAttestationSignature("unknown key or algorithm")
            public = OKPKey.import_key(entry[0].as_dict(private=False))
            signed = jws.deserialize_compact(token, public, algorithms=[ALGORITHM])
            payload = json.loads(signed.payload)
        except (JoseError, ValueError, UnicodeError) as exc:
            raise InvalidAttestationSignature("the token does not verify") from exc
        if not isinstance(payload, dict):
            raise InvalidAttestationSignature("the payload is not an object")
        return payload

    def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The public keys, current first: what `/.well-known/jwks.json` serves."""
        order = [self._current] + [kid for kid in self._keys if kid != self._current]
        return {"keys": [{**self._keys[kid][0].as_dict(private=False), "kid": kid,
                          "use": "sig", "alg": ALGORITHM} for kid in order]}

    def _update(self, change: Callable[[], None]) -> None:
        if self._path is None:
            change()
            return
        with locked(self._path):
            fresh = SigningKeys.load(self._path)  # another process may have rotated
            self._keys, self._current = fresh._keys, fresh._current
            change()
            _wrap(write_replacing, self._path, self._document())

    def _document(self) -> dict[str, Any]:
        return {"version": DOCUMENT_VERSION, "current": self._current,
                "keys": [{"kid": kid, "created_at": created, "jwk": key.as_dict(private=True)}
                         for kid, (key, created) in self._keys.items()]}


def attestation_payload(*, iss: str, attestation_id: str, referral_id: str, consent_id: str,
                        claims: Mapping[str, Any], period_start: date, period_end: date,
                        issued_at: datetime, expires_at: datetime) -> dict[str, Any]:
    """What an attestation JWS signs: the claims (closed vocabulary only) beside `iss`,
    `sub` (the referral id), `jti` (the attestation id), `iat`, `exp` (Unix seconds),
    `consent_id`, `period` and the redisclosure `notice`."""
    unknown = set(claims) - set(CLAIM_SCOPES)
    if unknown:
        raise ValueError(f"not attestation claims: {', '.join(sorted(unknown))}")
    return {**claims, "iss": iss, "sub": referral_id, "jti": attestation_id,
            "iat": _seconds(issued_at), "exp": _seconds(expires_at), "consent_id": consent_id,
            "period": {"start": period_start.isoformat(), "end": period_end.isoformat()},
            "notice": REDISCLOSURE_NOTICE}


def _new_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519", private=True, auto_kid=True)


def _kid(key: OKPKey) -> str:
    if key.kid is None:  # auto_kid sets the RFC 7638 thumbprint
        raise SigningKeyError("a generated key has no kid")
    return key.kid


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError("times in an attestation must be timezone-aware")
    return int(moment.timestamp())


def _wrap(operation: Any, path: Path, *args: Any) -> Any:
    try:
        return operation(path, *args)
    except KeyringError as exc:
        raise SigningKeyError(str(exc)) from exc
