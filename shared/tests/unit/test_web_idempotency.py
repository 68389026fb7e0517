import itertools
from datetime import UTC, datetime, timedelta

import marshmallow as ma
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from shared.web.app_factory import create_service_app
from shared.web.auth import requires_roles
from shared.web.idempotency import LEASE, IdempotencyStore, idempotency_keys, idempotent

counter = itertools.count(1)
things = Blueprint("things", __name__, url_prefix="/v1/things")


class ThingIn(ma.Schema):
    name = ma.fields.String(required=True)
    fail = ma.fields.Boolean(load_default=False)


@things.route("")
class Things(MethodView):
    @requires_roles("hr")
    @idempotent
    @things.arguments(ThingIn)
    @things.response(201)
    def post(self, data):
        """Create a thing"""
        if data["fail"]:
            from shared.web.problems import Problem

            raise Problem(409, "Conflict", detail="refused")
        return {"id": f"thg_{next(counter)}", "name": data["name"],
                "secret_link": "https://x.example/r/SuperSecretToken123"}


@pytest.fixture
def env(platform):
    runtime = platform.runtime("referral")
    app = create_service_app(runtime, title="t", description="d", blueprints=[things])
    client = app.test_client()
    hr = {"Authorization": f"Bearer {platform.client_token('hr')}"}
    return client, hr, runtime


def post(client, headers, key, body):
    return client.post("/v1/things", json=body, headers={**headers, "Idempotency-Key": key})


def test_same_key_and_body_replays_the_first_response(env):
    client, hr, _ = env
    first = post(client, hr, "k-1", {"name": "a"})
    again = post(client, hr, "k-1", {"name": "a"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


def test_same_key_with_a_different_body_is_422(env):
    client, hr, _ = env
    post(client, hr, "k-2", {"name": "a"})
    response = post(client, hr, "k-2", {"name": "b"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_keys_are_scoped_to_the_client(env, platform):
    client, hr, _ = env
    other = {"Authorization": f"Bearer {platform.client_token('hr')}"}
    a = post(client, hr, "shared-key", {"name": "a"})
    b = post(client, other, "shared-key", {"name": "a"})
    assert a.get_json()["id"] != b.get_json()["id"]


def test_without_a_key_every_post_creates(env):
    client, hr, _ = env
    ids = {client.post("/v1/things", json={"name": "a"}, headers=hr).get_json()["id"] for _ in range(3)}
    assert len(ids) == 3


def test_failed_requests_are_not_remembered(env):
    client, hr, _ = env
    assert post(client, hr, "k-3", {"name": "a", "fail": True}).status_code == 409
    assert post(client, hr, "k-3", {"name": "a", "fail": True}).status_code == 409  # retried, not replayed
    assert post(client, hr, "k-3", {"name": "b"}).status_code == 201  # key free for a new request


def test_bad_keys_are_400(env):
    client, hr, _ = env
    for bad in ["", "x" * 256, "has space", "tab\there"]:
        response = client.post("/v1/things", json={"name": "a"}, headers={**hr, "Idempotency-Key": bad})
        assert response.status_code == 400, bad


def test_stored_responses_and_keys_are_not_in_plaintext(env):
    client, hr, runtime = env
    post(client, hr, "my-readable-key", {"name": "a"})
    with runtime.engine.connect() as conn:
        row = conn.execute(select(idempotency_keys)).one()
    dumped = repr(tuple(row))
    assert "SuperSecretToken123" not in dumped
    assert "my-readable-key" not in dumped


def test_reservation_lifecycle(platform):
    runtime = platform.runtime("referral")
    store = IdempotencyStore(runtime.engine, runtime.cipher)
    now = datetime(2027, 1, 4, 9, tzinfo=UTC)
    assert store.reserve("cli_a", "h1", "r1", now) == ("new", None)
    assert store.reserve("cli_a", "h1", "r1", now + timedelta(seconds=1)) == ("busy", None)
    # a reservation whose request died is taken over after the lease
    assert store.reserve("cli_a", "h1", "r1", now + LEASE + timedelta(seconds=2)) == ("new", None)
    store.complete("cli_a", "h1", 201, '{"id": "x"}')
    assert store.reserve("cli_a", "h1", "r1", now + timedelta(hours=1)) == ("replay", (201, '{"id": "x"}'))
    assert store.reserve("cli_a", "h1", "r2", now + timedelta(hours=1)) == ("mismatch", None)
    # kept 24 hours, then the key is free again
    assert store.reserve("cli_a", "h1", "r2", now + timedelta(hours=24, seconds=1)) == ("new", None)
    assert store.prune(now + timedelta(days=3)) == 1


def test_expired_keys_and_their_responses_are_pruned_in_batches_by_the_worker(platform):
    import threading
    import time

    from shared.worker import platform_tasks

    runtime = platform.runtime("referral")
    store = IdempotencyStore(runtime.engine, runtime.cipher)
    long_ago = datetime.now(UTC) - timedelta(days=2)
    for n in range(5):
        assert store.reserve("cli_a", f"old{n}", "r", long_ago) == ("new", None)
        store.complete("cli_a", f"old{n}", 201, '{"link": {"url": "secret"}}')
    assert store.reserve("cli_a", "fresh", "r", datetime.now(UTC)) == ("new", None)

    def keys():
        with runtime.engine.connect() as conn:
            return sorted(conn.execute(select(idempotency_keys.c.key_hash)).scalars())

    assert store.prune(datetime.now(UTC), limit=2) == 2
    assert len(keys()) == 4
    (task,) = [t for t in platform_tasks(runtime, {}) if t.name == "idempotency"]
    stop = threading.Event()
    thread = threading.Thread(target=task.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while keys() != ["fresh"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert keys() == ["fresh"]
    assert store.prune(datetime.now(UTC)) == 0
