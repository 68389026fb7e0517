"""PostgreSQL away in the middle of the story (issue 7, "Faults").

Every process reaches PostgreSQL through a proxy the test cuts: pooled connections drop
and new ones are refused, as while the server restarts. Meanwhile each service's
`/readyz` and every call that needs the database answer 503 `application/problem+json`
promptly (not a 500, not a hang), and the workers wait. Restored, the very same processes
(no restart) are ready again and the story completes, with nothing lost or doubled.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from standardwebhooks.webhooks import Webhook

from tests.faults.conftest import report
from tests.support.stack import SERVICES, wait_for
from tests.support.story import Party

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

OUTAGE_SECONDS = 8.0  # longer than any worker loop's retry pause (the relay's LISTEN: 5 s)


def problem_503(response: requests.Response) -> dict:
    assert response.status_code == 503, (response.request.url, response.status_code,
                                         response.text[:300])
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503 and body["type"].startswith("https://"), body
    assert response.headers.get("Retry-After"), response.headers
    return body


def signed_webhook(story, type_: str, data: dict) -> tuple[str, str, dict[str, str]]:
    """An attendance webhook as the provider signs it: (path, body, headers)."""
    body = json.dumps({"type": type_, "timestamp": datetime.now(UTC).isoformat(),
                       "data": data})
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(story.provider_secret).sign(msg_id, now, body),
               "Content-Type": "application/json"}
    return f"/v1/webhooks/providers/{story.provider_id}/attendance", body, headers


def test_database_away_mid_story(faults):
    stack = faults.stack
    started = datetime.now(UTC)
    story = faults.story()
    with story.receivers():
        story.until_the_provider_has_the_referral()
        story.provider_reports_enrollment()
        # A client never used yet: no service has it cached, so its calls need the
        # directory database.
        fresh = Party(stack.cli("clients", "create", "--employer", story.employer_id,
                                "--role", "hr")[-1])
        faults.settled(started)
        pids = {key: p.pid for key, p in stack.processes.items()}

        faults.pg_proxy.cut()
        cut_at = time.monotonic()
        answered: list[float] = []
        try:
            for service in SERVICES:
                down = wait_for(lambda s=service: (r := requests.get(
                    stack.url(s, "/readyz"), timeout=10)).status_code == 503 and [r], 15)[0]
                body = problem_503(down)
                assert body["checks"] == {"database": "unavailable",
                                          "directory": "unavailable", "broker": "ok"}, body

            def timed(method: str, service: str, path: str, party: Party | None = None,
                      **kwargs) -> requests.Response:
                begun = time.monotonic()
                headers = {**(party.auth if party else {}), **kwargs.pop("headers_extra", {})}
                response = story.http.request(method, story.url(service, path), timeout=15,
                                              headers=headers, **kwargs)
                answered.append(time.monotonic() - begun)
                return response

            # Calls that need the service's database (the HR client is cached) and the
            # directory's (the fresh client).
            for party in (story.hr, fresh):
                problem_503(timed("GET", "referral", f"/v1/referrals/{story.referral_id}",
                                  party))
                problem_503(timed("GET", "accommodation", "/v1/accommodations", party))
                problem_503(timed("GET", "attestation",
                                  f"/v1/attestations?referral_id={story.referral_id}", party))
            problem_503(timed("POST", "accommodation", "/v1/accommodation-links", story.hr,
                              json={"employee": {"external_id": story.employee["external_id"]},
                                    "referral_id": story.referral_id}))
            # The provider's webhook: 503, so the provider sends it again later.
            today = story.when.today.isoformat()
            attendance = signed_webhook(story, "attendance.reported", {"records": [{
                "id": f"att-{story.referral_id}-{today}-outage", "referral_id":
                story.referral_id, "date": today, "status": "attended"}]})
            problem_503(timed("POST", "attestation", attendance[0], data=attendance[1],
                              headers_extra=attendance[2]))
            page = timed("GET", "referral", story.manage_path)
            assert page.status_code == 503, (page.status_code, page.text[:300])
            for service in SERVICES:
                assert requests.get(stack.url(service, "/healthz"), timeout=5).status_code == 200
            remaining = OUTAGE_SECONDS - (time.monotonic() - cut_at)
            if remaining > 0:
                time.sleep(remaining)  # the workers meet the outage too
            outage = time.monotonic() - cut_at
        finally:
            faults.pg_proxy.restore()
        restored_at = time.monotonic()
        for service in SERVICES:
            wait_for(lambda s=service: stack.ready(s), 30, interval=0.1)
        ready_after = time.monotonic() - restored_at

        # The provider's retry of the refused webhook (same webhook-id) is accepted now.
        resent = story.http.post(story.url("attestation", attendance[0]), data=attendance[1],
                                 headers=attendance[2], timeout=15)
        assert resent.status_code == 200, (resent.status_code, resent.text)
        assert resent.json()["accepted"] == 1, resent.json()

        # The same processes, none restarted, none died.
        assert {key: p.pid for key, p in stack.processes.items()} == pids
        assert all(stack.alive().values()), stack.alive()

        story.accommodation_learns_schedule()
        story.schedule_conflicts()
        story.employee_requests_accommodation()
        story.specialist_and_hr_decide()
        story.manager_sees_only_the_impact()
        story.hr_receives_attestations()
        story.employee_sees_disclosures()
        story.employee_revokes()
        story.nothing_more_after_revocation()
        assert all(stack.alive().values()), stack.alive()
        figures = faults.assert_nothing_lost_nothing_doubled(started)

    report(f"database outage: {outage:.1f} s; {len(answered)} API, page and webhook calls "
           f"answered 503 problem+json, the slowest in {max(answered) * 1000:.0f} ms; "
           f"all services ready "
           f"{ready_after:.1f} s after restore, no process restarted; "
           f"{figures['events']} events, lost {figures['lost']}, "
           f"crossed the broker twice {figures['crossed_twice']}")
