"""Build the cipher and the blind index a process uses, from its `Settings`.

Both read the keyring file at `settings.keyring_path` (env `BRIDGELINE_KEYRING`,
default `<var dir>/keys/keyring.json`); the cipher also keeps subject keys in the
directory database (`settings.directory_database_url`, env `DIRECTORY_DATABASE_URL`
or derived from `DATABASE_URL`, see `shared.config.database_url`). Called from a
composition root, never at import time.
"""

from __future__ import annotations

from sqlalchemy import Engine

from shared.config import Settings
from shared.crypto.blind_index import BlindIndex
from shared.crypto.cipher import FieldCipher
from shared.crypto.key_store import KeyStore
from shared.crypto.keyring import Keyring
from shared.db import make_engine


def build_key_store(settings: Settings, *, engine: Engine | None = None,
                    keyring: Keyring | None = None) -> KeyStore:
    keyring = keyring or Keyring.load(settings.keyring_path)
    return KeyStore(engine or make_engine(settings.directory_database_url), keyring)


def build_field_cipher(settings: Settings, *, engine: Engine | None = None,
                       keyring: Keyring | None = None) -> FieldCipher:
    """The process's `FieldCipher`. Pass `engine` to share a directory engine the
    process already has, `keyring` to share one already loaded."""
    return FieldCipher(build_key_store(settings, engine=engine, keyring=keyring))


def build_blind_index(settings: Settings, *, keyring: Keyring | None = None) -> BlindIndex:
    keyring = keyring or Keyring.load(settings.keyring_path)
    return BlindIndex(keyring.blind_index_root)
