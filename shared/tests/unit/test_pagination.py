from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert, select
from sqlalchemy.orm import Session

from shared.db import UtcDateTime, make_engine
from shared.web.pagination import PageArgsSchema, decode_cursor, encode_cursor, keyset_page
from shared.web.problems import Problem

metadata = MetaData()
items = Table("items", metadata, Column("id", String, primary_key=True),
              Column("tenant", String), Column("created_at", UtcDateTime()))


@pytest.fixture
def session(sqlite_url):
    engine = make_engine(sqlite_url)
    metadata.create_all(engine)
    base = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    rows = [{"id": f"itm_{i:04d}", "tenant": "emp_a" if i % 3 else "emp_b",
             # every three rows share a timestamp, so ties on created_at are exercised
             "created_at": base + timedelta(seconds=i // 3)} for i in range(250)]
    with engine.begin() as conn:
        conn.execute(insert(items), rows)
    with Session(engine) as s:
        yield s
    engine.dispose()


def walk(session, limit):
    stmt = select(items).where(items.c.tenant == "emp_a")
    seen, cursor, pages = [], None, 0
    while True:
        page = keyset_page(session, stmt, items.c.created_at, items.c.id, limit=limit, cursor=cursor)
        seen += [row.id for row in page.data]
        pages += 1
        if page.next_cursor is None:
            return seen, pages
        cursor = page.next_cursor


@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_walking_all_pages_yields_every_row_once_newest_first(session, limit):
    seen, pages = walk(session, limit)
    expected = session.execute(select(items.c.id, items.c.created_at)
                               .where(items.c.tenant == "emp_a")).all()
    expected_order = [r.id for r in sorted(expected, key=lambda r: (r.created_at, r.id), reverse=True)]
    assert seen == expected_order
    assert pages == -(-len(expected_order) // limit)


def test_cursor_round_trip():
    moment = datetime(2027, 3, 1, 12, 30, tzinfo=UTC)
    assert decode_cursor(encode_cursor(moment, "ref_x")) == (moment, "ref_x")


@pytest.mark.parametrize("bad", ["", "!!!", "bm90IGpzb24", encode_cursor(datetime(2027, 1, 1, tzinfo=UTC), "x")[:-3],
                                 "WzEsMl0"])  # [1,2]
def test_unreadable_cursors_are_a_400_problem(bad):
    with pytest.raises(Problem) as exc:
        decode_cursor(bad)
    assert exc.value.status == 400
    assert exc.value.errors == {"cursor": ["Not a valid cursor."]}


def test_limit_bounds():
    schema = PageArgsSchema()
    assert schema.load({}) == {"limit": 50, "cursor": None}
    assert schema.load({"limit": 200})["limit"] == 200
    for bad in (0, 201, -1):
        with pytest.raises(Exception):
            schema.load({"limit": bad})
