"""Statements run straight on the driver, for the few hot request paths.

`Connection.execute` spends 40-50 µs of CPU per statement on top of what psycopg needs
(the execution context, result metadata built from `cursor.description`, ...). On the
HR read that was a third of the request's CPU. A `DirectStatement` is a Core statement
compiled once per dialect and run on the caller's own SQLAlchemy connection's driver
connection, so it takes part in that connection's transaction as any statement would.
(In autocommit it opens no SQLAlchemy transaction, where `Connection.execute` would
open an empty one: `conn.in_transaction()` stays False; nothing else differs.) It keeps
what the shortcut must not lose:
- every bind and result value goes through its type's own processors (the public
  `bind_processor` / `result_processor`, so `UtcDateTime` still refuses naive values
  and reads back aware UTC);
- driver errors come out as SQLAlchemy's (`IntegrityError`, `OperationalError`, ...),
  and a connection the driver saw die is invalidated, exactly as `Connection.execute`
  does, so `shared.db.outage` still answers 503 and the pool heals;
- every bind parameter without a value in the statement must be given: a missing one
  is an error, never a silent NULL.

On PostgreSQL in autocommit (`single_statements`, where the hot request paths run) a
statement runs as a statement prepared on the connection, by libpq's one blocking call
for it (`PQexecPrepared`, psycopg's `pgconn.exec_prepared`): the GIL is given up once
for the whole round trip, where a cursor's `execute` gives it up at each of its send,
wait and read steps, and under gthread each of those hands the GIL to another of the
worker's threads and back. The bench's floor row (one read by primary key) went from
31 to 22-24 context switches a request, and from 0.65 to 0.58-0.62 ms of CPU. Prepared
by name, once per connection and parameter types (the first use costs one more round
trip, the PREPARE), because planning HR's read (a join) costs the server about 0.1 ms a
time, as much as the rest of its round trip. At most `_MOST` statements are kept
prepared on a connection; past that the least recently prepared is deallocated.
Parameters are adapted and rows loaded by psycopg's own adapters (a `Transformer` of
the connection), exactly as its cursor would. A statement dropped from the connection
behind our back (psycopg sends `DEALLOCATE ALL` after it sees a `ROLLBACK`, `DROP`,
`ALTER` or `DISCARD ALL` while it has prepared statements of its own), or whose plan
went stale (a column it returns changed type: "cached plan must not change result
type"), fails without running; in autocommit nothing was begun, so it is prepared
again and run, once. Inside a transaction that failure would abort the transaction, so
there statements keep to the cursor (psycopg begins the transaction with the
connection's isolation level and prepares what it runs often). So they do on an
autocommit connection inside a transaction begun by hand (`BEGIN` sent as SQL), on a
connection whose client encoding is not UTF-8, and on one made with
`prepare_threshold=None`, psycopg's switch for servers reached through a pooler that
keeps no prepared statements (PgBouncer in transaction mode before 1.21, or without
`max_prepared_statements`). Names carry the process id (`bl_direct_<pid>_<n>`), so two
processes behind one pooler never collide.

Only PostgreSQL through psycopg takes the shortcut. Elsewhere (SQLite, the embedded
development default) the statement simply runs through `Connection.execute`: the same
results, without a second code path to keep up.

    HR_ONE = DirectStatement(select(...).where(t.c.id == bindparam("id")))
    row = HR_ONE.first(conn, {"id": "ref_1"})      # a dict by column key, or None
    rows = HR_ONE.all(conn, {"id": "ref_1"})       # a list of them
    ADD = DirectStatement(insert(t).values(bound_values(t, ("id", "name"))))
    ADD.execute(session_or_conn, {"id": "x", "name": "y"})
"""

from __future__ import annotations

import itertools
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import DiagnosticField
from sqlalchemy import Connection, Table, bindparam, exc
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable
from sqlalchemy.sql.elements import BindParameter

Processor = Callable[[Any], Any] | None
_LINK = "bridgeline.direct"  # the key of a connection's `_Link` in its pool info
_PLACEHOLDER = re.compile(r"%\(([^)]+)\)s|%%")  # pyformat's binds, and its escaped %
_NAMES = itertools.count(1)  # prepared statements' numbers, never used twice in a process
_MOST = 100  # statements kept prepared on one connection
_AUTO = PyFormat.AUTO  # what a cursor uses for %(name)s
_DONE = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)
_IDLE = pq.TransactionStatus.IDLE
_BAD = pq.ConnStatus.BAD
_SQLSTATE = DiagnosticField.SQLSTATE
# What a statement prepared earlier fails with, without running, when it was dropped
# behind our back (invalid_sql_statement_name) or its plan went stale
# (feature_not_supported: "cached plan must not change result type").
_GONE, _STALE = b"26000", b"0A000"


@dataclass(frozen=True, eq=False)  # hashed by identity: a key of `_Link.prepared`
class _Plan:
    sql: str
    binds: tuple[tuple[str, Processor], ...]
    given: dict[str, Any]  # binds whose value is part of the statement (literals)
    columns: tuple[tuple[str, Processor], ...]
    numbered: bytes  # the SQL with $1, $2, ... for the binds, as libpq prepares it
    order: tuple[str, ...]  # the binds' names in the order of their numbers


class _Link:
    """What a driver connection keeps for DirectStatements, in its pool record's `info`
    (replaced with the connection): psycopg's adapters bound to it, the names of the
    statements prepared on it, and a cursor for the statements that go through one.
    Only the connection's holder uses it."""

    def __init__(self, driver_connection: Any) -> None:
        self.connection = driver_connection
        self.pgconn = driver_connection.pgconn
        self.transformer = Transformer(driver_connection)
        # oldest first: past `_MOST` the first is deallocated
        self.prepared: OrderedDict[tuple[_Plan, tuple[int, ...]], bytes] = OrderedDict()
        self.prepares = (driver_connection.info.encoding == "utf-8"
                         and driver_connection.prepare_threshold is not None)
        self._cursor: Any = None

    def cursor(self) -> Any:
        if self._cursor is None or self._cursor.closed:
            self._cursor = self.connection.cursor()
        return self._cursor

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None


class DirectStatement:
    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        # Per dialect instance: its compiled SQL and type processors can depend on the
        # server it talked to.
        self._plans: weakref.WeakKeyDictionary[Dialect, _Plan] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        keys = [column.key for column in _returned(statement)]
        if len(set(keys)) != len(keys):
            raise ValueError("selected columns need distinct keys (label duplicates)")

    # -- running ------------------------------------------------------------------------
    def first(self, target: Connection | Session,
              params: Mapping[str, Any]) -> dict[str, Any] | None:
        """The first row (of a SELECT, or of an INSERT ... RETURNING) as a dict by column
        key, or None. `target` is a connection, or a session (its transaction's)."""
        conn = connection_of(target)
        if not _direct(conn):
            row = conn.execute(self.statement, dict(params)).first()
            return None if row is None else dict(row._mapping)
        plan = self._plan(conn.dialect)
        row = self._run(conn, plan, params, fetch=True)
        return None if row is None else _as_dict(plan, row)

    def all(self, target: Connection | Session,
            params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row (of a SELECT, or of an INSERT ... RETURNING), as dicts by column key."""
        conn = connection_of(target)
        if not _direct(conn):
            return [dict(row._mapping) for row in conn.execute(self.statement, dict(params))]
        plan = self._plan(conn.dialect)
        return [_as_dict(plan, row)
                for row in self._run(conn, plan, params, fetch=True, every=True)]

    def execute(self, target: Connection | Session, params: Mapping[str, Any]) -> None:
        """Run the statement for its effect (an INSERT, UPDATE or DELETE)."""
        conn = connection_of(target)
        if not _direct(conn):
            conn.execute(self.statement, dict(params))
            return
        self._run(conn, self._plan(conn.dialect), params, fetch=False)

    def _run(self, conn: Connection, plan: _Plan, params: Mapping[str, Any],
             fetch: bool, every: bool = False) -> Any:
        try:
            values = _bound(plan, params)
        except Exception as error:  # a missing value or a type refusing one, as Core says
            raise exc.StatementError(f"({type(error).__name__}) {error}", plan.sql, None,
                                     error, hide_parameters=True) from error
        fairy = conn.connection  # reconnects an invalidated connection, as execute would
        driver_connection: Any = fairy.dbapi_connection  # never None once checked out
        _begin(conn, driver_connection)
        link = fairy.info.get(_LINK)
        if link is None or link.connection is not driver_connection:
            link = fairy.info[_LINK] = _Link(driver_connection)
        cursor = None
        try:
            if (driver_connection.autocommit and link.prepares
                    and link.pgconn.transaction_status == _IDLE):
                return _exec_prepared(link, plan, values, fetch, every)
            cursor = link.cursor()
            cursor.execute(plan.sql, values)
            if not fetch:
                return None
            return cursor.fetchall() if every else cursor.fetchone()
        except conn.dialect.loaded_dbapi.Error as error:
            # What `Connection.execute` does with a driver error, by the same code: wrap
            # it, and on a disconnect invalidate this connection and every pooled one
            # from before it, so none is handed out unpinged (`shared.db._ping_when_idle`).
            conn._handle_dbapi_exception(error, plan.sql, values, cursor, None)
        except BaseException:  # interrupted: the next statement gets a fresh cursor
            link.close()
            raise

    # -- compiling ----------------------------------------------------------------------
    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect)
        if plan is None:
            with self._lock:
                plan = self._plans.get(dialect) or self._compile(dialect)
                self._plans[dialect] = plan
        return plan

    def _compile(self, dialect: Dialect) -> _Plan:
        compiled: Any = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.escaped_bind_names or compiled.positional:
            raise ValueError("DirectStatement needs plain named bind parameters")
        # What Core computes per execution is refused rather than frozen or lost:
        # Python-side column defaults, IN lists and literal-execute parameters, and
        # binds whose value is a function.
        if (compiled.insert_prefetch or compiled.update_prefetch
                or compiled.post_compile_params or compiled.literal_execute_params
                or any(bind.callable is not None for bind in compiled.binds.values())):
            raise ValueError("DirectStatement cannot run a statement with Python-side "
                             "defaults, expanding (IN) or literal-execute parameters or "
                             "callable binds; use Connection.execute")
        binds = tuple((name, bind.type.dialect_impl(dialect).bind_processor(dialect))
                      for name, bind in ((name, compiled.binds[name])
                                         for name in compiled.bind_names.values()))
        given = {name: bind.effective_value for name, bind in compiled.binds.items()
                 if not bind.required}
        columns = tuple((column.key, _result_processor(column.type, dialect))
                        for column in _returned(self.statement))
        sql = str(compiled)
        numbered, order = _numbered(sql)
        if set(order) != {name for name, _ in binds} or b"%(" in numbered:
            raise ValueError("DirectStatement could not number this statement's bind "
                             "parameters; use Connection.execute")
        return _Plan(sql, binds, given, columns, numbered, order)


def bound_values(table: Table, names: tuple[str, ...] | None = None, *, prefix: str = ""
                 ) -> dict[str, BindParameter[Any]]:
    """`insert(table).values(...)` for a DirectStatement: a bind parameter per column
    (all of them, or `names`), named after it (after `prefix` + it, where another
    table's binds share the statement) and typed like it."""
    return {name: bindparam(prefix + name, type_=table.c[name].type)
            for name in (names if names is not None else table.c.keys())}


def connection_of(target: Connection | Session) -> Connection:
    """The connection itself, or a session's (its transaction's)."""
    return target.connection() if isinstance(target, Session) else target


def _returned(statement: Executable) -> list[Any]:
    """The columns a row of the statement holds: a SELECT's, or an INSERT, UPDATE or
    DELETE's RETURNING (none without)."""
    return list(getattr(statement, "exported_columns", ()))


def _result_processor(type_: Any, dialect: Dialect) -> Processor:
    try:
        return type_.dialect_impl(dialect).result_processor(dialect, None)
    except TypeError as error:  # a type that needs the driver's column type (Numeric)
        raise ValueError(f"DirectStatement cannot read a {type_!r} column; use "
                         "Connection.execute") from error


def _begin(conn: Connection, driver_connection: Any) -> None:
    """Refuse a connection whose transaction failed, and begin one if none is open,
    as `Connection.execute` does (so a later `conn.commit()` commits this statement).
    In autocommit (`single_statements`) there is nothing to begin: the statement is
    its own transaction, and skipping SQLAlchemy's bookkeeping of an empty one saves
    a fifth of a one-statement read's CPU."""
    root, nested = conn.get_transaction(), conn.get_nested_transaction()
    if (root is not None and not root.is_active) or (nested is not None
                                                     and not nested.is_active):
        raise exc.PendingRollbackError(
            "This connection's transaction failed; roll it back before going on.")
    if root is None and not driver_connection.autocommit:
        conn.begin()


def _numbered(sql: str) -> tuple[bytes, tuple[str, ...]]:
    """Pyformat SQL as libpq prepares it: `%(name)s` -> `$n` (a name used twice keeps
    its number), `%%` -> `%`; and the names in the order of their numbers."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    return _PLACEHOLDER.sub(number, sql).encode(), tuple(order)


def _exec_prepared(link: _Link, plan: _Plan, values: dict[str, Any], fetch: bool,
                   every: bool) -> Any:
    """The statement prepared on the link's connection (once per parameter types, as
    psycopg keys its own) and run in one blocking libpq call; its parameters adapted as
    a cursor adapts them. Only in autocommit, outside any transaction: see the module's
    docstring."""
    tx = link.transformer
    params = tx.dump_sequence([values[name] for name in plan.order],
                              [_AUTO] * len(plan.order))
    key = (plan, tuple(tx.types or ()))
    pgconn = link.pgconn
    name = link.prepared.get(key) or _prepare(link, key)
    result = pgconn.exec_prepared(name, params, tx.formats)
    if result.status not in _DONE:
        state = result.error_field(_SQLSTATE)
        if state == _GONE:  # dropped behind our back (with every other one): not run
            link.prepared.clear()
        elif state == _STALE:  # its plan went stale: not run
            _deallocate(link, link.prepared.pop(key))
        else:
            _check(pgconn, result)
        result = pgconn.exec_prepared(_prepare(link, key), params, tx.formats)
        _check(pgconn, result)
    if not fetch:
        return None
    count = result.ntuples
    tx.set_pgresult(result)
    try:
        if every:
            return tx.load_rows(0, count, tuple)
        return tx.load_row(0, tuple) if count else None
    finally:
        tx.set_pgresult(None)


def _prepare(link: _Link, key: tuple[_Plan, tuple[int, ...]]) -> bytes:
    if len(link.prepared) >= _MOST:
        _deallocate(link, link.prepared.popitem(last=False)[1])
    name = b"bl_direct_%d_%d" % (os.getpid(), next(_NAMES))
    _check(link.pgconn, link.pgconn.prepare(name, key[0].numbered, key[1]))
    link.prepared[key] = name
    return name


def _deallocate(link: _Link, name: bytes) -> None:
    """Drop a statement from the server; one already gone is no matter."""
    result = link.pgconn.exec_(b"DEALLOCATE " + name)
    if result.error_field(_SQLSTATE) != _GONE:
        _check(link.pgconn, result)


def _check(pgconn: Any, result: Any) -> None:
    """A failed statement's result as psycopg's error for it (a cursor raises the same);
    a connection lost without a word from the server as an `OperationalError`, as a
    cursor says it."""
    if result.status in _DONE:
        return
    if result.error_field(_SQLSTATE) is None and pgconn.status == _BAD:
        raise pg_errors.OperationalError(result.get_error_message("utf-8")
                                         or "the connection to the server was lost")
    raise pg_errors.error_from_result(result, encoding="utf-8")


def _direct(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg"


def _as_dict(plan: _Plan, row: Any) -> dict[str, Any]:
    return {key: value if process is None else process(value)
            for (key, process), value in zip(plan.columns, row, strict=True)}


def _bound(plan: _Plan, params: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, process in plan.binds:
        if name in params:
            value = params[name]
        elif name in plan.given:
            value = plan.given[name]
        else:
            raise exc.InvalidRequestError(f"A value is required for bind parameter {name!r}")
        values[name] = value if process is None else process(value)
    return values
