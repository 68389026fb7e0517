"""Guessing accommodation links (`shared.web.link_guard` on `/a/<token>`), through the
Flask test client on a wired app (SQLite), with the default budget of 20 failures per 15
minutes: a network that fails 20 lookups gets a 429 page with `Retry-After`, for valid
links too, until its window ends; another network is not affected. Unknown, expired and
used links each get one page that says nothing more than its status, and a link sends
one request."""

from __future__ import annotations

import html
import re
import secrets
from datetime import UTC, datetime, timedelta

import pytest

ALICE = {"REMOTE_ADDR": "203.0.113.7"}
BOB = {"REMOTE_ADDR": "2001:db8:7:7::1"}
BUDGET = 20
GOOD = {"type": "schedule_change", "rows": "1", "windows-0-weekday": "mon",
        "windows-0-start": "17:15", "windows-0-end": "21:00", "start_date": "2027-01-04"}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def guard(acc):
    limiter = acc.app.extensions["bridgeline"].link_guard
    limiter.clock = Clock()
    return limiter


def issue_link(acc, ttl_days=None):
    body = {"employee": {"external_id": "E-1"}, **({"ttl_days": ttl_days} if ttl_days else {})}
    response = acc.client.post("/v1/accommodation-links", json=body, headers=acc.as_("hr"))
    assert response.status_code == 201, response.json
    url = response.json["url"]
    return url[url.index("/a/"):]


def text(response):
    return html.unescape(response.get_data(as_text=True))


def csrf_of(response):
    return re.search(r'name="csrf_token" value="([0-9a-f]{64})"', text(response)).group(1)


def unknown():
    return f"/a/{secrets.token_urlsafe(32)}"


def cases(acc):
    return acc.client.get("/v1/accommodations", headers=acc.as_("specialist")).json["data"]


def exhaust(acc, who=ALICE):
    for i in range(BUDGET):
        assert acc.client.get(unknown(), environ_base=who).status_code == 404, i


def comparable(response):
    headers = sorted((k, v) for k, v in response.headers.items() if k != "X-Request-Id")
    return response.status_code, headers, response.get_data()


def assert_too_many(response, seconds=900):
    assert response.status_code == 429
    assert response.headers["Retry-After"] == str(seconds)
    assert response.mimetype == "text/html"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"
    page = text(response)
    assert '<html lang="en">' in page and 'href="#main"' in page
    assert "<h1>Please wait before trying again</h1>" in page
    assert "Try again in about 15 minutes" in page
    assert "<script" not in page and "style=" not in page


def test_after_20_unknown_links_the_link_is_a_429_even_when_valid(acc, guard):
    link = issue_link(acc)
    csrf = csrf_of(acc.client.get(link, environ_base=BOB))
    exhaust(acc)
    assert_too_many(acc.client.get(unknown(), environ_base=ALICE))
    assert_too_many(acc.client.get(link, environ_base=ALICE))
    assert_too_many(acc.client.post(link, data={"csrf_token": csrf, **GOOD},
                                    environ_base=ALICE))
    assert comparable(acc.client.get(link, environ_base=ALICE)) \
        == comparable(acc.client.get(unknown(), environ_base=ALICE))
    assert cases(acc) == []  # nothing was sent, and the link is still usable
    assert acc.client.post(link, data={"csrf_token": csrf, **GOOD},
                           environ_base=BOB).status_code == 200


def test_another_network_is_not_locked_out(acc, guard):
    link = issue_link(acc)
    exhaust(acc)
    assert acc.client.get(link, environ_base=BOB).status_code == 200
    assert acc.client.get(unknown(), environ_base=BOB).status_code == 404


def test_the_lockout_ends_with_the_window(acc, guard):
    link = issue_link(acc)
    exhaust(acc)
    guard.clock.now += timedelta(seconds=899)
    assert acc.client.get(link, environ_base=ALICE).headers["Retry-After"] == "1"
    guard.clock.now += timedelta(seconds=1)
    assert acc.client.get(link, environ_base=ALICE).status_code == 200


def test_expired_links_count_and_used_links_do_not(acc, guard):
    used = issue_link(acc)
    csrf = csrf_of(acc.client.get(used, environ_base=ALICE))
    assert acc.client.post(used, data={"csrf_token": csrf, **GOOD},
                           environ_base=ALICE).status_code == 200
    for _ in range(BUDGET + 5):
        assert acc.client.get(used, environ_base=ALICE).status_code == 409
    expired = issue_link(acc, ttl_days=1)
    now = acc.services.clock()
    acc.services.clock = lambda: now + timedelta(days=2)
    for _ in range(BUDGET):
        assert acc.client.get(expired, environ_base=ALICE).status_code == 410
    assert_too_many(acc.client.get(expired, environ_base=ALICE))


def test_every_unknown_link_gets_the_same_404(acc):
    pages = [acc.client.get(unknown(), environ_base=ALICE),
             acc.client.get(unknown(), environ_base=BOB),
             acc.client.get("/a/short", environ_base=ALICE),
             acc.client.get("/a/%00", environ_base=ALICE),
             acc.client.post(unknown(), data={}, environ_base=ALICE)]
    first = comparable(pages[0])
    assert first[0] == 404
    assert all(comparable(p) == first for p in pages[:4])
    # a post is refused for its missing CSRF token before any lookup: 403, for any token
    assert pages[4].status_code == 403
    assert "Retry-After" not in dict(first[1]) and "Set-Cookie" not in dict(first[1])


def test_every_expired_link_gets_the_same_410_and_every_used_one_the_same_409(acc):
    expired = [issue_link(acc, ttl_days=1), issue_link(acc, ttl_days=2)]
    used = [issue_link(acc), issue_link(acc)]
    for link in used:
        csrf = csrf_of(acc.client.get(link, environ_base=BOB))
        assert acc.client.post(link, data={"csrf_token": csrf, **GOOD},
                               environ_base=BOB).status_code == 200
    now = acc.services.clock()
    acc.services.clock = lambda: now + timedelta(days=3)
    gone = [comparable(acc.client.get(link, environ_base=ALICE)) for link in expired]
    assert gone[0][0] == 410 and gone[0] == gone[1]
    answered = [comparable(acc.client.get(link, environ_base=ALICE)) for link in used]
    assert answered[0][0] == 409 and answered[0] == answered[1]


def test_a_link_sends_one_request(acc):
    link = issue_link(acc)
    csrf = csrf_of(acc.client.get(link, environ_base=BOB))
    first = acc.client.post(link, data={"csrf_token": csrf, **GOOD}, environ_base=BOB)
    assert first.status_code == 200
    again = acc.client.post(link, data={"csrf_token": csrf, **GOOD, "type": "remote_work"},
                            environ_base=BOB)
    assert again.status_code == 409 and "This link was already used" in text(again)
    (case,) = cases(acc)
    assert case["type"] == "schedule_change"
