"""The signing keyring as a running service sees it: loaded from its file on first use and
again whenever the file changes, so `bridgeline signing-keys rotate` in another process
takes effect in every service process without a restart."""

from __future__ import annotations

import threading
from pathlib import Path

from attestation.adapters.signing import SigningKeyError, SigningKeys


class SigningKeyFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._keys: SigningKeys | None = None

    def current(self) -> SigningKeys:
        """The keyring as the file holds it now; SigningKeyError when there is none."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            raise SigningKeyError(
                f"no signing keyring at {self.path}; run `bridgeline signing-keys init`"
            ) from None
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._keys is None or stamp != self._stamp:
                self._keys, self._stamp = SigningKeys.load(self.path), stamp
            return self._keys


class FixedSigningKeys:
    """A keyring held in memory (tests)."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    def current(self) -> SigningKeys:
        return self.keys
