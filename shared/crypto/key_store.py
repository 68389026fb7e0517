"""`KeyStore`: one data key per subject, wrapped by a KEK, in the directory database.

Plaintext data keys exist only in memory (Python cannot zero `bytes`; they live as long
as the cipher's cache holds them, and those stored ahead for new subjects until handed
out). Every write here stores wrapped keys or tombstones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Connection, Engine, bindparam, func, select, update

from shared.crypto.errors import SubjectErasedError
from shared.crypto.keyring import KekProvider, WrappedKey
from shared.crypto.tables import subject_keys as sk
from shared.crypto.token_format import KID_BYTES
from shared.db.direct import DirectStatement, bound_values
from shared.db.kept import kept_connections

log = logging.getLogger(__name__)
_NEW_KEY_COLUMNS = ("subject", "kid", "kek_version", "wrapped_key", "created_at")
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class DataKey:
    kid: bytes
    key: bytes = field(repr=False)


class ErasedKey:
    """The state of a subject whose key was shredded."""

    def __repr__(self) -> str:
        return "ERASED_KEY"


ERASED_KEY: Final = ErasedKey()
KeyState = DataKey | ErasedKey | None


@dataclass(frozen=True)
class KeyCounts:
    by_kek_version: dict[int, int]
    erased: int


_FETCH = (select(sk.c.kid, sk.c.kek_version, sk.c.wrapped_key)
          .where(sk.c.subject == bindparam("subject")))


def wrap_context(subject: str, kid: bytes) -> bytes:
    # Binds a wrapped key to its row: a wrapped key copied to another subject's row
    # does not unwrap there.
    data = subject.encode("utf-8")
    return len(data).to_bytes(4, "big") + data + kid


class KeyStore:
    def __init__(self, engine: Engine, kek: KekProvider, clock: Clock = utcnow) -> None:
        if engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"unsupported database for the key store: {engine.dialect.name}")
        self.engine = engine
        self.kek = kek
        self.clock = clock
        self._single_statements = kept_connections(engine)
        # New keys' INSERTs by row count, run on the driver (`shared.db.direct`).
        self._insert_many_statements: dict[int, DirectStatement] = {}

    def fetch(self, subject: str) -> KeyState:
        """The subject's data key, `ERASED_KEY`, or None when it never had one."""
        with self._single_statements.connect() as conn:
            row = conn.execute(_FETCH, {"subject": subject}).first()
        if row is None:
            return None
        if row.wrapped_key is None:
            return ERASED_KEY
        kid = bytes.fromhex(row.kid)
        wrapped = WrappedKey(row.kek_version, bytes(row.wrapped_key))
        return DataKey(kid, self.kek.unwrap(wrapped, context=wrap_context(subject, kid)))

    def fetch_or_create(self, subject: str) -> DataKey:
        """The subject's data key, created on first use. Safe when several processes
        race: each inserts if absent, and all read back the one row that won."""
        state = self.fetch(subject)
        if state is None:
            state = self.create_many([subject]).get(subject) or self.fetch(subject)
        if not isinstance(state, DataKey):
            raise SubjectErasedError(f"subject {subject!r} was erased; no new data for it")
        return state

    def create_many(self, subjects: Sequence[str]) -> dict[str, DataKey]:
        """Data keys for subjects just minted (fresh random ids), in one statement and
        without looking for keys first: what `FieldCipher.new_subject` hands out. A
        subject that has a key or a tombstone after all is left out of the answer (as is
        a repeated one after its first time)."""
        now = self.clock()
        minted: dict[str, DataKey] = {}
        rows: list[dict[str, Any]] = []
        for subject in dict.fromkeys(subjects):
            kid, key = os.urandom(KID_BYTES), AESGCM.generate_key(256)
            wrapped = self.kek.wrap(key, context=wrap_context(subject, kid))
            minted[subject] = DataKey(kid, key)
            rows.append({"subject": subject, "kid": kid.hex(), "kek_version": wrapped.kek_version,
                         "wrapped_key": wrapped.blob, "created_at": now})
        if not rows:
            return {}
        params = {f"k{i}_{name}": value for i, row in enumerate(rows)
                  for name, value in row.items()}
        with self._single_statements.connect() as conn:  # autocommit where it can
            inserted = self._insert_many(len(rows)).all(conn, params)
            conn.commit()  # SQLite has transactions; in autocommit there is nothing to commit
        return {row["subject"]: minted[row["subject"]] for row in inserted}

    def _insert_many(self, count: int) -> DirectStatement:
        """The INSERT of `count` new keys (each row's binds prefixed `k<i>_`), made once
        per count: building and compiling it anew cost more than running it."""
        statement = self._insert_many_statements.get(count)
        if statement is None:
            statement = self._insert_many_statements[count] = DirectStatement(
                self._insert().values([bound_values(sk, _NEW_KEY_COLUMNS, prefix=f"k{i}_")
                                       for i in range(count)])
                .on_conflict_do_nothing(index_elements=["subject"]).returning(sk.c.subject))
        return statement

    def erase(self, subject: str) -> None:
        """Shred the subject's key: its values can never be decrypted again, anywhere.
        Leaves a tombstone (no key material) so reads say "erased"."""
        now = self.clock()
        statement = self._insert().values(
            subject=subject, kid=os.urandom(KID_BYTES).hex(), kek_version=None,
            wrapped_key=None, created_at=now, erased_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=["subject"],
            set_={"kek_version": None, "wrapped_key": None, "erased_at": now},
            where=sk.c.erased_at.is_(None),
        )
        with self.engine.begin() as conn:
            conn.execute(statement)
        log.info("subject key erased", extra={"fields": {"subject": subject}})

    def rewrap_all(self, *, batch_size: int = 200) -> int:
        """Re-wrap every stored key under the current KEK version; returns how many.
        Keys are unwrapped and re-wrapped in memory only; rows are locked (skipped when
        another rewrap holds them) so concurrent runs do not fight."""
        total = 0
        while True:
            with self.engine.begin() as conn:
                done = self._rewrap_batch(conn, batch_size)
            if done == 0:
                return total
            total += done

    def _rewrap_batch(self, conn: Connection, batch_size: int) -> int:
        current = self.kek.current_version
        rows = conn.execute(
            select(sk.c.subject, sk.c.kid, sk.c.kek_version, sk.c.wrapped_key)
            .where(sk.c.kek_version.is_not(None), sk.c.kek_version != current)
            .order_by(sk.c.subject).limit(batch_size).with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            context = wrap_context(row.subject, bytes.fromhex(row.kid))
            key = self.kek.unwrap(WrappedKey(row.kek_version, bytes(row.wrapped_key)),
                                  context=context)
            rewrapped = self.kek.wrap(key, context=context)
            conn.execute(update(sk)
                         .where(sk.c.subject == row.subject,
                                sk.c.kek_version == row.kek_version)
                         .values(kek_version=rewrapped.kek_version,
                                 wrapped_key=rewrapped.blob, rewrapped_at=self.clock()))
        return len(rows)

    def describe(self, subject: str) -> dict[str, Any] | None:
        """Key metadata of one subject (KEK version, created, erased); no key material."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sk.c.kek_version, sk.c.created_at, sk.c.rewrapped_at,
                                      sk.c.erased_at).where(sk.c.subject == subject)).first()
        return None if row is None else dict(row._mapping)

    def counts(self) -> KeyCounts:
        """Stored keys per KEK version, and erased subjects. No key material."""
        with self.engine.connect() as conn:
            live = conn.execute(select(sk.c.kek_version, func.count())
                                .where(sk.c.kek_version.is_not(None))
                                .group_by(sk.c.kek_version)).all()
            erased = conn.execute(select(func.count())
                                  .where(sk.c.erased_at.is_not(None))).scalar_one()
        return KeyCounts({int(v): int(n) for v, n in live}, int(erased))

    def _insert(self) -> Any:
        # Both backends we run on spell "insert unless present" the same way, but
        # through their own dialect's construct.
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(sk)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(sk)
