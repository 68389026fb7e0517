"""`Outbox.add_with` and `add_unless`: a write and the event announcing it, atomically (the
latter only if a lookup finds nothing), on SQLite and on the real PostgreSQL. On
PostgreSQL they are one statement, so even on an autocommit connection
(`shared.db.kept`) neither can be written without the other."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select, text
from sqlalchemy.exc import IntegrityError

from shared.db import make_engine
from shared.db.kept import kept_connections
from shared.messaging import CloudEvent, Outbox, outbox
from shared.messaging.outbox import Announced, Write
from shared.messaging.testing import FakeCipher, migrate_mechanisms

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True),
              Column("body", String, nullable=False),
              Column("created_at", String))  # a column name the outbox has too
ADD_NOTE = Announced(notes)


def ready_engine(url: str):
    migrate_mechanisms(url)
    engine = make_engine(url, pool_size=2, max_overflow=0)
    metadata.create_all(engine)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def engine(request, tmp_path):
    engine = ready_engine(f"sqlite:///{tmp_path / 'outbox.db'}" if request.param == "sqlite"
                          else request.getfixturevalue("pg_database_url"))
    yield engine
    engine.dispose()


@pytest.fixture
def pg_engine(pg_database_url):
    engine = ready_engine(pg_database_url)
    yield engine
    engine.dispose()


def event(n: int) -> CloudEvent:
    return CloudEvent(type="note.added", source="/notes", subject=f"note_{n}",
                      key_subject="sub_1", data={"n": n, "secret": "canary"},
                      sensitive_fields=("secret",))


def written(engine) -> tuple[list[tuple], list[tuple]]:
    with engine.connect() as conn:
        return (conn.execute(select(notes.c.id, notes.c.body, notes.c.created_at)
                             .order_by(notes.c.id)).all(),
                conn.execute(select(outbox.c.event_type, outbox.c.body)
                             .order_by(outbox.c.id)).all())


def add_note(engine, n: int, body: str = "hello") -> str:
    with kept_connections(engine).connect() as conn, conn.begin():
        return Outbox(FakeCipher()).add_with(
            conn, event(n), Write(ADD_NOTE, {"id": n, "body": body, "created_at": "then"}))


def test_the_write_and_its_event_are_both_written(engine):
    event_id = add_note(engine, 1)
    notes_rows, events = written(engine)
    assert notes_rows == [(1, "hello", "then")]  # its own created_at, not the event's
    assert [type_ for type_, _ in events] == ["note.added"]
    assert event_id in events[0].body and "canary" not in events[0].body  # sealed


def test_a_failing_write_leaves_no_event(engine):
    add_note(engine, 1)
    with pytest.raises(IntegrityError):
        add_note(engine, 1, body="again")  # the same primary key
    notes_rows, events = written(engine)
    assert notes_rows == [(1, "hello", "then")]
    assert len(events) == 1


def test_a_failing_event_leaves_no_write(engine):
    add_note(engine, 1)
    with engine.begin() as conn:  # the outbox refuses the next event's row
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON outbox "
                          "BEGIN SELECT RAISE(ABORT, 'refused'); END")
                     if engine.dialect.name == "sqlite" else
                     text("ALTER TABLE outbox ADD CONSTRAINT refuse CHECK (attempts < 0) "
                          "NOT VALID"))
    with pytest.raises(IntegrityError):
        add_note(engine, 2)
    notes_rows, events = written(engine)
    assert [row.id for row in notes_rows] == [1]
    assert len(events) == 1


@pytest.mark.integration
def test_on_postgresql_it_is_one_statement_even_in_autocommit(pg_engine, monkeypatch):
    engine = pg_engine
    ran: list[str] = []
    original = ADD_NOTE.together._run
    monkeypatch.setattr(ADD_NOTE.together, "_run",
                        lambda conn, plan, *a, **k: ran.append(plan.sql) or original(
                            conn, plan, *a, **k))
    with kept_connections(engine).connect() as conn:
        assert conn.connection.dbapi_connection.autocommit
        Outbox(FakeCipher()).add_with(conn, event(3), Write(ADD_NOTE, {
            "id": 3, "body": "x", "created_at": None}))
    assert len(ran) == 1 and ran[0].startswith("WITH announced AS")
    assert len(written(engine)[0]) == 1


# -- add_unless: the write and its event only if a lookup finds nothing ------------------
ADD_NEW_BODY = Announced(notes, unless=select(notes.c.id).where(
    notes.c.body == bindparam("body")).limit(1))


def add_note_unless(engine, n: int, body: str = "hello"):
    with kept_connections(engine).connect() as conn, conn.begin():
        return Outbox(FakeCipher()).add_unless(
            conn, event(n), Write(ADD_NEW_BODY, {"id": n, "body": body, "created_at": "then"}))


def test_unless_the_lookup_finds_a_row_the_write_and_its_event_are_written(engine):
    assert add_note_unless(engine, 1) is None
    assert add_note_unless(engine, 2, body="other") is None
    notes_rows, events = written(engine)
    assert notes_rows == [(1, "hello", "then"), (2, "other", "then")]
    assert [type_ for type_, _ in events] == ["note.added", "note.added"]
    assert "canary" not in events[0].body


def test_when_the_lookup_finds_a_row_nothing_is_written_and_the_row_is_returned(engine):
    add_note_unless(engine, 1)
    assert add_note_unless(engine, 2) == {"id": 1}  # a note says "hello" already
    assert written(engine)[0] == [(1, "hello", "then")]
    assert len(written(engine)[1]) == 1


def test_a_failing_guarded_write_leaves_no_event(engine):
    add_note_unless(engine, 1)
    with pytest.raises(IntegrityError):
        add_note_unless(engine, 1, body="again")  # nothing says "again"; the key is taken
    notes_rows, events = written(engine)
    assert notes_rows == [(1, "hello", "then")] and len(events) == 1


def test_on_postgresql_the_lookup_the_write_and_the_event_are_one_statement(
        pg_engine, monkeypatch):
    ran: list[str] = []
    original = ADD_NEW_BODY.unless.together._run
    monkeypatch.setattr(ADD_NEW_BODY.unless.together, "_run",
                        lambda conn, plan, *a, **k: ran.append(plan.sql) or original(
                            conn, plan, *a, **k))
    add_note_unless(pg_engine, 1)
    assert add_note_unless(pg_engine, 2) == {"id": 1}
    assert len(ran) == 2 and all(sql.startswith("WITH found AS") for sql in ran)
    assert len(written(pg_engine)[0]) == 1


def test_a_write_without_a_lookup_cannot_be_added_unless(engine):
    with kept_connections(engine).connect() as conn, pytest.raises(ValueError, match="lookup"):
        Outbox(FakeCipher()).add_unless(conn, event(1), Write(ADD_NOTE, {
            "id": 1, "body": "x", "created_at": None}))
    assert written(engine) == ([], [])
