"""The provider's webhook endpoint misbehaving (issue 7, "Faults").

The stack's deliverers run a short retry schedule (`WEBHOOK_RETRY_SCHEDULE`, see
conftest: attempts at 0, then 1 s, 1 s, 1 s after each failure, each ±10 %) so that what
takes days in production takes seconds here; everything else is the production code.
Each scenario gives a provider of its own a programmable receiver and sends it the
`referral.accepted` webhook of a referral its employee accepts:

- down (connection refused), then 500, then 429 with `Retry-After: 3`, then 200: the
  delivery is retried on the schedule, waits as long as `Retry-After` asks, arrives;
- 500 on every attempt: the delivery is exhausted after the schedule's four attempts,
  listed as such by `bridgeline webhooks deliveries`, and delivered once
  `bridgeline webhooks replay --id` gives it a fresh schedule;
- 410 Gone: the endpoint is disabled in the directory, and the provider's next webhook is
  abandoned without a request.

The `webhook-id` is the same on every attempt and on the replay (receivers deduplicate on it).
"""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from shared.directory.tables import webhook_endpoints
from shared.webhooks.tables import webhook_attempts, webhook_deliveries
from shared.webhooks.testing import Reply, WebhookReceiver
from tests.faults.conftest import RETRY_SCHEDULE, report
from tests.support.stack import wait_for
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

JITTER = 0.1
POLL = 1.0  # the deliverer's poll interval: a due delivery waits at most this long
SLACK = 0.6  # claim, send, record, and a loaded machine


class Provider:
    """A provider whose webhook endpoint is `receiver`, reached through `proxy`."""

    def __init__(self, faults, story, receiver: WebhookReceiver) -> None:
        self.faults, self.story, self.receiver = faults, story, receiver
        port = urlsplit(receiver.url).port
        self.proxy = TcpProxy("127.0.0.1", port).start()
        self.id, self.secret = faults.stack.cli(
            "providers", "create", "--name", "Flaky IOP",
            "--webhook-url", f"http://127.0.0.1:{self.proxy.port}/hooks")[-1].split()

    def referral_accepted(self) -> str | None:
        """HR refers an employee to this provider, who accepts on the link page; the
        id of the `referral.accepted` delivery this enqueued (None if none)."""
        story, before = self.story, set(self.deliveries())
        employee = {"external_id": f"W-{uuid.uuid4().hex[:8]}", "name": "Ada Byron",
                    "email": "ada@example.com"}
        created = story.api("POST", "referral", "/v1/referrals", story.hr, expect=201, json={
            "employee": employee, "kind": "formal", "provider_id": self.id})
        story.consent(urlsplit(created["link"]["url"]).path, employee["name"],
                      ("participation",))
        (new,) = set(self.deliveries()) - before or {None}
        return new

    def deliveries(self) -> list[str]:
        """The ids of every delivery to this provider's endpoint."""
        with self.faults.stack.engine("referral").connect() as conn:
            return list(conn.execute(select(webhook_deliveries.c.id).where(
                webhook_deliveries.c.endpoint_id == self.endpoint()["id"])).scalars())

    def endpoint(self):
        with self.faults.stack.engine("directory").connect() as conn:
            return conn.execute(select(webhook_endpoints).where(
                webhook_endpoints.c.owner_id == self.id)).mappings().one()

    def delivery(self, delivery_id: str):
        with self.faults.stack.engine("referral").connect() as conn:
            return conn.execute(select(webhook_deliveries).where(
                webhook_deliveries.c.id == delivery_id)).mappings().one()

    def attempts(self, delivery_id: str):
        with self.faults.stack.engine("referral").connect() as conn:
            return conn.execute(select(webhook_attempts).where(
                webhook_attempts.c.delivery_id == delivery_id)
                .order_by(webhook_attempts.c.attempt)).mappings().all()

    def settled(self, delivery_id: str, timeout: float = 30.0):
        """The delivery once it is no longer pending."""
        return wait_for(lambda: (row := self.delivery(delivery_id))["status"] != "pending"
                        and row, timeout=timeout, interval=0.1)

    def verified(self) -> list[dict]:
        return [Webhook(self.secret).verify(r.body, r.headers) for r in self.receiver.received]


def spacing(attempts) -> list[float]:
    times = [a["started_at"] for a in attempts]
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_down_then_500_then_429_with_retry_after_then_delivered(faults, employer):
    with WebhookReceiver() as receiver:
        provider = Provider(faults, employer, receiver)
        try:
            provider.proxy.cut()  # down: connections refused
            delivery_id = provider.referral_accepted()
            wait_for(lambda: len(provider.attempts(delivery_id)) >= 1, timeout=15,
                     interval=0.05)
            receiver.reply_with(Reply(500), Reply(429, {"Retry-After": "3"}))  # then 200
            provider.proxy.restore()
            row = provider.settled(delivery_id)
        finally:
            provider.proxy.cut()
    assert row["status"] == "delivered" and row["attempts"] == 4, dict(row)
    attempts = provider.attempts(delivery_id)
    outcomes = [(a["attempt"], a["status_code"], a["error_class"]) for a in attempts]
    assert outcomes == [(1, None, "ConnectionError"), (2, 500, None), (3, 429, None),
                        (4, 200, None)], outcomes
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery_id] * 3
    assert [p["type"] for p in provider.verified()] == ["referral.accepted"] * 3
    gaps = spacing(attempts)
    # after attempts 1 and 2: the schedule's second and third waits (1 s ± 10 %)
    for gap, wait in zip(gaps[:2], RETRY_SCHEDULE[1:3], strict=True):
        assert wait * (1 - JITTER) <= gap <= wait * (1 + JITTER) + POLL + SLACK, gaps
    # after the 429: Retry-After (3 s), longer than the schedule's 1 s
    assert 3.0 <= gaps[2] <= 3.0 + POLL + SLACK, gaps
    received = [r.at for r in receiver.received]
    assert received[2] - received[1] >= 3.0 - 0.2, received  # as the receiver saw it
    report("webhook retries (schedule 0,1,1,1 s ±10 %): down, 500, 429 Retry-After 3, 200; "
           f"delivered on attempt 4; gaps between attempts {', '.join(f'{g:.2f}' for g in gaps)} "
           "s (the last honours Retry-After)")


def test_exhausted_deliveries_are_listed_and_replayed_by_the_cli(faults, employer):
    stack = faults.stack
    with WebhookReceiver() as receiver:
        receiver.reply_with(*[Reply(500)] * len(RETRY_SCHEDULE))  # then 200
        provider = Provider(faults, employer, receiver)
        try:
            delivery_id = provider.referral_accepted()
            row = provider.settled(delivery_id)
            assert row["status"] == "exhausted" and row["attempts"] == len(RETRY_SCHEDULE)
            assert row["last_status_code"] == 500 and row["last_error"] == "http_500"
            assert len(receiver.received) == len(RETRY_SCHEDULE)
            listed = stack.cli("webhooks", "deliveries", "--service", "referral",
                               "--status", "exhausted")
            mine = [line.split("\t") for line in listed if line.startswith(delivery_id)]
            assert len(mine) == 1 and mine[0][3:5] == ["exhausted", "4"], listed
            exhausted_gaps = spacing(provider.attempts(delivery_id))

            assert stack.cli("webhooks", "replay", "--service", "referral", "--id",
                             delivery_id) == ["referral: 1 delivery(ies) scheduled for sending"]
            row = provider.settled(delivery_id)
        finally:
            provider.proxy.cut()
    assert row["status"] == "delivered" and row["attempts"] == 1, dict(row)
    assert [r.headers["webhook-id"] for r in receiver.received] == [delivery_id] * 5
    assert [p["type"] for p in provider.verified()] == ["referral.accepted"] * 5
    listed = stack.cli("webhooks", "deliveries", "--service", "referral", "--status", "delivered")
    assert any(line.startswith(delivery_id) for line in listed)
    report(f"webhook exhausted after {len(RETRY_SCHEDULE)} attempts of 500 (gaps "
           f"{', '.join(f'{g:.2f}' for g in exhausted_gaps)} s), replayed by "
           "`bridgeline webhooks replay --id`, delivered on the replay's first attempt")


def test_an_endpoint_answering_410_is_disabled_and_sent_nothing_more(faults, employer):
    before = datetime.now(UTC)
    with WebhookReceiver() as receiver:
        receiver.reply_with(Reply(410))
        provider = Provider(faults, employer, receiver)
        try:
            first = provider.referral_accepted()
            row = provider.settled(first)
            assert (row["status"], row["last_status_code"], row["last_error"]) == (
                "abandoned", 410, "gone"), dict(row)
            endpoint = wait_for(lambda: (e := provider.endpoint())["disabled_at"] and e, 15)
            assert endpoint["disabled_reason"] == "410 Gone from the receiver"
            assert endpoint["disabled_at"] >= before

            # The employee of a second referral accepts: with the endpoint disabled the
            # referral service enqueues no webhook at all.
            second = provider.referral_accepted()
            assert second is None and provider.deliveries() == [first]
            listed = faults.stack.cli("webhooks", "deliveries", "--service", "referral")
            (line,) = [x.split("\t") for x in listed if x.startswith(first)]
            assert line[3] == "abandoned" and line[6:8] == ["410", "gone"], line
        finally:
            provider.proxy.cut()
    assert [r.headers["webhook-id"] for r in receiver.received] == [first]
    assert len(provider.attempts(first)) == 1
    report("webhook endpoint answering 410: delivery abandoned (gone) after 1 request, "
           "endpoint disabled in the directory (disabled_at, reason '410 Gone from the "
           "receiver'); the next referral.accepted for that provider: no delivery, "
           "0 requests")
