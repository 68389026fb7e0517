"""`database_unavailable`: an unreachable database is told apart from a bad statement,
with the errors the drivers really raise."""

import sqlite3

import psycopg
import psycopg.errors
import pytest
from sqlalchemy import exc as sa
from sqlalchemy import text

from shared.db import make_engine, ping
from shared.db.outage import database_unavailable
from tests.support.tcp_proxy import TcpProxy


def wrapped(orig: Exception, error_class=sa.OperationalError) -> sa.DBAPIError:
    return error_class("SELECT 1", {}, orig)


def raised(call) -> BaseException:
    with pytest.raises(Exception) as info:
        call()
    return info.value


def test_a_postgresql_server_nobody_answers_for_is_unavailable():
    # A port nothing listens on: connection refused, as while PostgreSQL restarts.
    dead = TcpProxy("127.0.0.1", 5432)  # never started: its port is closed
    engine = make_engine(f"postgresql://postgres@127.0.0.1:{dead.port}/postgres")
    try:
        error = raised(lambda: ping(engine))
    finally:
        engine.dispose()
    assert isinstance(error, sa.OperationalError)
    assert database_unavailable(error)


@pytest.mark.parametrize("orig", [
    psycopg.OperationalError("server closed the connection unexpectedly"),  # no SQLSTATE
    psycopg.errors.AdminShutdown("terminating connection due to administrator command"),
    psycopg.errors.CannotConnectNow("the database system is starting up"),
    psycopg.errors.TooManyConnections("sorry, too many clients already"),
    psycopg.errors.ConnectionFailure("connection failure"),
], ids=lambda e: type(e).__name__)
def test_postgresql_errors_that_mean_not_now(orig):
    assert database_unavailable(wrapped(orig))


@pytest.mark.parametrize("orig,error_class", [
    (psycopg.errors.UndefinedTable("relation does not exist"), sa.ProgrammingError),
    (psycopg.errors.UniqueViolation("duplicate key"), sa.IntegrityError),
    (psycopg.errors.SerializationFailure("could not serialize"), sa.OperationalError),
    (psycopg.errors.QueryCanceled("canceling statement"), sa.OperationalError),
], ids=lambda e: getattr(e, "__name__", type(e).__name__))
def test_errors_of_the_statement_are_not_an_outage(orig, error_class):
    assert not database_unavailable(wrapped(orig, error_class))


def test_a_dropped_connection_is_unavailable_whatever_the_driver_said():
    error = wrapped(psycopg.errors.UndefinedTable("x"), sa.ProgrammingError)
    error.connection_invalidated = True
    assert database_unavailable(error)
    assert database_unavailable(sa.DisconnectionError("gone"))
    assert database_unavailable(sa.TimeoutError("QueuePool limit reached"))


def test_sqlite_locked_past_its_timeout_is_unavailable_a_missing_table_is_not(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as setup:  # WAL mode and a table, before anyone holds a lock
        setup.execute(text("CREATE TABLE t (x)"))
        setup.commit()
    holder = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    conn = engine.connect()
    try:
        conn.connection.driver_connection.execute("PRAGMA busy_timeout=0")  # no waiting
        locked = raised(lambda: conn.execute(text("INSERT INTO t VALUES (1)")))
        conn.rollback()
        missing = raised(lambda: conn.execute(text("SELECT * FROM nowhere")))
    finally:
        conn.close()
        holder.rollback()
        holder.close()
        engine.dispose()
    assert isinstance(locked, sa.OperationalError) and database_unavailable(locked)
    assert isinstance(missing, sa.OperationalError) and not database_unavailable(missing)


def test_anything_else_is_not_an_outage():
    assert not database_unavailable(RuntimeError("boom"))
    assert not database_unavailable(ValueError("bad"))
