"""Accommodation links against two instances of the service sharing the real PostgreSQL:
guesses made at the same moment through both are all counted and lock the network out of
both, and a link sent twice at the same moment opens one case."""

from __future__ import annotations

import re
import secrets
import threading

import pytest
from sqlalchemy import func, select

from accommodation.adapters.orm import accommodations
from shared.web.link_guard import link_guesses
from tests.support.integration import postgres_platform

pytestmark = pytest.mark.integration

ALICE = {"REMOTE_ADDR": "203.0.113.7"}
BUDGET = 30
THREADS_PER_INSTANCE, EACH = 3, 5
FORM = {"type": "schedule_change", "rows": "1", "windows-0-weekday": "mon",
        "windows-0-start": "17:15", "windows-0-end": "21:00", "start_date": "2027-01-04"}


@pytest.fixture
def instances(tmp_path, pg_database_url, unique_name):
    with postgres_platform(tmp_path, "accommodation", pg_database_url, unique_name,
                           env={"LINK_GUESS_BUDGET": str(BUDGET)}) as platform:
        employer = platform.directory.create_employer("Acme").id
        _, hr = platform.directory.create_client("hr", employer_id=employer)
        yield ([platform.app("accommodation"), platform.app("accommodation")],
               {"Authorization": f"Bearer {hr}"})


def together(calls):
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
    return [client.get(f"/a/{secrets.token_urlsafe(32)}", environ_base=ALICE).status_code
            for _ in range(EACH)]


def test_guesses_through_two_instances_are_all_counted_and_lock_out_in_both(instances):
    apps, _ = instances
    statuses = together([lambda app=app: guess(app) for app in apps
                         for _ in range(THREADS_PER_INSTANCE)])
    assert [s for batch in statuses for s in batch] == [404] * BUDGET
    with apps[1].extensions["bridgeline"].engine.connect() as conn:
        assert conn.execute(select(link_guesses.c.failures)).scalar_one() == BUDGET
    for app in apps:
        assert app.test_client().get(f"/a/{secrets.token_urlsafe(32)}",
                                     environ_base=ALICE).status_code == 429


def test_a_link_sent_twice_at_once_opens_one_case(instances):
    apps, hr = instances
    issued = apps[0].test_client().post("/v1/accommodation-links", headers=hr,
                                        json={"employee": {"external_id": "E-1"}})
    url = issued.json["url"]
    link = url[url.index("/a/"):]
    page = apps[0].test_client().get(link).get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page).group(1)
    statuses = together([lambda app=app: app.test_client().post(
        link, data={"csrf_token": csrf, **FORM}).status_code for app in apps])
    assert sorted(statuses) == [200, 409]
    with apps[0].extensions["bridgeline"].engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(accommodations)).scalar_one() == 1
