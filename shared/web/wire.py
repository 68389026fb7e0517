"""Responses whose body a view has already put in its schema's wire form.

`@blp.response(200, Schema)` dumps a view's result through marshmallow on every request,
which costs a small read endpoint about a tenth of its CPU. A hot view can instead return
`wire_json(body)`, with dates already ISO strings: the decorator still documents the
schema and passes a Response through untouched. The schema stays the contract, so each
such view needs a test that its body is exactly what the schema dumps
(`dumped_unchanged`)."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import marshmallow as ma
from flask import current_app
from flask.json.provider import DefaultJSONProvider
from werkzeug.sansio.response import Response


def wire_json(body: Any, status: int = 200) -> Response:
    """`body` as the app's JSON provider writes a response (`jsonify`), with an encoder
    made once per provider rather than one per response (from the provider's settings
    when first used: set them before the app serves). A provider of another class, which
    may write JSON its own way, writes the response itself, as do indented ones."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    provider = app.json
    if type(provider) is not DefaultJSONProvider or provider.compact is False \
            or (provider.compact is None and app.debug):
        response = provider.response(body)
        response.status_code = status
        return response
    made_for, encoder = app.extensions.get(_WIRE_ENCODER, (None, None))
    if made_for is not provider:  # first use, or `app.json` was replaced
        encoder = json.JSONEncoder(default=provider.default, ensure_ascii=provider.ensure_ascii,
                                   sort_keys=provider.sort_keys, separators=(",", ":"))
        app.extensions[_WIRE_ENCODER] = (provider, encoder)
    return app.response_class(
        f"{encoder.encode(body)}\n", status=status, mimetype=provider.mimetype)


_WIRE_ENCODER = "bridgeline.wire_json"


def iso(value: date | datetime | None) -> str | None:
    """A date or datetime as marshmallow's `format="iso"` writes it."""
    return None if value is None else value.isoformat()


def dumped_unchanged(schema: ma.Schema, body: Any) -> bool:
    """Whether `schema` reads `body` and writes it back unchanged: the wire form a view
    built is exactly the schema's (for tests of views that return `wire_json`)."""
    return bool(schema.dump(schema.load(body)) == body)
