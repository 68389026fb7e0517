"""Real crypto for tests (never for services): a fresh keyring, a migrated directory
database and a `FieldCipher` on them, in a temporary directory.

    kit = CryptoKit.create(tmp_path)                    # SQLite directory database
    kit = CryptoKit.create(tmp_path, database_url=pg_database_url)
    token = kit.cipher.encrypt("x", subject="sub_1", aad=Aad("emp_1", "t", "r_1", "f"))

Tests of other packages can use it instead of a fake when they want the real binding
and erasure behaviour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from shared.crypto.blind_index import BlindIndex
from shared.crypto.cipher import FieldCipher
from shared.crypto.key_store import KeyStore
from shared.crypto.keyring import Keyring
from shared.db import make_engine


class ManualClock:
    """A monotonic clock that moves only when told: pass the cache TTL without sleeping."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class CryptoKit:
    keyring: Keyring
    engine: Engine
    store: KeyStore
    cipher: FieldCipher
    blind_index: BlindIndex
    database_url: str
    _engines: list[Engine] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path, *, database_url: str | None = None,
               clock: ManualClock | None = None) -> CryptoKit:
        from shared.db.migrate import upgrade_directory

        database_url = database_url or f"sqlite:///{directory / 'directory.db'}"
        upgrade_directory(database_url)
        keyring = Keyring.generate(directory / "keys" / "keyring.json")
        engine = make_engine(database_url)
        store = KeyStore(engine, keyring)
        cipher = FieldCipher(store, clock=clock) if clock else FieldCipher(store)
        return cls(keyring, engine, store, cipher, BlindIndex(keyring.blind_index_root),
                   database_url)

    def another_process(self, clock: ManualClock | None = None) -> FieldCipher:
        """A second cipher on the same keyring file and database, with its own cache:
        what another service process would hold."""
        engine = make_engine(self.database_url)
        self._engines.append(engine)
        store = KeyStore(engine, Keyring.load(self.keyring.path))
        return FieldCipher(store, clock=clock) if clock else FieldCipher(store)

    def dispose(self) -> None:
        for engine in [self.engine, *self._engines]:
            engine.dispose()
