"""Key-encryption keys (KEKs): the `KekProvider` interface and the file keyring.

A KEK never encrypts a field. It wraps the per-subject data keys that do, so rotating
it means re-wrapping a few hundred bytes per subject, never re-encrypting data.

`KekProvider` is what `KeyStore` needs; the file `Keyring` implements it for dev and
small installs. A KMS or Vault Transit adapter implements the same three members:
`current_version` (the version new keys are wrapped with), `wrap` and `unwrap` (with
the version a blob was wrapped under). `context` is authenticated, not secret: it maps
onto a KMS encryption context or a Vault Transit derivation context.

The keyring file (JSON, mode 0600, refused when readable by group or others) holds
the KEK versions and, separately, the blind-index root secret:

    {"format": "bridgeline-keyring/1", "current_kek_version": 2,
     "keks": {"1": {"key": "<base64>", "created_at": "..."}, "2": {...}},
     "blind_index_root": "<base64>"}
"""

from __future__ import annotations

import base64
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.crypto.errors import KeyringError
from shared.crypto.keyring_file import locked, read_document, write_new, write_replacing

FORMAT = "bridgeline-keyring/1"
_WRAP_LABEL = b"bridgeline-kek-wrap-v1\x00"
_NONCE_BYTES = 12


class WrappedKey(NamedTuple):
    kek_version: int
    blob: bytes


class KekProvider(Protocol):
    @property
    def current_version(self) -> int: ...

    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey: ...

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _new_kek_entry() -> dict[str, str]:
    return {"key": _b64(AESGCM.generate_key(256)),
            "created_at": datetime.now(UTC).isoformat(timespec="seconds")}


class Keyring:
    """The file keyring. Build it with `generate` (a new file) or `load` (an existing one)."""

    def __init__(self, path: Path, document: dict[str, Any]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._adopt(document)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def generate(cls, path: str | Path) -> Keyring:
        """Create a keyring file with KEK version 1; refuses to overwrite an existing file."""
        path = Path(path)
        document = {"format": FORMAT, "current_kek_version": 1, "keks": {"1": _new_kek_entry()},
                    "blind_index_root": _b64(os.urandom(32))}
        write_new(path, document)
        return cls(path, document)

    @classmethod
    def load(cls, path: str | Path) -> Keyring:
        path = Path(path)
        return cls(path, read_document(path))

    def _adopt(self, document: dict[str, Any]) -> None:
        if document.get("format") != FORMAT:
            raise KeyringError(f"{self.path} is not a {FORMAT} file")
        try:
            keks = {int(v): base64.b64decode(e["key"], validate=True)
                    for v, e in document["keks"].items()}
            current = int(document["current_kek_version"])
            root = base64.b64decode(document["blind_index_root"], validate=True)
        except (KeyError, TypeError, ValueError) as exc:
            raise KeyringError(f"{self.path} is malformed") from exc
        if current not in keks or any(len(k) != 32 for k in keks.values()) or len(root) < 32:
            raise KeyringError(f"{self.path} is malformed")
        self._document = document
        self._keks = {version: AESGCM(key) for version, key in keks.items()}
        self._current = current
        self._blind_index_root = root

    # -- what the rest of the package reads -------------------------------------------
    @property
    def current_version(self) -> int:
        return self._current

    @property
    def versions(self) -> list[int]:
        return sorted(self._keks)

    @property
    def blind_index_root(self) -> bytes:
        return self._blind_index_root

    def created_at(self, version: int) -> str:
        return str(self._document["keks"][str(version)].get("created_at", ""))

    # -- KekProvider --------------------------------------------------------------------
    def wrap(self, key: bytes, *, context: bytes) -> WrappedKey:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._keks[self._current].encrypt(nonce, key, _WRAP_LABEL + context)
        return WrappedKey(self._current, nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, *, context: bytes) -> bytes:
        kek = self._keks.get(wrapped.kek_version) or self._reloaded_kek(wrapped.kek_version)
        nonce, sealed = wrapped.blob[:_NONCE_BYTES], wrapped.blob[_NONCE_BYTES:]
        try:
            return kek.decrypt(nonce, sealed, _WRAP_LABEL + context)
        except InvalidTag as exc:
            raise KeyringError(
                f"a data key wrapped under KEK version {wrapped.kek_version} does not unwrap "
                "(tampered, or stored under another subject)") from exc

    def _reloaded_kek(self, version: int) -> AESGCM:
        # A version we do not know was most likely added by `keys rotate` in another
        # process since we loaded the file: read it again once before giving up.
        with self._lock:
            if version not in self._keks:
                self._adopt(read_document(self.path))
        if version not in self._keks:
            raise KeyringError(f"KEK version {version} is not in {self.path}")
        return self._keks[version]

    # -- administration (the `bridgeline keys` commands) --------------------------------
    def rotate(self) -> int:
        """Add a KEK version and make it current; returns it. Old versions still unwrap."""
        with locked(self.path), self._lock:
            document = read_document(self.path)
            version = max(int(v) for v in document["keks"]) + 1
            document["keks"][str(version)] = _new_kek_entry()
            document["current_kek_version"] = version
            write_replacing(self.path, document)
            self._adopt(document)
        return version

    def retire(self, version: int) -> None:
        """Remove an old KEK version from the file. The caller checks first that no
        stored key is wrapped under it (`bridgeline keys retire` does)."""
        with locked(self.path), self._lock:
            document = read_document(self.path)
            if int(document["current_kek_version"]) == version:
                raise KeyringError("the current KEK version cannot be retired")
            if document["keks"].pop(str(version), None) is None:
                raise KeyringError(f"KEK version {version} is not in {self.path}")
            write_replacing(self.path, document)
            self._adopt(document)


def describe(keyring: Keyring) -> list[dict[str, Any]]:
    """Versions for display: number, creation time, whether current. No key material."""
    return [{"version": v, "created_at": keyring.created_at(v),
             "current": v == keyring.current_version} for v in keyring.versions]

