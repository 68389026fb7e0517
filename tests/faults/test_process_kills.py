"""Workers killed with SIGKILL mid-work (issue 7, "Faults").

No test hook in the product: a backlog of events big enough to give a wide window.

- **A consumer mid-batch.** The attestation worker is stopped while HR creates a hundred
  and twenty referrals, so their `referral.created` events wait in its queue; it is
  started again, through a proxy of its own to the broker, and once it has applied some
  the proxy starts dropping what the worker sends: the worker applies the prefetch window
  it holds and its acknowledgements are lost. Then SIGKILL. The broker redelivers
  everything unacknowledged, applied or not; the restarted worker applies the rest and
  recognises the applied ones in its inbox.
- **A relay between publish and mark-sent.** The referral worker is stopped while the
  referrals are created, started, and SIGKILLed at a moment when the tap queue holds
  more of the batch than the outbox has marked sent: those events were confirmed by the
  broker but the batch's transaction never committed. The restarted relay publishes them
  again; the consumer's inbox absorbs the second copies.

Each time the test restarts the killed process, as the deployment's orchestrator would
(`bridgeline up` would stop everything instead). Then: every event applied exactly once,
nothing dead-lettered, nothing lost.
"""

from __future__ import annotations

import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests
from sqlalchemy import func, select

from attestation.adapters.orm import referrals as attestation_referrals
from shared.messaging.amqp import connect
from shared.messaging.tables import inbox, outbox
from tests.faults.conftest import TAP, report
from tests.support.stack import wait_for
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

BACKLOG = 120  # referrals, so events: two relay batches, eight consumer prefetch windows
QUIET_SECONDS = 2.0  # no inbox row for this long: the frozen consumer has stopped applying


def create_referrals(faults, story, count: int) -> list[str]:
    """`count` referrals through the HR API, four at a time; their ids."""
    url = faults.stack.url("referral", "/v1/referrals")

    def create(i: int) -> str:
        body = {"employee": {"external_id": f"K-{uuid.uuid4().hex[:8]}", "name": f"Worker {i}",
                             "email": f"worker{i}@example.com"},
                "kind": "supervisory", "provider_id": story.provider_id}
        answer = requests.post(url, json=body, headers={
            **story.hr.auth, "Idempotency-Key": str(uuid.uuid4())}, timeout=30)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(create, range(count)))


class Watch:
    """Quick looks at one service database and one queue, over kept connections."""

    def __init__(self, faults, service: str, queue: str) -> None:
        self.conn = faults.stack.engine(service).connect()
        self.broker = connect(faults.amqp_url, "bridgeline-test-watch")
        self.channel = self.broker.channel()
        self.queue = queue

    def scalar(self, query) -> int:
        value = self.conn.execute(query).scalar_one()
        self.conn.rollback()
        return int(value)

    def depth(self) -> tuple[int, int]:
        """(ready messages, consumers) of the queue."""
        declared = self.channel.queue_declare(self.queue, passive=True).method
        return int(declared.message_count), int(declared.consumer_count)

    def close(self) -> None:
        self.conn.close()
        self.broker.close()


def test_a_consumer_killed_mid_batch_loses_and_doubles_nothing(faults, employer):
    stack, started = faults.stack, datetime.now(UTC)
    queue = faults.topology.queue("attestation")
    assert stack.kill("attestation", "worker", signal.SIGTERM) == 0
    watch = Watch(faults, "attestation", queue)
    # The worker's own way to the broker, so that its acknowledgements alone can be lost.
    proxy = TcpProxy.for_url(faults.amqp_url).start()
    try:
        applied_before = watch.scalar(select(func.count()).select_from(inbox))
        referral_ids = create_referrals(faults, employer, BACKLOG)
        wait_for(lambda: watch.depth() == (BACKLOG, 0), timeout=60, interval=0.1)

        stack.spawn("attestation", "worker", env={"AMQP_URL": proxy.url})

        def applied() -> int:
            return watch.scalar(select(func.count()).select_from(inbox)) - applied_before

        wait_for(lambda: applied() > 0, timeout=60, interval=0.005)
        # Mid-stream: from now on the broker hears nothing from the worker, which goes on
        # applying what it holds (a prefetch window) and acknowledging into the void.
        proxy.freeze()

        def stopped_applying() -> int | None:
            # Quiet for long enough that the window it holds would have been applied:
            # on a slow, shared machine a batch of 16 can take well over 0.3 s.
            before = applied()
            time.sleep(QUIET_SECONDS)
            return before if applied() == before else None

        wait_for(stopped_applying, timeout=30, interval=0)
        assert stack.kill("attestation", "worker") == -signal.SIGKILL
        applied_at_kill = applied()
        assert 0 < applied_at_kill < BACKLOG, (applied_at_kill, "kill was not mid-stream")
        # The broker returns what the dead consumer held, unacknowledged, to the queue.
        wait_for(lambda: watch.depth()[1] == 0, timeout=30, interval=0.05)
        ready = watch.depth()[0]
        acked = BACKLOG - ready
        # applied (committed) but never acknowledged: the broker delivers them again
        redelivered_applied = applied_at_kill - acked
        assert redelivered_applied > 0, (applied_at_kill, acked, "no applied message unacked")

        stack.restart("attestation", "worker")
        wait_for(lambda: applied() == BACKLOG and watch.depth() == (0, 1), timeout=60,
                 interval=0.1)
        assert applied() == BACKLOG  # no event applied twice: one inbox row each
        stored = watch.scalar(select(func.count()).select_from(attestation_referrals).where(
            attestation_referrals.c.id.in_(referral_ids)))
        assert stored == BACKLOG
    finally:
        watch.close()
        proxy.cut()
        if stack.processes[("attestation", "worker")].poll() is not None:
            stack.restart("attestation", "worker")
    figures = faults.assert_nothing_lost_nothing_doubled(started)
    report(f"consumer SIGKILLed mid-batch: {BACKLOG} events queued; at the kill "
           f"{applied_at_kill} applied, {acked} of them acknowledged, "
           f"{redelivered_applied} applied but unacknowledged (redelivered, absorbed by "
           f"the inbox), {ready} returned to the queue; after restart {BACKLOG} applied "
           f"once each, lost {figures['lost']}, dead-lettered 0")


def test_a_relay_killed_between_publish_and_mark_sent_loses_and_doubles_nothing(
        faults, employer):
    stack, started = faults.stack, datetime.now(UTC)
    faults.drain_tap()
    assert stack.kill("referral", "worker", signal.SIGTERM) == 0
    watch = Watch(faults, "referral", faults.topology.queue(TAP))
    try:
        with stack.engine("referral").connect() as conn:
            last_id = conn.execute(select(func.coalesce(func.max(outbox.c.id), 0))).scalar_one()
        create_referrals(faults, employer, BACKLOG)
        mine = outbox.c.id > last_id
        sent = select(func.count()).select_from(outbox).where(mine, outbox.c.sent_at.is_not(None))
        assert watch.scalar(select(func.count()).select_from(outbox).where(mine)) == BACKLOG
        assert watch.depth()[0] == 0

        stack.spawn("referral", "worker")
        looks = 0

        def published_not_marked() -> bool:
            nonlocal looks
            looks += 1
            on_broker = watch.depth()[0]  # first the broker, then the table: see below
            return on_broker > watch.scalar(sent)

        # The tap only grows, so more messages there than rows marked sent, read in that
        # order, means a batch was confirmed by the broker and not yet committed.
        wait_for(published_not_marked, timeout=60, interval=0)
        assert stack.kill("referral", "worker") == -signal.SIGKILL
        killed_at = time.monotonic()
        on_broker = faults.drain_tap()
        with stack.engine("referral").connect() as conn:
            unsent = set(conn.execute(select(outbox.c.event_id).where(
                mine, outbox.c.sent_at.is_(None))).scalars())
        published_unmarked = len(unsent & set(on_broker))
        assert published_unmarked > 0, "the kill did not fall between publish and mark-sent"

        stack.restart("referral", "worker")
        figures = faults.assert_nothing_lost_nothing_doubled(
            started, republished=published_unmarked)
        recovered = time.monotonic() - killed_at
    finally:
        watch.close()
        if stack.processes[("referral", "worker")].poll() is not None:
            stack.restart("referral", "worker")
    report(f"relay SIGKILLed between publish and mark-sent: {BACKLOG} events; at the kill "
           f"{sum(on_broker.values())} on the broker, {len(unsent)} unmarked of which "
           f"{published_unmarked} already published (found after {looks} looks); after "
           f"restart every event sent, {figures['crossed_twice']} crossed the broker twice "
           f"and were absorbed by the inbox, lost {figures['lost']}, duplicates applied 0, "
           f"settled {recovered:.1f} s after the kill")
