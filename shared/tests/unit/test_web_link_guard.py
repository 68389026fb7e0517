"""The guard against guessed link tokens (`shared.web.link_guard`) on SQLite: what a
client is counted as, the window's boundaries, isolation between clients, the keyed hash
that stands for an address, pruning, the settings, and the Flask glue."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Blueprint, Flask
from sqlalchemy import func, select

from shared.config import Settings
from shared.crypto import BlindIndex
from shared.db import make_engine
from shared.db.migrate import upgrade_service
from shared.services import migration_versions
from shared.web.link_guard import (
    GuessLimiter,
    client_network,
    guard_link_pages,
    link_guard_metadata,
    link_guesses,
)

T0 = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
ALICE, BOB = "203.0.113.7", "198.51.100.20"


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def engine(sqlite_url):
    engine = make_engine(sqlite_url)
    link_guard_metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def limiter(engine, clock):
    return GuessLimiter(engine, BlindIndex(b"k" * 32), "referral", budget=3, window=WINDOW,
                        clock=clock)


def fail(limiter, address, times):
    return [limiter.record_failure(address) for _ in range(times)][-1]


def rows(engine):
    with engine.connect() as conn:
        return conn.execute(select(link_guesses)).all()


# -- what a client is counted as ----------------------------------------------------------
@pytest.mark.parametrize(("address", "network"), [
    ("203.0.113.7", "203.0.113.7"),
    (" 203.0.113.7 ", "203.0.113.7"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
    ("::ffff:203.0.113.7", "203.0.113.7"),
    ("fe80::1%eth0", "fe80::/64"),
    (None, "unknown"), ("", "unknown"), ("not an address", "unknown"),
    ("203.0.113.7, 10.0.0.1", "unknown"),
])
def test_a_client_counts_as_its_ipv4_address_or_its_ipv6_64(address, network):
    assert client_network(address) == network


def test_one_ipv6_host_cannot_escape_by_changing_its_interface_id(limiter):
    for suffix in ("1", "2", "3"):
        limiter.record_failure(f"2001:db8:1:2::{suffix}")
    assert limiter.lockout("2001:db8:1:2::ffff") is not None
    assert limiter.lockout("2001:db8:1:3::1") is None


# -- the window ------------------------------------------------------------------------------
def test_under_the_budget_nothing_is_refused(limiter):
    assert limiter.lockout(ALICE) is None
    assert fail(limiter, ALICE, 2) == 2
    assert limiter.lockout(ALICE) is None


def test_at_the_budget_the_client_waits_until_its_window_ends(limiter, clock):
    limiter.record_failure(ALICE)
    clock.advance(minutes=5)
    assert fail(limiter, ALICE, 2) == 3
    # the window opened at the first failure: 10 minutes of it are left
    assert limiter.lockout(ALICE) == 600
    clock.advance(seconds=599.5)
    assert limiter.lockout(ALICE) == 1  # rounded up, never 0
    clock.advance(seconds=0.5)
    assert limiter.lockout(ALICE) is None  # the window has ended


def test_the_first_failure_after_the_window_opens_a_new_one(limiter, clock):
    fail(limiter, ALICE, 5)
    clock.advance(minutes=15)
    assert limiter.record_failure(ALICE) == 1
    assert limiter.lockout(ALICE) is None
    fail(limiter, ALICE, 2)
    assert limiter.lockout(ALICE) == 900
    (row,) = rows(limiter.engine)
    assert row.window_ends_at == clock.now + WINDOW


def test_a_failure_just_before_the_window_ends_still_counts_in_it(limiter, clock):
    limiter.record_failure(ALICE)
    clock.advance(seconds=899)
    assert fail(limiter, ALICE, 2) == 3
    assert limiter.lockout(ALICE) == 1


def test_clients_are_counted_apart(limiter):
    fail(limiter, ALICE, 3)
    assert limiter.lockout(ALICE) == 900
    assert limiter.lockout(BOB) is None
    assert limiter.record_failure(BOB) == 1


# -- the keyed hash ---------------------------------------------------------------------------
def test_only_a_keyed_hash_of_the_address_is_stored(limiter, engine, sqlite_url):
    limiter.record_failure(ALICE)
    (row,) = rows(engine)
    assert len(row.client_hash) == 64 and set(row.client_hash) <= set("0123456789abcdef")
    assert row.client_hash == limiter.client_hash(ALICE)
    engine.dispose()
    database = sqlite_url.removeprefix("sqlite:///")
    stored = b"".join(Path(path).read_bytes() for path in (database, database + "-wal")
                      if os.path.exists(path))
    assert ALICE.encode() not in stored


def test_the_hash_depends_on_the_key_and_the_service(engine):
    one = GuessLimiter(engine, BlindIndex(b"k" * 32), "referral")
    assert one.client_hash(ALICE) != GuessLimiter(engine, BlindIndex(b"j" * 32),
                                                   "referral").client_hash(ALICE)
    assert one.client_hash(ALICE) != GuessLimiter(engine, BlindIndex(b"k" * 32),
                                                   "accommodation").client_hash(ALICE)
    assert one.client_hash(ALICE) != one.client_hash(BOB)
    assert one.client_hash(ALICE) == one.client_hash("::ffff:" + ALICE)


# -- pruning -------------------------------------------------------------------------------
def test_prune_deletes_the_rows_whose_window_has_passed(limiter, clock, engine):
    limiter.record_failure(ALICE)
    clock.advance(minutes=10)
    limiter.record_failure(BOB)
    assert limiter.prune() == 0
    clock.advance(minutes=5)
    assert limiter.prune() == 1
    assert [r.client_hash for r in rows(engine)] == [limiter.client_hash(BOB)]
    clock.advance(minutes=10)
    assert limiter.prune() == 1
    assert rows(engine) == []


def test_recording_a_failure_prunes_at_most_once_a_minute(limiter, clock, engine):
    limiter.record_failure(ALICE)
    clock.advance(minutes=15)
    limiter.record_failure(BOB)  # over a minute since the last prune: Alice's lapsed row goes
    assert len(rows(engine)) == 1
    clock.advance(minutes=15)
    limiter.record_failure("192.0.2.1")  # a minute has passed: Bob's lapsed row goes
    assert len(rows(engine)) == 1
    clock.advance(minutes=15, seconds=-30)
    limiter.record_failure("192.0.2.2")
    clock.advance(seconds=30)  # "192.0.2.1" has lapsed, but the last prune was 30 s ago
    limiter.record_failure("192.0.2.3")
    assert len(rows(engine)) == 3


def test_concurrent_failures_on_sqlite_are_all_counted(engine, clock):
    limiter = GuessLimiter(engine, BlindIndex(b"k" * 32), "referral", budget=1000,
                           window=WINDOW, clock=clock)
    threads = [threading.Thread(target=fail, args=(limiter, ALICE, 10)) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as conn:
        assert conn.execute(select(func.sum(link_guesses.c.failures))).scalar() == 50


# -- settings and the migration ----------------------------------------------------------------
def test_the_settings_and_their_defaults(tmp_path):
    env = {"BRIDGELINE_VAR_DIR": str(tmp_path)}
    s = Settings.from_env("referral", env)
    assert (s.link_guess_budget, s.link_guess_window_seconds, s.trusted_proxy_hops) == (20, 900, 0)
    limiter = GuessLimiter.from_settings(s, None, BlindIndex(b"k" * 32))  # type: ignore[arg-type]
    assert (limiter.budget, limiter.window, limiter.scope) == (20, WINDOW, "referral")
    s = Settings.from_env("referral", {**env, "LINK_GUESS_BUDGET": "5",
                                       "LINK_GUESS_WINDOW_SECONDS": "60",
                                       "TRUSTED_PROXY_HOPS": "1"})
    assert (s.link_guess_budget, s.link_guess_window_seconds, s.trusted_proxy_hops) == (5, 60, 1)


@pytest.mark.parametrize(("name", "value"), [
    ("LINK_GUESS_BUDGET", "0"), ("LINK_GUESS_BUDGET", "-1"), ("LINK_GUESS_BUDGET", "many"),
    ("LINK_GUESS_WINDOW_SECONDS", "0"), ("TRUSTED_PROXY_HOPS", "-1"),
])
def test_a_setting_that_would_switch_the_guard_off_is_refused(tmp_path, name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env("referral", {"BRIDGELINE_VAR_DIR": str(tmp_path), name: value})


@pytest.mark.parametrize("service", ["referral", "accommodation"])
def test_each_service_with_link_pages_migrates_the_table_as_declared(sqlite_url, service):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    upgrade_service(sqlite_url, migration_versions(service))
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = [d for d in compare_metadata(context, link_guard_metadata)
                           if "link_guesses" in repr(d)]
        assert differences == []
        limiter = GuessLimiter(engine, BlindIndex(b"k" * 32), service, budget=1)
        limiter.record_failure(ALICE)
        assert limiter.lockout(ALICE) == 900
    finally:
        engine.dispose()


# -- the Flask glue -------------------------------------------------------------------------
def glued_app(limiter):
    app = Flask(__name__)
    app.testing = True
    app.extensions["bridgeline"] = SimpleNamespace(link_guard=limiter)
    blp = Blueprint("pages", __name__)
    known = {"good"}

    @blp.get("/x/<token>")
    def link(token):
        return ("ok", 200) if token in known else ("gone", 410 if token == "old" else 404)

    @blp.get("/x/<token>/used")
    def used(token):
        return "used", 409

    @blp.get("/start/<employer_id>")
    def start(employer_id):
        return "unknown employer", 404

    guard_link_pages(blp, too_many=lambda seconds: (f"wait {seconds}", 429))
    app.register_blueprint(blp)
    return app.test_client()


def test_the_glue_counts_404_and_410_on_link_routes_and_answers_429_before_the_view(limiter):
    client = glued_app(limiter)
    alice = {"REMOTE_ADDR": ALICE}
    assert client.get("/x/nope", environ_base=alice).status_code == 404
    assert client.get("/x/old", environ_base=alice).status_code == 410
    for _ in range(5):
        assert client.get("/x/good/used", environ_base=alice).status_code == 409
        assert client.get("/start/emp_x", environ_base=alice).status_code == 404  # no token
    assert client.get("/x/good", environ_base=alice).status_code == 200
    assert client.get("/x/nope", environ_base=alice).status_code == 404
    refused = client.get("/x/good", environ_base=alice)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "900")
    assert refused.get_data(as_text=True) == "wait 900"
    assert client.get("/x/good", environ_base={"REMOTE_ADDR": BOB}).status_code == 200
    assert limiter.record_failure(ALICE) == 4  # the 429s did not count


def test_the_glue_refuses_to_serve_a_link_page_without_a_limiter():
    client = glued_app(None)
    with pytest.raises(RuntimeError, match="link_guard"):
        client.get("/x/good")
