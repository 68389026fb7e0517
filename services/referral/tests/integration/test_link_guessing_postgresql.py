"""Guessing referral links against two instances of the referral service sharing the real
PostgreSQL: failures made at the same moment through both are all counted, and the
lockout one instance imposes holds in the other. A link accepted twice at the same
moment is answered once."""

from __future__ import annotations

import re
import secrets
import threading

import pytest
from sqlalchemy import select

from shared.messaging.tables import outbox
from shared.web.link_guard import link_guesses
from tests.support.integration import postgres_platform

pytestmark = pytest.mark.integration

ALICE = {"REMOTE_ADDR": "203.0.113.7"}
BUDGET = 40
THREADS_PER_INSTANCE, EACH = 4, 5


@pytest.fixture
def instances(tmp_path, pg_database_url, unique_name):
    """Two apps (as two hosts or gunicorn workers: separate engines) on one database."""
    with postgres_platform(tmp_path, "referral", pg_database_url, unique_name,
                           env={"LINK_GUESS_BUDGET": str(BUDGET)}) as platform:
        employer = platform.directory.create_employer("Acme").id
        provider = platform.directory.create_provider("Evening IOP").id
        _, token = platform.directory.create_client("hr", employer_id=employer)
        apps = [platform.app("referral"), platform.app("referral")]
        yield apps, provider, {"Authorization": f"Bearer {token}"}


def together(calls):
    """Run the calls in threads released at once; their results, in order."""
    start = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i):
        start.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def guess(app):
    client = app.test_client()
    return [client.get(f"/r/{secrets.token_urlsafe(32)}", environ_base=ALICE).status_code
            for _ in range(EACH)]


def test_failures_through_two_instances_are_all_counted_and_lock_out_in_both(instances):
    apps, _, _ = instances
    statuses = together([lambda app=app: guess(app) for app in apps
                         for _ in range(THREADS_PER_INSTANCE)])
    assert [s for batch in statuses for s in batch] == [404] * BUDGET
    engine = apps[0].extensions["bridgeline"].engine
    with engine.connect() as conn:
        assert conn.execute(select(link_guesses.c.failures)).scalar_one() == BUDGET
    for app in apps:
        refused = app.test_client().get(f"/r/{secrets.token_urlsafe(32)}", environ_base=ALICE)
        assert refused.status_code == 429
        assert 895 <= int(refused.headers["Retry-After"]) <= 900  # the window, less any second gone by


def test_a_link_accepted_twice_at_once_is_answered_once(instances):
    apps, provider, hr = instances
    created = apps[0].test_client().post("/v1/referrals", headers=hr, json={
        "employee": {"external_id": "E-1", "name": "Ana Lima", "email": "ana@example.com"},
        "kind": "formal", "provider_id": provider})
    url = created.json["link"]["url"]
    link = url[url.index("/r/"):]
    page = apps[0].test_client().get(link).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page).group(1)
    form = {"csrf_token": csrf, "scopes": ["participation"], "signature": "Ana Lima"}
    statuses = together([lambda app=app: app.test_client().post(f"{link}/accept",
                                                                data=form).status_code
                         for app in apps])
    assert sorted(statuses) == [200, 409]
    engine = apps[0].extensions["bridgeline"].engine
    with engine.connect() as conn:
        types = list(conn.execute(select(outbox.c.event_type)).scalars())
    assert types.count("referral.accepted") == 1 and types.count("consent.granted") == 1
