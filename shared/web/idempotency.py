"""`Idempotency-Key` for endpoints that create.

Same client + same key + same request  → the first response, replayed (with
`Idempotent-Replayed: true`); same key + a different request → 422; a request still
running under the key → 409. Keys are kept 24 hours, scoped to the client, and only
2xx responses are remembered (a failed request may simply be retried).

Stored responses can hold link URLs and other secrets, so they are encrypted (system
subject, AAD bound to the client and the key's hash); the key itself is stored hashed.
A reservation whose request died mid-way is taken over after `LEASE`, trading a rare
duplicate after a crash for never wedging a key for a day. Every service's `bridgeline
worker` deletes the keys whose 24 hours are over, with their stored responses, every
`PRUNE_INTERVAL_SECONDS` (`shared.worker.platform_tasks`).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from flask import Response, current_app, make_response, request
from flask_smorest.utils import deepupdate
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shared.crypto import SYSTEM_SUBJECT, Aad, Erased
from shared.db import UtcDateTime, mechanism_metadata
from shared.db.direct import DirectStatement, bound_values
from shared.db.kept import kept_connections
from shared.web.auth import current_principal
from shared.web.problems import Problem

F = TypeVar("F", bound=Callable[..., Any])
RETENTION = timedelta(hours=24)
# Expired keys deleted per statement, and how often the worker looks for them.
PRUNE_BATCH = 1000
PRUNE_INTERVAL_SECONDS = 600.0
LEASE = timedelta(seconds=60)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")

idempotency_keys = Table(
    "idempotency_keys",
    mechanism_metadata,
    Column("client_id", String(40), primary_key=True),
    Column("key_hash", String(64), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("response_ciphertext", Text, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False, index=True),
)


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


_RESERVED = ("client_id", "key_hash", "request_hash", "created_at", "expires_at")


class IdempotencyStore:
    def __init__(self, engine: Engine, cipher: Any) -> None:
        self.engine = engine
        self.cipher = cipher
        # The usual case (a new key) and the bookkeeping after the request are each one
        # atomic statement: on PostgreSQL one round trip, no BEGIN/COMMIT around it.
        # Both are built once, their values passed as parameters, and run on connections
        # kept between requests (`shared.db.kept`), straight on the driver
        # (`shared.db.direct`: a fifth of the request's CPU had gone to running them).
        self.single = kept_connections(engine)
        t = idempotency_keys
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        new_row = insert(t).values(bound_values(t, _RESERVED))
        # A new key, or one whose 24 hours are over (then it is as good as new).
        self._reservation = DirectStatement(new_row.on_conflict_do_update(
            index_elements=[t.c.client_id, t.c.key_hash],
            set_={"request_hash": new_row.excluded.request_hash, "status_code": None,
                  "response_ciphertext": None, "created_at": new_row.excluded.created_at,
                  "expires_at": new_row.excluded.expires_at},
            where=t.c.expires_at <= bindparam("now", type_=t.c.expires_at.type))
            .returning(t.c.key_hash))
        self._completion = DirectStatement(
            update(t).where(t.c.client_id == bindparam("this_client", type_=t.c.client_id.type),
                            t.c.key_hash == bindparam("this_key", type_=t.c.key_hash.type))
            .values(bound_values(t, ("status_code", "response_ciphertext"), prefix="new_")))

    @contextmanager
    def _one_statement(self) -> Iterator[Connection]:
        with self.single.connect() as conn, conn.begin():  # SQLite: a transaction
            yield conn

    def reserve(self, client_id: str, key_hash: str, request_hash: str,
                now: datetime) -> tuple[str, Any]:
        """("new", None) | ("replay", (status, body)) | ("mismatch", None) | ("busy", None)"""
        t = idempotency_keys
        values = {"client_id": client_id, "key_hash": key_hash, "request_hash": request_hash,
                  "created_at": now, "expires_at": now + RETENTION, "now": now}
        for _attempt in range(2):
            with self._one_statement() as conn:
                if self._reservation.first(conn, values) is not None:
                    return "new", None
            with self.engine.begin() as conn:
                row = conn.execute(select(t).where(t.c.client_id == client_id,
                                                   t.c.key_hash == key_hash)).first()
                if row is None:  # released in between: the key is free again
                    continue
                if row.request_hash != request_hash:
                    return "mismatch", None
                if row.status_code is not None:
                    return "replay", (row.status_code, self._open(client_id, key_hash,
                                                                  row.response_ciphertext))
                taken = conn.execute(update(t).where(
                    t.c.client_id == client_id, t.c.key_hash == key_hash,
                    t.c.status_code.is_(None), t.c.created_at < now - LEASE).values(
                        created_at=now))
                return ("new", None) if taken.rowcount == 1 else ("busy", None)
        return "busy", None

    def complete(self, client_id: str, key_hash: str, status: int, body: str) -> None:
        sealed = self._seal(client_id, key_hash, body)
        with self._one_statement() as conn:
            self._completion.execute(conn, {"this_client": client_id, "this_key": key_hash,
                                            "new_status_code": status,
                                            "new_response_ciphertext": sealed})

    def release(self, client_id: str, key_hash: str) -> None:
        t = idempotency_keys
        with self._one_statement() as conn:
            conn.execute(delete(t).where(t.c.client_id == client_id, t.c.key_hash == key_hash,
                                         t.c.status_code.is_(None)))

    def prune(self, now: datetime, limit: int = PRUNE_BATCH) -> int:
        """Delete up to `limit` keys whose 24 hours are over, with their stored responses
        (which can hold a referral's link); how many. Batched, so no sweep holds locks
        long: `bridgeline worker` calls it until it returns 0 (`shared.worker.platform_tasks`)."""
        t = idempotency_keys
        expired = (select(t.c.client_id, t.c.key_hash).where(t.c.expires_at <= now)
                   .limit(limit))
        with self.engine.begin() as conn:
            return conn.execute(delete(t).where(
                tuple_(t.c.client_id, t.c.key_hash).in_(expired))).rowcount

    def _seal(self, client_id: str, key_hash: str, body: str) -> str:
        aad = Aad(client_id, "idempotency_keys", key_hash, "response")
        return self.cipher.encrypt(body, subject=SYSTEM_SUBJECT, aad=aad)

    def _open(self, client_id: str, key_hash: str, token: str) -> str:
        aad = Aad(client_id, "idempotency_keys", key_hash, "response")
        body = self.cipher.decrypt(token, subject=SYSTEM_SUBJECT, aad=aad)
        if isinstance(body, Erased):  # the system key is never erased; fail loudly if it is
            raise RuntimeError("idempotency response key is erased")
        return str(body)


def idempotent(view: F) -> F:
    """Honour `Idempotency-Key` on a create endpoint. Place it below `@requires_roles`."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not KEY_PATTERN.match(key):
            raise Problem(400, "Invalid Idempotency Key",
                          detail="Idempotency-Key must be 1 to 255 visible ASCII characters.")
        store = _store()
        client_id = current_principal().client_id
        key_hash = _sha256(key.encode())
        fingerprint = _sha256(request.method.encode(), request.path.encode(), request.get_data())
        outcome, stored = store.reserve(client_id, key_hash, fingerprint, datetime.now(UTC))
        if outcome == "replay":
            return _replayed(*stored)
        if outcome == "mismatch":
            raise Problem(422, "Idempotency Key Reused", detail=(
                "This Idempotency-Key was used for a different request; use a new key."))
        if outcome == "busy":
            raise Problem(409, "Request In Progress", headers={"Retry-After": "1"}, detail=(
                "A request with this Idempotency-Key is still being processed."))
        return _run_and_remember(store, client_id, key_hash, view, args, kwargs)

    wrapper._apidoc = deepupdate(  # type: ignore[attr-defined]
        deepcopy(getattr(view, "_apidoc", {})),
        {"manual_doc": {"parameters": [{
            "name": "Idempotency-Key", "in": "header", "required": False,
            "description": "Replays the first response for 24 h when the request is resent.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 255,
                       "pattern": "^[!-~]+$"}}],
            "responses": {"400": "BAD_REQUEST", "409": "CONFLICT",
                          "422": "UNPROCESSABLE_ENTITY"}}})
    return wrapper  # type: ignore[return-value]


def _store() -> IdempotencyStore:
    """The app's store, made on first use."""
    store = current_app.extensions.get(_STORE_KEY)
    if store is None:
        runtime = current_app.extensions["bridgeline"]
        store = current_app.extensions[_STORE_KEY] = IdempotencyStore(runtime.engine,
                                                                      runtime.cipher)
    return store


_STORE_KEY = "bridgeline.idempotency"


def _run_and_remember(store: IdempotencyStore, client_id: str, key_hash: str,
                      view: Callable[..., Any], args: Any, kwargs: Any) -> Response:
    try:
        response = make_response(view(*args, **kwargs))
    except BaseException:
        store.release(client_id, key_hash)
        raise
    if 200 <= response.status_code < 300:
        store.complete(client_id, key_hash, response.status_code, response.get_data(as_text=True))
    else:
        store.release(client_id, key_hash)
    return response


def _replayed(status: int, body: str) -> Response:
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Idempotent-Replayed"] = "true"
    return response

