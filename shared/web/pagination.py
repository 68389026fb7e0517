"""Cursor pagination for every list endpoint: `?limit=` (default 50, max 200) and an
opaque `cursor`; responses are `{"data": [...], "next_cursor": ...}`.

Keyset pagination on (created_at, id): stable under inserts, and as fast on page 1,000
as on page 1. The cursor is base64url JSON of the last row's key. It is opaque, not
secret: a query is always tenant-scoped first, so a forged cursor can only move within
the caller's own rows; an unreadable one is a 400 problem, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import marshmallow as ma
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

from shared.web.problems import Problem

T = TypeVar("T")
DEFAULT_LIMIT = 50
ROW_ID = re.compile(r"^[a-z]{2,8}_[a-z0-9]{1,64}$")
MAX_LIMIT = 200


class PageArgsSchema(ma.Schema):
    limit = ma.fields.Integer(load_default=DEFAULT_LIMIT,
                              validate=ma.validate.Range(min=1, max=MAX_LIMIT))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """`{"data": [item...], "next_cursor": str|null}` for a list endpoint's response."""
    return ma.Schema.from_dict({
        "data": ma.fields.List(ma.fields.Nested(item_schema), required=True),
        "next_cursor": ma.fields.String(allow_none=True, required=True),
    }, name=name)


@dataclass(frozen=True)
class Page(Generic[T]):
    data: list[T]
    next_cursor: str | None


def encode_cursor(created_at: datetime, row_id: str) -> str:
    raw = json.dumps([created_at.isoformat(), row_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, row_id = json.loads(raw)
        moment = datetime.fromisoformat(created)
        if not isinstance(row_id, str) or moment.tzinfo is None or not ROW_ID.match(row_id):
            raise ValueError("bad cursor")
        # Far-past or far-future moments overflow when converted to UTC for the query.
        return moment.astimezone(UTC), row_id
    except (ValueError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError,
            UnicodeDecodeError):
        raise Problem(400, "Invalid Cursor",
                      detail="The cursor is not one this API returned; start without it.",
                      errors={"cursor": ["Not a valid cursor."]}) from None


def keyset_page(session: Session, stmt: Select[Any], created_col: ColumnElement[Any],
                id_col: ColumnElement[Any], *, limit: int, cursor: str | None) -> Page[Any]:
    """Newest first. `stmt` must already be tenant-scoped and select rows with
    attributes named like `created_col` and `id_col`."""
    if cursor:
        created, row_id = decode_cursor(cursor)
        stmt = stmt.where(or_(created_col < created, and_(created_col == created, id_col < row_id)))
    rows = session.execute(stmt.order_by(created_col.desc(), id_col.desc()).limit(limit + 1)).all()
    more = len(rows) > limit
    items = [row[0] if len(row) == 1 else row for row in rows[:limit]]
    last = items[-1] if items and more else None
    next_cursor = None
    if last is not None:
        next_cursor = encode_cursor(getattr(last, str(created_col.key)),
                                    getattr(last, str(id_col.key)))
    return Page(data=items, next_cursor=next_cursor)
