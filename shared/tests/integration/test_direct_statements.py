"""`shared.db.direct` on the real PostgreSQL (the shortcut) and on SQLite (plain
`Connection.execute`): the same rows as Core gives, the types' own processing, the
caller's transaction, SQLAlchemy's errors, and a dead connection healed like any other."""

import os
import socket
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import (
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    insert,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, StatementError
from sqlalchemy.orm import Session

from shared.db import UtcDateTime, direct, make_engine, single_statements
from shared.db.direct import _LINK, DirectStatement, bound_values
from shared.db.direct import _exec_prepared as exec_in_one_call

pytestmark = pytest.mark.integration

metadata = MetaData()
things = Table(
    "things", metadata,
    Column("id", String(20), primary_key=True),
    Column("kind", String(10), nullable=False),
    Column("size", Integer),
    Column("due_on", Date),
    Column("at", UtcDateTime(), nullable=False),
)
others = Table("others", metadata, Column("id", String(20), primary_key=True),
               Column("thing_id", String(20)), Column("at", UtcDateTime()))

ONE = DirectStatement(
    select(things.c.id, things.c.kind, things.c.size, things.c.due_on, things.c.at,
           others.c.id.label("other_id"), others.c.at.label("other_at"))
    .select_from(things.outerjoin(others, others.c.thing_id == things.c.id))
    .where(things.c.id == bindparam("thing_id"), things.c.kind == "widget"))
ADD = DirectStatement(insert(things).values(bound_values(things)))
AT = datetime(2027, 1, 4, 9, 30, tzinfo=UTC)


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request, tmp_path):
    url = (request.getfixturevalue("pg_database_url") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'direct.db'}")
    yield from _engine(url)


@pytest.fixture
def pg_engine(pg_database_url):
    yield from _engine(pg_database_url)


def _engine(url):
    engine = make_engine(url)
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def thing(**overrides):
    return {"id": "t1", "kind": "widget", "size": 3, "due_on": date(2027, 2, 1), "at": AT,
            **overrides}


def test_rows_are_what_core_reads(engine):
    with engine.begin() as conn:
        ADD.execute(conn, thing())
        ADD.execute(conn, thing(id="t2", size=None, due_on=None))
        conn.execute(insert(others), {"id": "o1", "thing_id": "t1", "at": AT})
    with engine.connect() as conn:
        for thing_id in ("t1", "t2"):
            core = conn.execute(ONE.statement, {"thing_id": thing_id}).first()
            assert ONE.first(conn, {"thing_id": thing_id}) == dict(core._mapping)
        assert ONE.first(conn, {"thing_id": "t1"}) == {
            "id": "t1", "kind": "widget", "size": 3, "due_on": date(2027, 2, 1), "at": AT,
            "other_id": "o1", "other_at": AT}
        assert ONE.first(conn, {"thing_id": "nope"}) is None


def test_all_rows_are_what_core_reads(engine):
    widgets = DirectStatement(select(things.c.id, things.c.size, things.c.at)
                              .where(things.c.kind == bindparam("kind")).order_by(things.c.id))
    with engine.begin() as conn:
        for n in range(3):
            ADD.execute(conn, thing(id=f"t{n}", size=n or None))
    with engine.connect() as conn:
        core = conn.execute(widgets.statement, {"kind": "widget"}).all()
        assert widgets.all(conn, {"kind": "widget"}) == [dict(r._mapping) for r in core]
        assert [row["size"] for row in widgets.all(conn, {"kind": "widget"})] == [None, 1, 2]
        assert widgets.all(conn, {"kind": "gadget"}) == []


def test_an_insert_returns_every_row_it_wrote(engine):
    two = DirectStatement(insert(things).values([bound_values(things, prefix="a_"),
                                                 bound_values(things, prefix="b_")])
                          .returning(things.c.id, things.c.at))
    rows = {**{f"a_{k}": v for k, v in thing(id="ta").items()},
            **{f"b_{k}": v for k, v in thing(id="tb").items()}}
    with engine.begin() as conn:
        assert sorted(two.all(conn, rows), key=lambda r: r["id"]) == [
            {"id": "ta", "at": AT}, {"id": "tb", "at": AT}]


def test_timestamps_read_back_as_aware_utc_whatever_the_session_zone(pg_engine):
    engine = pg_engine
    with engine.begin() as conn:
        ADD.execute(conn, thing(at=datetime(2027, 1, 4, 4, 30, tzinfo=timezone(-timedelta(hours=5)))))
    with engine.connect() as conn:
        conn.execute(text("SET TIME ZONE 'America/New_York'"))
        read = ONE.first(conn, {"thing_id": "t1"})
        assert read is not None and read["at"] == AT and read["at"].tzinfo is UTC


def test_naive_timestamps_are_refused_as_by_core(engine):
    with engine.begin() as conn, pytest.raises(StatementError, match="naive"):
        ADD.execute(conn, thing(at=datetime(2027, 1, 4, 9, 30)))


def test_a_bind_without_a_value_is_an_error_not_a_null(engine):
    with engine.connect() as conn, pytest.raises(StatementError, match="thing_id"):
        ONE.first(conn, {})
    values = thing()
    del values["size"]
    with engine.begin() as conn, pytest.raises(StatementError, match="size"):
        ADD.execute(conn, values)


def test_statements_take_part_in_the_callers_transaction(engine):
    with pytest.raises(RuntimeError), engine.begin() as conn:
        ADD.execute(conn, thing())
        raise RuntimeError("roll it back")
    with engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
        ADD.execute(conn, thing())
        conn.commit()  # as after `conn.execute`: the statement began the transaction
    with engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is not None


def test_autocommit_statements_are_committed_at_once(pg_engine):
    engine = pg_engine
    with single_statements(engine).connect() as conn:  # no commit: autocommit
        ADD.execute(conn, thing())
    with engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is not None


def test_an_autocommit_statement_opens_no_transaction_and_a_failure_leaves_none(pg_engine):
    with single_statements(pg_engine).connect() as conn:
        ADD.execute(conn, thing())
        assert not conn.in_transaction()
        with pytest.raises(IntegrityError):
            ADD.execute(conn, thing())
        assert not conn.in_transaction()
        assert ONE.first(conn, {"thing_id": "t1"}) is not None  # usable, nothing to roll back


def test_driver_errors_are_sqlalchemys(engine):
    with engine.begin() as conn:
        ADD.execute(conn, thing())
    with pytest.raises(IntegrityError), engine.begin() as conn:
        ADD.execute(conn, thing())
    with engine.begin() as conn:  # the connection is usable again
        ADD.execute(conn, thing(id="t2"))


@pytest.mark.parametrize("autocommit", [False, True], ids=["transaction", "autocommit"])
def test_a_dead_connection_is_invalidated_and_replaced(pg_engine, autocommit):
    engine = single_statements(pg_engine) if autocommit else pg_engine
    with engine.connect() as conn:
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    terminate(engine, first)
    with pytest.raises(DBAPIError) as failed, engine.connect() as conn:
        ONE.first(conn, {"thing_id": "t1"})
    assert failed.value.connection_invalidated  # what shared.db.outage answers 503 for
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != first
        assert ONE.first(conn, {"thing_id": "t1"}) is None


@pytest.fixture
def one_call(monkeypatch):
    """Counts the statements run prepared, in libpq's one blocking call (not on the
    cursor)."""
    calls = []

    def counted(link, plan, *args):
        calls.append(plan.sql)
        return exec_in_one_call(link, plan, *args)

    monkeypatch.setattr(direct, "_exec_prepared", counted)
    return calls


def test_a_connection_keeps_its_link_and_loses_it_with_the_connection(pg_engine, one_call):
    single = single_statements(pg_engine)
    with single.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
        ADD.execute(conn, thing())
        assert ONE.first(conn, {"thing_id": "t1"})["size"] == 3
        link = conn.connection.info[_LINK]
        assert link.connection is conn.connection.dbapi_connection
        with pytest.raises(IntegrityError):
            ADD.execute(conn, thing())  # a failed statement keeps the link
        assert conn.connection.info[_LINK] is link
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        first = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    assert len(one_call) == 5  # in autocommit every statement takes the one call
    terminate(pg_engine, first)
    with pytest.raises(DBAPIError), single.connect() as conn:
        ONE.first(conn, {"thing_id": "t1"})
    with single.connect() as conn:  # a new connection, a link of its own
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        assert conn.connection.info[_LINK] is not link
        assert conn.connection.info[_LINK].connection is conn.connection.dbapi_connection


def test_in_a_transaction_statements_go_through_psycopgs_cursor(pg_engine, one_call):
    """There psycopg begins the transaction (with the connection's isolation level), and
    a prepared statement found gone would abort it: the cursor runs every statement."""
    with pg_engine.connect().execution_options(isolation_level="SERIALIZABLE") as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
        assert conn.execute(text("SHOW transaction_isolation")).scalar_one() == "serializable"
        ADD.execute(conn, thing())
        conn.rollback()
    with pg_engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None  # rolled back with it
    assert one_call == []


def prepared(conn) -> list[str]:
    """The statements DirectStatement prepared on this connection, as the server has them."""
    return conn.execute(text(
        "SELECT statement FROM pg_prepared_statements WHERE name LIKE 'bl_direct_%' "
        "ORDER BY prepare_time")).scalars().all()


def test_a_statement_is_prepared_once_a_connection(pg_engine, one_call):
    with single_statements(pg_engine).connect() as conn:
        for n in range(3):
            ADD.execute(conn, thing(id=f"t{n}"))
            assert ONE.first(conn, {"thing_id": f"t{n}"})["id"] == f"t{n}"
        statements = prepared(conn)
        assert len(statements) == 2  # ADD and ONE, numbered for libpq
        assert "VALUES ($1::VARCHAR, $2::VARCHAR, $3::INTEGER," in statements[0]
        assert "things.id = $1" in statements[1] and "%" not in statements[1]
    assert len(one_call) == 6


@pytest.mark.parametrize("dropping", [
    "DEALLOCATE ALL",
    # psycopg, holding prepared statements of its own, follows an ALTER with its own
    # DEALLOCATE ALL (the altered table's plans would be stale)
    "ALTER TABLE things ALTER COLUMN size SET DEFAULT 0",
], ids=["deallocate", "psycopg after an alter"])
def test_statements_dropped_behind_its_back_are_prepared_again(pg_engine, one_call,
                                                               dropping):
    with single_statements(pg_engine).connect() as conn:
        ADD.execute(conn, thing())
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        for _ in range(6):  # past psycopg's prepare threshold (5): it prepares its own
            conn.execute(select(things.c.id).where(things.c.id == "t1")).all()
        assert len(prepared(conn)) == 2
        conn.exec_driver_sql(dropping)
        assert prepared(conn) == []
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"  # prepared again
        ADD.execute(conn, thing(id="t2"))
        assert len(prepared(conn)) == 2
    with pg_engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t2"})["id"] == "t2"


def test_a_stale_plan_is_prepared_again(pg_engine, one_call):
    """Another connection changes the type of a column the statement returns: the server
    refuses the old plan ("cached plan must not change result type") without running it,
    and it is deallocated, prepared again and run."""
    with single_statements(pg_engine).connect() as conn:
        ADD.execute(conn, thing())
        assert ONE.first(conn, {"thing_id": "t1"})["size"] == 3
        with pg_engine.connect() as other:
            other.exec_driver_sql("ALTER TABLE things ALTER COLUMN size TYPE BIGINT")
            other.commit()
        assert ONE.first(conn, {"thing_id": "t1"})["size"] == 3
        assert len(prepared(conn)) == 2  # the stale one is gone, not left behind
    assert len(one_call) == 3


def test_past_the_most_kept_the_oldest_statement_is_deallocated(pg_engine, one_call,
                                                                 monkeypatch):
    monkeypatch.setattr(direct, "_MOST", 1)
    with single_statements(pg_engine).connect() as conn:
        ADD.execute(conn, thing())
        assert [s.startswith("INSERT") for s in prepared(conn)] == [True]
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        assert [s.startswith("SELECT") for s in prepared(conn)] == [True]
        ADD.execute(conn, thing(id="t2"))
        assert ONE.first(conn, {"thing_id": "t2"})["id"] == "t2"
        assert len(prepared(conn)) == 1
    assert len(one_call) == 4


def test_a_transaction_begun_by_hand_keeps_its_statements_on_the_cursor(pg_engine,
                                                                       one_call):
    """On an autocommit connection a BEGIN sent as SQL opens a transaction SQLAlchemy does
    not know of: a prepared statement found gone there would abort it, so the cursor runs
    the statements, inside it."""
    with single_statements(pg_engine).connect() as conn:
        conn.exec_driver_sql("BEGIN")
        ADD.execute(conn, thing())
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        conn.exec_driver_sql("ROLLBACK")
        assert one_call == []
        assert ONE.first(conn, {"thing_id": "t1"}) is None  # rolled back; prepared again
    assert len(one_call) == 1


def test_without_prepared_statements_statements_run_on_the_cursor(pg_database_url,
                                                                  one_call):
    """`prepare_threshold=None` is psycopg's switch for a pooler that keeps no prepared
    statements: nothing is prepared on the server."""
    engine = make_engine(pg_database_url, connect_args={"prepare_threshold": None})
    metadata.create_all(engine)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            ADD.execute(conn, thing())
            assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
            assert prepared(conn) == []
        assert one_call == []
    finally:
        engine.dispose()


def test_a_connection_lost_without_a_word_is_an_operational_error(pg_engine, one_call):
    """The socket shut under it: libpq's result carries no SQLSTATE, and the error is the
    one a cursor raises, an OperationalError, the connection invalidated."""
    single = single_statements(pg_engine)
    with single.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
        fd = conn.connection.dbapi_connection.pgconn.socket
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
        with pytest.raises(OperationalError) as failed:
            ONE.first(conn, {"thing_id": "t1"})
        assert failed.value.connection_invalidated
    with single.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
    assert len(one_call) == 3


def test_an_interrupted_statement_keeps_what_is_prepared(pg_engine, one_call,
                                                         monkeypatch):
    with single_statements(pg_engine).connect() as conn:
        assert ONE.first(conn, {"thing_id": "t1"}) is None
        link = conn.connection.info[_LINK]
        prepared_before = dict(link.prepared)
        ADD.execute(conn, thing())
        monkeypatch.setattr(direct, "_exec_prepared", interrupted)
        with pytest.raises(KeyboardInterrupt):
            ONE.first(conn, {"thing_id": "t1"})
        monkeypatch.setattr(direct, "_exec_prepared", exec_in_one_call)
        assert conn.connection.info[_LINK] is link
        assert dict(link.prepared).items() >= prepared_before.items()
        assert ONE.first(conn, {"thing_id": "t1"})["id"] == "t1"
        assert len(prepared(conn)) == 2


def interrupted(*_):
    raise KeyboardInterrupt


def test_numbering_takes_any_bind_name_and_unescapes_percent_signs():
    assert direct._numbered("SELECT %(a)s, %(b-c)s, %(a)s, '5%%'") == (
        b"SELECT $1, $2, $1, '5%'", ("a", "b-c"))


def test_a_percent_sign_a_repeated_bind_and_nulls_survive_numbering(pg_engine, one_call):
    either = DirectStatement(
        select(things.c.id, literal_column("'50%'").label("share"))
        .where(or_(things.c.id == bindparam("key"), things.c.kind == bindparam("key")))
        .order_by(things.c.id))
    with single_statements(pg_engine).connect() as conn:
        ADD.execute(conn, thing(size=None, due_on=None))  # NULLs, then values
        ADD.execute(conn, thing(id="t2"))
        ADD.execute(conn, thing(id="t3", kind="gadget", size=None))
        assert either.all(conn, {"key": "widget"}) == [{"id": "t1", "share": "50%"},
                                                       {"id": "t2", "share": "50%"}]
        assert either.all(conn, {"key": "t3"}) == [{"id": "t3", "share": "50%"}]
        assert [(row["size"], row["due_on"]) for row in (
            ONE.first(conn, {"thing_id": t}) for t in ("t1", "t2"))] == [
            (None, None), (3, date(2027, 2, 1))]
    assert len(one_call) == 7
    assert "'50%%'" in one_call[3]  # the compiled pyformat SQL, before numbering


def test_a_connection_in_another_encoding_runs_statements_on_the_cursor(pg_database_url,
                                                                        one_call):
    engine = make_engine(pg_database_url, connect_args={"client_encoding": "LATIN1"})
    metadata.create_all(engine)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            assert conn.connection.dbapi_connection.autocommit  # prepared, were it UTF-8
            ADD.execute(conn, thing(kind="wídget"))
            assert ONE.first(conn, {"thing_id": "t1"}) is None  # kind is not "widget"
        with engine.connect() as conn:
            assert conn.execute(select(things.c.kind)).scalar_one() == "wídget"
            assert conn.execute(text("SHOW client_encoding")).scalar_one() == "LATIN1"
        assert one_call == []
    finally:
        engine.dispose()


def terminate(engine, pid: int) -> None:
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def test_selected_columns_need_distinct_keys():
    with pytest.raises(ValueError, match="distinct keys"):
        DirectStatement(select(things.c.id, others.c.id))


def test_a_disconnect_invalidates_every_pooled_connection_from_before_it(pg_database_url):
    engine = make_engine(pg_database_url, pool_size=2, max_overflow=0)
    metadata.create_all(engine)
    try:
        first, second = engine.connect(), engine.connect()  # two pooled connections
        pids = [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in (first, second)]
        first.close()
        second.close()
        admin = make_engine(pg_database_url)
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        with pytest.raises(DBAPIError) as failed, engine.connect() as conn:
            ONE.first(conn, {"thing_id": "t1"})
        assert failed.value.connection_invalidated
        # The other dead connection sat idle for less than the ping interval; it is not
        # handed out, because the disconnect invalidated the whole pool.
        with engine.connect() as conn:
            assert ONE.first(conn, {"thing_id": "t1"}) is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("statement", [
    insert(Table("defaults", MetaData(), Column("id", String(20), primary_key=True),
                 Column("kind", String(10), default="widget"))).values(id=bindparam("id")),
    select(things.c.id).where(things.c.id.in_(bindparam("ids", expanding=True))),
], ids=["python-side default", "expanding IN"])
def test_what_core_computes_per_execution_is_refused_not_lost(pg_engine, statement):
    with pg_engine.connect() as conn, pytest.raises(ValueError, match=r"Connection\.execute"):
        DirectStatement(statement).execute(conn, {"id": "x", "ids": ["a"]})


def test_a_session_target_runs_in_the_sessions_transaction(engine):
    with Session(engine) as session:
        ADD.execute(session, thing())
        assert ONE.first(session, {"thing_id": "t1"}) is not None  # its own transaction
        session.rollback()
    with Session(engine) as session, session.begin():
        assert ONE.first(session, {"thing_id": "t1"}) is None  # rolled back with it
        ADD.execute(session, thing(id="t2"))
    with engine.connect() as conn:
        assert ONE.first(conn, {"thing_id": "t2"}) is not None  # committed with it
