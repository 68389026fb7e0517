"""Telling "the database is away" from "the query is wrong".

A request that meets an unreachable database (PostgreSQL restarting, a network cut, a
SQLite file locked past its busy timeout) deserves a 503 with `Retry-After`: the same
request will work once the database is back. Any other database error is a bug or bad
input, and stays what it was.
"""

from __future__ import annotations

from sqlalchemy import exc as sa

# PostgreSQL SQLSTATEs that mean "not now": admin_shutdown, crash_shutdown,
# cannot_connect_now (the server is starting or stopping), too_many_connections.
# Class 08 (connection exception) is matched by prefix.
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
# SQLite result codes: busy, locked (past the busy timeout), cannot open the file.
_UNAVAILABLE_SQLITE = frozenset({"SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN"})


def database_unavailable(error: BaseException) -> bool:
    """True when `error` says the database could not be reached or used at all, so
    the same work should be tried again later (not a fault of the statement)."""
    if isinstance(error, (sa.DisconnectionError, sa.TimeoutError)):
        return True  # a dead pooled connection, or no connection free in time
    if not isinstance(error, sa.DBAPIError):
        return False
    if error.connection_invalidated:
        return True  # the driver saw the connection die
    if not isinstance(error, (sa.OperationalError, sa.InterfaceError)):
        return False
    original = error.orig
    name = getattr(original, "sqlite_errorname", None)
    if name is not None:
        return name in _UNAVAILABLE_SQLITE
    if not hasattr(original, "sqlstate"):
        return isinstance(error, sa.InterfaceError)
    # psycopg: errors raised on the client side (connecting, a dropped socket) carry
    # no SQLSTATE; the server's own carry one.
    sqlstate: str | None = getattr(original, "sqlstate", None)
    return sqlstate is None or sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
