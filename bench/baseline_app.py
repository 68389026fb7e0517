"""The HTTP baseline: a bare Flask app with one JSON endpoint and nothing else (no
database, no auth, no schema, no logging), served by `bench/http_bench.py` under the same
gunicorn settings as the services.

    GET  /v1/things/<id>   → 200 {"id": ..., "status": "ok", "kind": "formal"}
    POST /v1/things        → 201 the JSON body it was sent, parsed and re-encoded

    gunicorn --pythonpath bench 'baseline_app:create_app()'
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request


def create_app() -> Flask:
    app = Flask("baseline")

    @app.get("/v1/things/<thing_id>")
    def get_thing(thing_id: str) -> Any:
        return jsonify({"id": thing_id, "status": "ok", "kind": "formal"})

    @app.post("/v1/things")
    def post_thing() -> Any:
        return jsonify(request.get_json()), 201

    @app.get("/healthz")
    def healthz() -> Any:
        return jsonify({"status": "ok"})

    return app
