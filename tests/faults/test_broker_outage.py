"""RabbitMQ away for 20+ seconds in the middle of the story (issue 7, "Faults").

Every process reaches the broker through a proxy the test cuts: connections drop and new
ones are refused, as with a stopped broker. While it is away the REST APIs, the employee
pages and both directions of webhooks keep working, state changes pile up in the outboxes,
and `/readyz` says the broker is unavailable. Once it is back the story completes, and
the ledger is exact: every outbox row sent, every event once on the broker and in each
consumer's inbox, nothing dead-lettered, no attestation, webhook or disclosure twice.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select

from referral.adapters.orm import disclosures
from tests.faults.conftest import report
from tests.support.stack import SERVICES, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

OUTAGE_SECONDS = 20.0


def readyz(stack, service):
    try:
        return requests.get(stack.url(service, "/readyz"), timeout=10)
    except requests.RequestException:
        return None


def broker_reported_away(stack, service):
    response = readyz(stack, service)
    if response is None or response.status_code != 503:
        return None
    return [response]  # a 5xx Response is falsy


def test_broker_away_for_20_seconds_mid_story(faults):
    stack = faults.stack
    started = datetime.now(UTC)
    story = faults.story()
    with story.receivers():
        # -- the first half, with the broker up; then everything settles ---------------
        story.until_the_provider_has_the_referral()
        before = faults.settled(started)
        inboxes_before = {s: len(before.inboxes[s]) for s in SERVICES}

        # -- the broker goes away ---------------------------------------------------------
        faults.amqp_proxy.cut()
        cut_at = time.monotonic()
        try:
            for service in SERVICES:
                (down,) = wait_for(lambda s=service: broker_reported_away(stack, s), 15)
                assert down.headers["Content-Type"] == "application/problem+json"
                body = down.json()
                assert body["status"] == 503 and body["checks"] == {
                    "database": "ok", "directory": "ok", "broker": "unavailable"}, body

            # State changes keep coming in: the provider's attendance and enrollment, a
            # schedule check, a colleague referred who consents on her link page.
            story.provider_reports_enrollment()
            story.schedule_conflicts()
            colleague = {"external_id": f"{story.employee['external_id']}-O",
                         "name": "Barbara Liskov", "email": "barbara@example.com"}
            created = story.refer(colleague)
            story.consent(urlsplit(created["link"]["url"]).path, colleague["name"],
                          ("participation",))
            # Webhooks out come from the database, not the broker: the provider gets
            # the colleague's referral.accepted during the outage.
            assert story.provider_hooks.wait_for(2, timeout=15), len(story.provider_hooks.received)

            # The APIs keep answering for the rest of the outage.
            calls = failures = 0
            while time.monotonic() - cut_at < OUTAGE_SECONDS:
                for service in SERVICES:
                    calls += 1
                    answer = story.http.get(story.url(service, "/v1/me"),
                                            headers=story.hr.auth, timeout=10)
                    failures += answer.status_code != 200
                time.sleep(0.5)
            assert failures == 0, f"{failures} of {calls} API calls failed"

            during = faults.ledger(started)
            in_flight = during.unsent
            outage = time.monotonic() - cut_at
            # Nothing crossed the broker: no consumer applied anything new.
            assert {s: len(during.inboxes[s]) for s in SERVICES} == inboxes_before
            # referral: enrollment.started; the colleague's referral.created,
            # referral.accepted and consent.granted.
            pending = Counter(t for rows in during.outboxes.values()
                              for t, sent in rows.values() if not sent)
            assert pending == {"enrollment.started": 1, "referral.created": 1,
                               "referral.accepted": 1, "consent.granted": 1}, pending
        finally:
            faults.amqp_proxy.restore()
        restored_at = time.monotonic()

        # -- the broker is back: the story completes ----------------------------------------
        story.accommodation_learns_schedule()
        recovered = time.monotonic() - restored_at
        story.employee_requests_accommodation()
        story.specialist_and_hr_decide()
        story.manager_sees_only_the_impact()
        story.hr_receives_attestations()
        story.employee_sees_disclosures()
        story.employee_revokes()
        story.nothing_more_after_revocation()
        for service in SERVICES:
            wait_for(lambda s=service: stack.ready(s), 30)

        figures = faults.assert_nothing_lost_nothing_doubled(started)

        # No doubled side effects: each webhook once per webhook-id (Grace's, Barbara's
        # and Alan's referral.accepted; the attestations), two weekly attestations, one
        # disclosure row per disclosure.recorded event.
        wait_for(lambda: faults.webhooks_pending() == 0, timeout=30, interval=0.2)
        doubled = 0
        for hooks in (story.provider_hooks, story.employer_hooks):
            per_id = Counter(r.headers["webhook-id"] for r in hooks.received)
            doubled += sum(n - 1 for n in per_id.values())
        assert len(story.provider_hooks.received) - doubled == 3
        doubled += len(story.attestations) - 2
        disclosed = len(faults.ledger().of_type("attestation", "disclosure.recorded"))
        with stack.engine("referral").connect() as conn:
            rows = conn.execute(select(func.count()).select_from(disclosures)).scalar_one()
        assert disclosed > 0
        doubled += rows - disclosed
        assert doubled == 0

    report(f"broker outage: {outage:.1f} s; {in_flight} events in flight at restore "
           f"(unsent outbox rows), {calls} API calls during it, {failures} failed; "
           f"the first event after it applied {recovered:.1f} s after restore (relay and "
           f"consumer reconnect backoff); "
           f"{figures['events']} events in the test, lost {figures['lost']}, "
           f"crossed the broker twice {figures['crossed_twice']}, duplicates applied {doubled}")
