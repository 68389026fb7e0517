"""Responses whose body a view has already put in its schema's wire form.

`@blp.response(200, Schema)` dumps a view's result through marshmallow on every request,
which costs a small read endpoint about a tenth of its CPU. A hot view can instead return
`wire_json(body)`, with dates already ISO strings: the decorator still documents the
schema and passes a Response through untouched. The schema stays the contract, so each
such view needs a test that its body is exactly what the schema dumps
(`dumped_unchanged`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import marshmallow as ma
from flask import current_app
from werkzeug.sansio.response import Response


def wire_json(body: Any, status: int = 200) -> Response:
    response = current_app.json.response(body)
    response.status_code = status
    return response


def iso(value: date | datetime | None) -> str | None:
    """A date or datetime as marshmallow's `format="iso"` writes it."""
    return None if value is None else value.isoformat()


def dumped_unchanged(schema: ma.Schema, body: Any) -> bool:
    """Whether `schema` reads `body` and writes it back unchanged: the wire form a view
    built is exactly the schema's (for tests of views that return `wire_json`)."""
    return bool(schema.dump(schema.load(body)) == body)
