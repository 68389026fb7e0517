"""The HTTP baseline: a bare Flask app with one JSON endpoint and nothing else (no
database, no auth, no schema, no logging), served by `bench/http_bench.py` under the same
gunicorn settings as the services.

    GET  /v1/things/<id>       → 200 {"id": ..., "status": "ok", "kind": "formal"}
    POST /v1/things            → 201 the JSON body it was sent, parsed and re-encoded
    GET  /v1/things/<id>/row   → 200 one referral row read by primary key (only when
                                 BASELINE_DATABASE_URL names a referral database)

    gunicorn --pythonpath bench 'baseline_app:create_app()'

The third endpoint is the floor under `GET /v1/referrals/{id}`: the one database read
that view cannot do without, done as cheaply as Python can (a psycopg connection per
thread, the statement run by libpq's one blocking call for it as the services'
`DirectStatement` runs it, the row loaded by psycopg's adapters; no pool, no
ORM, no auth, no decryption, no logging), so the bench can tell what the read itself
costs on this machine from what the service adds around it.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from flask import Flask, abort, jsonify, request

ROW = (b"SELECT id, kind, state, provider_id, created_at FROM referrals "
       b"WHERE id = $1")


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

    database = os.environ.get("BASELINE_DATABASE_URL")
    if database:
        _add_row_endpoint(app, database)
    return app


def _add_row_endpoint(app: Flask, database: str) -> None:
    import psycopg
    from psycopg.adapt import Transformer

    local = threading.local()

    def read(thing_id: str) -> Any:
        if getattr(local, "link", None) is None:
            conn = psycopg.connect(database, autocommit=True)
            local.link = (conn, Transformer(conn))
        conn, tx = local.link
        result = conn.pgconn.exec_params(ROW, [thing_id.encode()])
        if result.status != psycopg.pq.ExecStatus.TUPLES_OK:
            raise psycopg.errors.error_from_result(result)
        if not result.ntuples:
            return None
        tx.set_pgresult(result)
        return tx.load_row(0, tuple)

    @app.get("/v1/things/<thing_id>/row")
    def get_row(thing_id: str) -> Any:
        row = read(thing_id)
        if row is None:
            abort(404)
        return jsonify({"id": row[0], "kind": row[1], "status": row[2],
                        "provider_id": row[3], "created_at": row[4].isoformat()})
