"""wire_json writes exactly what Flask's `jsonify` writes, with its own status."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify

from shared.web.wire import wire_json

BODIES: list[Any] = [
    {"b": 1, "a": {"z": None, "y": [1, 2.5, True]}, "name": "Zoë ✓ \"quoted\" \n"},
    [{"id": "ref_1"}, {"id": "ref_2"}],
    {},
]


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("body", BODIES)
def test_the_body_headers_and_status_are_jsonifys(body, debug):
    app = Flask(__name__)
    app.debug = debug  # jsonify indents in debug mode, and so does wire_json
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
