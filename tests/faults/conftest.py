"""The fault tests of issue 7: real processes (gunicorn and `bridgeline worker` per
service, started one by one as an orchestrator would, so that one can be killed and
started again), the real RabbitMQ and PostgreSQL, each behind a `TcpProxy` the tests cut
and restore.

One stack serves the whole directory (`faults`, package scope): every test makes its
own employer, provider and referrals, and each leaves the system settled (every outbox
row sent, every event in its consumers' inboxes) before the next starts.

What the tests measure (events in flight, lost, duplicates, retries and their spacing)
is printed at the end of the run under "fault figures".
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from shared.messaging.amqp import connect
from shared.messaging.tables import inbox, outbox
from shared.messaging.testing import drain
from shared.messaging.topology import Topology
from shared.webhooks.tables import webhook_deliveries
from shared.webhooks.testing import WebhookReceiver
from tests.support.integration import TAP, tap_queue
from tests.support.stack import SERVICES, Stack, wait_for
from tests.support.story import Story
from tests.support.tcp_proxy import TcpProxy

# The webhook retry schedule of the stack's deliverers (WEBHOOK_RETRY_SCHEDULE), in
# seconds: four attempts, so a test sees retries, exhaustion and replay in seconds.
RETRY_SCHEDULE = (0, 1, 1, 1)
FIGURES: list[str] = []


def report(line: str) -> None:
    """A measured figure, printed at the end of the run."""
    FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if FIGURES:
        terminalreporter.section("fault figures")
        for line in FIGURES:
            terminalreporter.write_line(line)


def consumed_types(service: str) -> frozenset[str]:
    """The event types `service`'s consumer handles (its handler table's keys)."""
    module = importlib.import_module(f"{service}.entrypoints.consumer")
    return frozenset(module.event_handlers(None))


CONSUMES = {service: consumed_types(service) for service in SERVICES}


@dataclass
class Ledger:
    """Every event of the stack, as the databases tell it."""

    # service -> {event_id: (event_type, sent)} of its outbox
    outboxes: dict[str, dict[str, tuple[str, bool]]]
    inboxes: dict[str, set[str]]  # service -> the event ids it applied

    @property
    def unsent(self) -> int:
        return sum(not sent for rows in self.outboxes.values() for _, sent in rows.values())

    def expected(self, consumer: str) -> set[str]:
        return {event_id for rows in self.outboxes.values()
                for event_id, (type_, _) in rows.items() if type_ in CONSUMES[consumer]}

    def missing(self) -> dict[str, set[str]]:
        """Per consumer, the events it should have applied and has not (lost, or not yet)."""
        return {c: self.expected(c) - self.inboxes[c] for c in SERVICES}

    @property
    def lost(self) -> int:
        return sum(len(ids) for ids in self.missing().values())

    def event_ids(self) -> set[str]:
        return {event_id for rows in self.outboxes.values() for event_id in rows}

    def of_type(self, service: str, type_: str) -> list[str]:
        return [event_id for event_id, (t, _) in self.outboxes[service].items() if t == type_]


class Faults:
    def __init__(self, stack: Stack, amqp_proxy: TcpProxy, pg_proxy: TcpProxy,
                 amqp_url: str) -> None:
        self.stack = stack
        self.amqp_proxy = amqp_proxy
        self.pg_proxy = pg_proxy
        self.amqp_url = amqp_url  # the real broker, never cut
        self.topology = Topology(stack.exchange)
        self.tapped: Counter[str] = Counter()  # event id -> times it crossed the broker

    # -- the story -----------------------------------------------------------------------
    def story(self, timeout: float = 60.0) -> Story:
        return Story({s: self.stack.url(s, "") for s in SERVICES}, self.stack.cli,
                     timeout=timeout)

    # -- the databases -------------------------------------------------------------------
    def ledger(self, since: datetime | None = None) -> Ledger:
        """The outboxes (rows created at or after `since`, if given) and the inboxes."""
        outboxes, inboxes = {}, {}
        for service in SERVICES:
            with self.stack.engine(service).connect() as conn:
                query = select(outbox.c.event_id, outbox.c.event_type, outbox.c.sent_at,
                               outbox.c.created_at)
                if since is not None:
                    query = query.where(outbox.c.created_at >= since)
                rows = conn.execute(query).all()
                outboxes[service] = {r.event_id: (r.event_type, r.sent_at is not None)
                                     for r in rows}
                inboxes[service] = set(conn.execute(select(inbox.c.event_id)).scalars())
        return Ledger(outboxes, inboxes)

    def settled(self, since: datetime | None = None, timeout: float = 60.0) -> Ledger:
        """Wait until every outbox row is sent and every event is in its consumers'
        inboxes; the ledger then. Fails naming what is missing."""
        last: list[Ledger] = []

        def done() -> Ledger | None:
            ledger = self.ledger(since)
            last[:] = [ledger]
            return ledger if ledger.unsent == 0 and ledger.lost == 0 else None

        try:
            return wait_for(done, timeout=timeout, interval=0.2)
        except AssertionError:
            ledger = last[0]
            raise AssertionError(f"not settled within {timeout} s: {ledger.unsent} unsent, "
                                 f"missing from inboxes {ledger.missing()}\n"
                                 f"{self.stack.log_tail()}") from None

    def webhooks_pending(self) -> int:
        """Outbound webhook deliveries not yet delivered, exhausted or abandoned."""
        pending = 0
        for service in SERVICES:
            with self.stack.engine(service).connect() as conn:
                pending += conn.execute(select(func.count()).select_from(webhook_deliveries)
                                        .where(webhook_deliveries.c.status == "pending")
                                        ).scalar_one()
        return pending

    # -- the broker ----------------------------------------------------------------------
    def drain_tap(self) -> Counter[str]:
        """Count every message that crossed the broker since the last drain (by event id)
        into `tapped`; returns what this drain found."""
        found = Counter(props.message_id for props, _ in
                        drain(self.amqp_url, self.topology.queue(TAP)))
        self.tapped.update(found)
        return found

    def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (not those delivered and unacknowledged)."""
        connection = connect(self.amqp_url, "bridgeline-test-depth")
        try:
            declared = connection.channel().queue_declare(queue, passive=True)
            return int(declared.method.message_count)
        finally:
            connection.close()

    def dead_letters(self) -> dict[str, int]:
        return {s: self.queue_depth(self.topology.dead_letter_queue(s)) for s in SERVICES}

    # -- assertions every test ends with ------------------------------------------------
    def assert_nothing_lost_nothing_doubled(self, since: datetime,
                                            republished: int = 0) -> dict[str, int]:
        """Every event created since `since` was sent, crossed the broker, reached every
        consumer, and no consumer dead-lettered anything; `republished` is how many
        events the test knows crossed the broker twice (a relay killed after publishing,
        before marking sent). Returns the figures."""
        ledger = self.settled(since)
        # second copies (a republished event) are consumed too, and acknowledged
        wait_for(lambda: all(self.queue_depth(self.topology.queue(s)) == 0 for s in SERVICES),
                 timeout=30, interval=0.2)
        crossed = self.drain_tap()
        ids = ledger.event_ids()
        assert ids, "the test created no events: nothing would be proven"
        not_crossed = [i for i in ids if self.tapped[i] == 0]
        twice = sum(self.tapped[i] - 1 for i in ids if self.tapped[i] > 1)
        assert not_crossed == [], f"{len(not_crossed)} events never crossed the broker"
        assert twice == republished, (twice, republished)
        assert ledger.lost == 0 and ledger.unsent == 0
        assert self.dead_letters() == dict.fromkeys(SERVICES, 0)
        return {"events": len(ids), "unsent": ledger.unsent, "lost": ledger.lost,
                "crossed_twice": twice, "tap_messages": sum(crossed.values())}


@pytest.fixture(scope="package")
def faults(tmp_path_factory, run_id, amqp_url) -> Iterator[Faults]:
    amqp_proxy = TcpProxy.for_url(amqp_url).start()
    pg_proxy = TcpProxy("127.0.0.1", 5432).start()
    tmp = tmp_path_factory.mktemp("faults")
    stack = Stack(tmp, run_id, amqp_proxy.url, supervised=False,
                  database_server=f"postgresql://postgres@127.0.0.1:{pg_proxy.port}",
                  env={"WEBHOOK_RETRY_SCHEDULE": ",".join(map(str, RETRY_SCHEDULE)),
                       "ATTESTATION_ISSUE_INTERVAL_SECONDS": "2"})
    try:
        # The tap is bound before anything is published: it counts every message, and
        # makes every event type routable, so every outbox row can end up sent.
        with tap_queue(amqp_url, stack.exchange, also_delete=SERVICES):
            try:
                stack.start()
                yield Faults(stack, amqp_proxy, pg_proxy, amqp_url)
            finally:
                amqp_proxy.restore()  # a failed test may have left one cut
                pg_proxy.restore()
                stack.stop()
    finally:
        try:
            stack.drop_databases()
        finally:
            amqp_proxy.cut()
            pg_proxy.cut()


@pytest.fixture(scope="package")
def employer(faults) -> Iterator[Story]:
    """An employer with hr, specialist and manager clients, and a provider, for tests
    that need parties but not the story (its receivers listen for the whole package)."""
    story = faults.story()
    with WebhookReceiver() as provider_hooks, WebhookReceiver() as employer_hooks:
        story.provider_hooks, story.employer_hooks = provider_hooks, employer_hooks
        story.setup()
        yield story
