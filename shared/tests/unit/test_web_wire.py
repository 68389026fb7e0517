"""wire_json writes exactly what Flask's `jsonify` writes, with its own status."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask, jsonify
from flask.json.provider import DefaultJSONProvider

from shared.web.wire import wire_json

BODIES: list[Any] = [
    {"b": 1, "a": {"z": None, "y": [1, 2.5, True]}, "name": "Zoë ✓ \"quoted\" \n"},
    [{"id": "ref_1"}, {"id": "ref_2"}],
    {},
    # what JSON has no type for goes through the provider's `default`, as in jsonify
    {"at": datetime(2026, 11, 27, 9, 30, tzinfo=UTC), "on": date(2026, 11, 27),
     "id": uuid.UUID(int=7)},
]


@pytest.mark.parametrize("layout", ["compact", "debug", "indented"])
@pytest.mark.parametrize("body", BODIES)
def test_the_body_headers_and_status_are_jsonifys(body, layout):
    app = Flask(__name__)
    app.debug = layout == "debug"  # jsonify indents in debug mode, and so does wire_json
    if layout == "indented":
        app.json.compact = False
    with app.test_request_context():
        expected = jsonify(body)
        for _ in range(2):  # the encoder made on first use gives the same bytes after
            got = wire_json(body, 201)
            assert got.get_data() == expected.get_data()
            assert got.status_code == 201
            assert got.mimetype == expected.mimetype == "application/json"
            assert got.headers["Content-Length"] == expected.headers["Content-Length"]


def test_the_apps_own_json_settings_are_kept():
    app = Flask(__name__)
    app.json.sort_keys = False
    app.json.ensure_ascii = False
    with app.test_request_context():
        assert wire_json({"b": "é", "a": 1}).get_data() == b'{"b":"\xc3\xa9","a":1}\n'


def test_a_replaced_provider_is_used_from_then_on():
    app = Flask(__name__)
    with app.test_request_context():
        assert wire_json({"b": 1, "a": 2}).get_data() == b'{"a":2,"b":1}\n'
        app.json = DefaultJSONProvider(app)
        app.json.sort_keys = False
        assert wire_json({"b": 1, "a": 2}).get_data() == b'{"b":1,"a":2}\n'


def test_a_provider_of_its_own_class_writes_the_response_itself():
    class Redacting(DefaultJSONProvider):
        def dumps(self, obj: Any, **kwargs: Any) -> str:
            return super().dumps({key: "***" for key in obj}, **kwargs)

    app = Flask(__name__)
    app.json = Redacting(app)
    with app.test_request_context():
        response = wire_json({"a": "secret"}, 202)
        assert response.get_data() == b'{"a":"***"}\n' and response.status_code == 202
