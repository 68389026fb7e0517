"""Guessing referral and manage links (`shared.web.link_guard` on the referral pages),
through the Flask test client on a wired app (SQLite), with the default budget of 20
failures per 15 minutes: a network that fails 20 lookups gets a 429 page with
`Retry-After` on every link route, valid links included, until its window ends; another
network is not affected; `X-Forwarded-For` counts only behind trusted proxies. Unknown,
expired and answered links each get one page that says nothing more than its status, and
a link is answered once."""

from __future__ import annotations

import dataclasses
import html
import re
import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from referral.bootstrap import worker_tasks
from shared.messaging.tables import outbox
from shared.web.link_guard import link_guesses

ALICE = {"REMOTE_ADDR": "203.0.113.7"}
BOB = {"REMOTE_ADDR": "198.51.100.20"}
BUDGET = 20
CSP = ("default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def wired(platform, **settings):
    if settings:
        platform.settings["referral"] = dataclasses.replace(platform.settings["referral"],
                                                           **settings)
    employer = platform.directory.create_employer("Acme").id
    provider = platform.directory.create_provider("Evening IOP").id
    _, hr_token = platform.directory.create_client("hr", employer_id=employer)
    app = platform.app("referral")
    runtime = app.extensions["bridgeline"]
    runtime.link_guard.clock = Clock()
    return SimpleNamespace(app=app, client=app.test_client(), provider=provider,
                           hr={"Authorization": f"Bearer {hr_token}"},
                           services=runtime.domain, guard=runtime.link_guard,
                           base=runtime.settings.public_base_url)


@pytest.fixture
def world(platform):
    return wired(platform)


def refer(world, ttl_days=14):
    """A referral from HR: (its id, the path of its link)."""
    response = world.client.post("/v1/referrals", headers=world.hr, json={
        "employee": {"external_id": "E-1", "name": "Ana Lima", "email": "ana@example.com"},
        "kind": "formal", "provider_id": world.provider, "link_ttl_days": ttl_days})
    assert response.status_code == 201, response.json
    url = response.json["link"]["url"]
    return response.json["id"], url[url.index("/r/"):]


def text(response):
    return html.unescape(response.get_data(as_text=True))


def csrf_of(response):
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', text(response)).group(1)


def accept(world, link, who=BOB, **fields):
    form = {"csrf_token": csrf_of(world.client.get(link, environ_base=who)), **fields}
    return world.client.post(f"{link}/accept", data=form, environ_base=who)


def manage_path(world, response):
    match = re.search(r'href="([^"]+/m/[A-Za-z0-9_-]{43})"', text(response))
    return match.group(1)[len(world.base):]


def unknown():
    return secrets.token_urlsafe(32)


def hr_status(world, referral_id):
    return world.client.get(f"/v1/referrals/{referral_id}", headers=world.hr).json["status"]


def events(world):
    with world.services.engine.connect() as conn:
        return sorted(conn.execute(select(outbox.c.event_type)).scalars())


def stored_rows(world):
    with world.services.engine.connect() as conn:
        return conn.execute(select(link_guesses)).all()


def exhaust(world, who=ALICE, paths=None):
    """Use up `who`'s budget with unknown links: every one of them is a plain 404."""
    for i in range(BUDGET):
        path = paths[i % len(paths)] if paths else f"/r/{unknown()}"
        response = world.client.get(path, environ_base=who)
        assert response.status_code == 404, i


def assert_too_many(response, minutes=15, seconds=900):
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(seconds)
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CSP
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    page = text(response)
    assert '<html lang="en">' in page and 'href="#main"' in page and "<main" in page
    assert "<h1>Please wait before trying again</h1>" in page
    assert f"Try again in about {minutes} minutes" in page


def comparable(response):
    """Everything a client sees of a response, but the per-request id."""
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-Id")
    return response.status_code, headers, response.get_data()


# -- the budget ----------------------------------------------------------------------------
def test_after_20_unknown_links_every_link_route_is_a_429_valid_links_included(world):
    referral_id, link = refer(world)
    _, answered = refer(world)
    manage = manage_path(world, accept(world, answered, scopes=["participation"],
                                       signature="Ana Lima"))
    csrf, manage_csrf = (csrf_of(world.client.get(p, environ_base=BOB))
                         for p in (link, manage))
    exhaust(world)
    for response in (
            world.client.get(f"/r/{unknown()}", environ_base=ALICE),
            world.client.get(link, environ_base=ALICE),
            world.client.post(f"{link}/preview", data={}, environ_base=ALICE),
            world.client.post(f"{link}/accept", data={"csrf_token": csrf}, environ_base=ALICE),
            world.client.post(f"{link}/decline", data={"csrf_token": csrf}, environ_base=ALICE),
            world.client.get(manage, environ_base=ALICE),
            world.client.post(f"{manage}/revoke", data={"csrf_token": manage_csrf},
                              environ_base=ALICE)):
        assert_too_many(response)
    # nothing was looked up, let alone applied
    assert hr_status(world, referral_id) == "invited"
    assert "consent.revoked" not in events(world)


def test_a_locked_out_network_cannot_tell_a_valid_link_from_an_unknown_one(world):
    _, link = refer(world)
    exhaust(world)
    assert comparable(world.client.get(link, environ_base=ALICE)) \
        == comparable(world.client.get(f"/r/{unknown()}", environ_base=ALICE))


def test_another_network_is_not_locked_out(world):
    referral_id, link = refer(world)
    exhaust(world)
    assert world.client.get(link, environ_base=BOB).status_code == 200
    assert world.client.get(f"/r/{unknown()}", environ_base=BOB).status_code == 404
    assert accept(world, link, who=BOB, scopes=["participation"],
                  signature="Ana Lima").status_code == 200
    assert hr_status(world, referral_id) == "accepted"


def test_the_lockout_lasts_until_the_window_ends_and_says_how_long(world):
    _, link = refer(world)
    exhaust(world)
    world.guard.clock.now += timedelta(minutes=10, seconds=30)
    assert_too_many(world.client.get(link, environ_base=ALICE), minutes=5, seconds=270)
    world.guard.clock.now += timedelta(seconds=270)
    assert world.client.get(link, environ_base=ALICE).status_code == 200
    # a new window, with the whole budget again
    exhaust(world)
    assert world.client.get(link, environ_base=ALICE).status_code == 429


def test_expired_links_count_as_failures_too(world):
    _, link = refer(world, ttl_days=1)
    now = world.services.clock()
    world.services.clock = lambda: now + timedelta(days=2)
    for _ in range(BUDGET):
        assert world.client.get(link, environ_base=ALICE).status_code == 410
    assert_too_many(world.client.get(link, environ_base=ALICE))


def test_referral_and_manage_links_share_one_budget(world):
    exhaust(world, paths=[f"/r/{unknown()}", f"/m/{unknown()}", "/r/short", "/m/%00"])
    assert_too_many(world.client.get(f"/m/{unknown()}", environ_base=ALICE))


def test_answered_links_and_refused_forms_do_not_count(world):
    _, link = refer(world)
    csrf = csrf_of(world.client.get(link, environ_base=ALICE))
    assert accept(world, link, who=ALICE).status_code == 200
    for _ in range(BUDGET + 5):
        assert world.client.get(link, environ_base=ALICE).status_code == 409
        assert world.client.post(f"{link}/accept", data={"csrf_token": "0" * 64},
                                 environ_base=ALICE).status_code == 403
    assert world.client.post(f"{link}/decline", data={"csrf_token": csrf},
                             environ_base=ALICE).status_code == 409
    assert world.guard.record_failure(ALICE["REMOTE_ADDR"]) == 1


def test_the_self_referral_page_is_not_a_link_route(world):
    for _ in range(BUDGET + 5):
        assert world.client.get("/start/emp_unknown", environ_base=ALICE).status_code == 404
    assert world.client.get(f"/r/{unknown()}", environ_base=ALICE).status_code == 404


def test_only_a_keyed_hash_of_the_address_is_stored(world):
    exhaust(world)
    (row,) = stored_rows(world)
    assert row.client_hash == world.guard.client_hash(ALICE["REMOTE_ADDR"])
    assert ALICE["REMOTE_ADDR"] not in repr(tuple(row))
    assert row.failures == BUDGET


# -- which address counts --------------------------------------------------------------------
def test_x_forwarded_for_is_ignored_without_trusted_proxies(world):
    _, link = refer(world)
    for i in range(BUDGET):
        response = world.client.get(f"/r/{unknown()}", environ_base=ALICE,
                                    headers={"X-Forwarded-For": f"192.0.2.{i}"})
        assert response.status_code == 404
    assert_too_many(world.client.get(link, environ_base=ALICE,
                                     headers={"X-Forwarded-For": "198.51.100.20"}))


def test_behind_a_trusted_proxy_the_forwarded_address_counts(platform):
    world = wired(platform, trusted_proxy_hops=1)
    _, link = refer(world)
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(BUDGET):
        assert world.client.get(f"/r/{unknown()}", environ_base=proxy,
                                headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 404
    # the guesser adds an address of its own; the proxy appends the one it saw
    assert_too_many(world.client.get(link, environ_base=proxy, headers={
        "X-Forwarded-For": "198.51.100.20, 203.0.113.7"}))
    assert world.client.get(link, environ_base=proxy, headers={
        "X-Forwarded-For": "198.51.100.20"}).status_code == 200


# -- unknown, expired and answered links each look one way ----------------------------------
def test_every_unknown_link_gets_the_same_404(world):
    pages = [world.client.get(f"/r/{unknown()}", environ_base=ALICE),
             world.client.get(f"/r/{unknown()}", environ_base=BOB),
             world.client.get("/r/short", environ_base=ALICE),
             world.client.get("/r/%00", environ_base=ALICE),
             world.client.get(f"/m/{unknown()}", environ_base=ALICE),
             world.client.post(f"/r/{unknown()}/preview", data={}, environ_base=ALICE)]
    first = comparable(pages[0])
    assert first[0] == 404
    assert all(comparable(p) == first for p in pages)
    headers = dict(first[1])
    assert headers["Cache-Control"] == "no-store"
    assert "Retry-After" not in headers and "Set-Cookie" not in headers
    assert "We could not find this page" in text(pages[0])


def test_every_expired_link_gets_the_same_410(world):
    _, swept = refer(world, ttl_days=1)
    start = world.services.clock()
    world.services.clock = lambda: start + timedelta(days=2)
    assert world.services.expire_due() >= 1  # the worker marked this one expired
    _, lapsed = refer(world, ttl_days=1)     # this one only ran out of time
    world.services.clock = lambda: start + timedelta(days=4)
    pages = [world.client.get(swept, environ_base=ALICE),
             world.client.get(lapsed, environ_base=ALICE),
             world.client.get(lapsed, environ_base=BOB),
             world.client.post(f"{lapsed}/preview", data={}, environ_base=ALICE)]
    first = comparable(pages[0])
    assert first[0] == 410
    assert all(comparable(p) == first for p in pages)
    assert "Retry-After" not in dict(first[1])
    assert "This link has expired" in text(pages[0])


def test_every_answered_link_gets_the_same_409(world):
    _, accepted = refer(world)
    _, declined = refer(world)
    assert accept(world, accepted).status_code == 200
    csrf = csrf_of(world.client.get(declined, environ_base=BOB))
    assert world.client.post(f"{declined}/decline", data={"csrf_token": csrf},
                             environ_base=BOB).status_code == 200
    first = comparable(world.client.get(accepted, environ_base=ALICE))
    assert first[0] == 409
    assert comparable(world.client.get(declined, environ_base=ALICE)) == first


# -- single use -------------------------------------------------------------------------------
def test_a_link_is_answered_once(world):
    referral_id, link = refer(world)
    csrf = csrf_of(world.client.get(link, environ_base=BOB))
    first = accept(world, link, scopes=["participation"], signature="Ana Lima")
    assert first.status_code == 200
    manage = manage_path(world, first)
    form = {"csrf_token": csrf, "scopes": ["participation", "completion"],
            "signature": "Ana Lima"}
    again = world.client.post(f"{link}/accept", data=form, environ_base=BOB)
    assert again.status_code == 409 and "already answered" in text(again)
    declined = world.client.post(f"{link}/decline", data={"csrf_token": csrf},
                                 environ_base=BOB)
    assert declined.status_code == 409
    view = world.client.get(f"/v1/referrals/{referral_id}", headers=world.hr).json
    assert view["consent"]["scopes"] == ["participation"]
    assert events(world) == ["consent.granted", "referral.accepted", "referral.created"]
    assert world.client.get(manage, environ_base=BOB).status_code == 200  # still the first


def test_a_declined_link_cannot_be_accepted_afterwards(world):
    referral_id, link = refer(world)
    csrf = csrf_of(world.client.get(link, environ_base=BOB))
    assert world.client.post(f"{link}/decline", data={"csrf_token": csrf},
                             environ_base=BOB).status_code == 200
    response = world.client.post(f"{link}/accept", data={
        "csrf_token": csrf, "scopes": ["participation"], "signature": "Ana Lima"},
        environ_base=BOB)
    assert response.status_code == 409
    assert events(world) == ["referral.created", "referral.declined"]
    assert hr_status(world, referral_id) == "invited"


def test_a_consent_is_revoked_once(world):
    _, link = refer(world)
    manage = manage_path(world, accept(world, link, scopes=["participation"],
                                       signature="Ana Lima"))
    csrf = csrf_of(world.client.get(manage, environ_base=BOB))
    for status in (200, 409, 409):
        response = world.client.post(f"{manage}/revoke", data={"csrf_token": csrf},
                                     environ_base=BOB)
        assert response.status_code == status
    assert events(world).count("consent.revoked") == 1



def test_the_worker_sweeps_the_rows_whose_window_has_passed(world):
    runtime = world.app.extensions["bridgeline"]
    (sweep,) = [t for t in worker_tasks(runtime) if t.name == "link-guard"]
    exhaust(world)
    world.guard.clock.now += timedelta(minutes=15)
    stop = threading.Event()
    thread = threading.Thread(target=sweep.run, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while stored_rows(world) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert stored_rows(world) == []
