"""Scale-out: relays and consumers as separate OS processes against one PostgreSQL and one
RabbitMQ. Every event must arrive exactly once (no crash here, so at-least-once may not
show a single duplicate), and none may be skipped; and what does a second relay and a
second consumer process buy on this machine?

Each round fills the outbox with N events, then starts R `OutboxRelay` processes and C
`ConsumerRunner` processes (production settings; they compete for rows with SKIP LOCKED
and for messages on the service's quorum queue), and times until every event is applied
in the consuming database. Then it checks:

- a tap queue bound to the same exchange got every event id exactly once (the broker's
  view: nothing published twice, nothing left out);
- every outbox row is marked sent, and the relays' own counts add up to N;
- the inbox and the handler's effect table hold every id exactly once, and no consumer
  saw a redelivery (the inbox's duplicate counter stayed 0).

Configurations alternate round by round (1 relay + 1 consumer, then 2 + 2, ...); figures
are medians. Fresh databases, exchange and queues per run, removed afterwards.

    .venv/bin/python bench/scaleout_bench.py [--quick] [--events 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import statistics
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

from sqlalchemy import Engine, text

from shared.db import make_engine
from shared.messaging import CloudEvent, ConsumerRunner, Outbox, OutboxRelay, Topology
from shared.messaging.amqp import connect
from shared.messaging.testing import FakeCipher, delete_topology, drain, migrate_mechanisms

SERVICE = "accommodation"
TAP = "tap"
EVENT_TYPE = "referral.accepted"
CONFIGURATIONS = ((1, 1), (2, 2))
DONE_TIMEOUT = 300.0


# -- the worker processes -----------------------------------------------------------------

def run_until_stopped(loop, pipe: Pipe, report) -> None:
    """Tell the parent we are ready, start `loop` on "go", stop it on "stop", report."""
    pipe.send("ready")
    assert pipe.recv() == "go"
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,))
    thread.start()
    assert pipe.recv() == "stop"
    stop.set()
    thread.join()
    pipe.send(report())


def relay_process(url: str, amqp_url: str, exchange: str, pipe: Pipe) -> None:
    engine = make_engine(url)
    relay = OutboxRelay(engine, amqp_url, exchange)  # production defaults
    totals = collections.Counter()
    relay_batch = relay.relay_batch

    def counted(batch_size: int):
        result = relay_batch(batch_size)
        totals["sent"] += result.sent
        totals["batches"] += result.claimed > 0
        return result

    relay.relay_batch = counted  # type: ignore[method-assign]
    relay.publisher.ensure_connected()  # connecting is not what we time
    run_until_stopped(relay.run_forever, pipe, lambda: dict(totals))
    engine.dispose()


def consumer_process(url: str, amqp_url: str, exchange: str, pipe: Pipe) -> None:
    engine = make_engine(url)

    def handler(session, event: CloudEvent) -> None:
        session.execute(text("INSERT INTO bench_effect (event_id, n) VALUES (:id, :n)"),
                        {"id": event.id, "n": event.data["n"]})

    runner = ConsumerRunner(engine, amqp_url, exchange, SERVICE, {EVENT_TYPE: handler},
                            FakeCipher())
    run_until_stopped(runner.run_forever, pipe, lambda: {"applied": runner.stats.applied,
                                                         "duplicates": runner.stats.duplicates,
                                                         "failed": runner.stats.failed,
                                                         "malformed": runner.stats.malformed})
    engine.dispose()


# -- one round ----------------------------------------------------------------------------

@dataclass
class Round:
    relays: int
    consumers: int
    events: int
    relayed_s: float  # until every outbox row was marked sent
    applied_s: float  # until every event was applied (inbox) on the consuming side
    sent_by_relay: list[int]
    applied_by_consumer: list[int]
    duplicates: int  # ids the tap queue got more than once (extra copies), plus inbox hits
    skipped: int  # ids missing at the tap, unsent rows, ids missing from inbox or effects


def fill_outbox(engine: Engine, count: int) -> set[str]:
    outbox = Outbox(FakeCipher())
    ids = set()
    with engine.begin() as connection:
        for n in range(count):
            ids.add(outbox.add(connection, CloudEvent(
                type=EVENT_TYPE, source="/referral", tenant="emp_bench", subject=f"ref_{n}",
                data={"referral_id": f"ref_{n}", "n": n, "provider_id": "prv_bench"})))
    return ids


def scalar(engine: Engine, sql: str) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql)).scalar_one())


def ids_in(engine: Engine, sql: str) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).scalars())


def wait_until_done(producer: Engine, consumer: Engine, count: int) -> tuple[float, float]:
    started = time.perf_counter()
    relayed = None
    while time.perf_counter() - started < DONE_TIMEOUT:
        if relayed is None and scalar(producer, "SELECT count(*) FROM outbox "
                                                "WHERE sent_at IS NULL") == 0:
            relayed = time.perf_counter() - started
        if relayed is not None and scalar(consumer, "SELECT count(*) FROM inbox") >= count:
            return relayed, time.perf_counter() - started
        time.sleep(0.02)
    raise TimeoutError(f"not every event arrived within {DONE_TIMEOUT:.0f} s")


def start(context, target, *args) -> tuple[multiprocessing.Process, Pipe]:
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    return process, ours


def run_round(setup: Setup, relays: int, consumers: int, count: int) -> Round:
    ids = fill_outbox(setup.producer, count)
    context = multiprocessing.get_context("spawn")
    children = ([start(context, relay_process, setup.producer_url, setup.amqp_url,
                       setup.exchange) for _ in range(relays)]
                + [start(context, consumer_process, setup.consumer_url, setup.amqp_url,
                         setup.exchange) for _ in range(consumers)])
    try:
        for _, pipe in children:
            if not pipe.poll(60) or pipe.recv() != "ready":
                raise RuntimeError("a worker process did not start")
        for _, pipe in children:
            pipe.send("go")
        relayed_s, applied_s = wait_until_done(setup.producer, setup.consumer, count)
        time.sleep(0.3)  # anything late (a duplicate) would land now
        reports = []
        for _, pipe in children:
            pipe.send("stop")
            reports.append(pipe.recv())
    finally:
        for process, _ in children:
            process.join(15)
            if process.is_alive():
                process.terminate()
    tap = collections.Counter(properties.message_id for properties, _ in
                              drain(setup.amqp_url, Topology(setup.exchange).queue(TAP)))
    inbox = ids_in(setup.consumer, "SELECT event_id FROM inbox")
    effects = ids_in(setup.consumer, "SELECT event_id FROM bench_effect")
    unsent = scalar(setup.producer, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    relay_reports, consumer_reports = reports[:relays], reports[relays:]
    duplicates = (sum(n - 1 for n in tap.values()) + sum(r["duplicates"] for r in consumer_reports)
                  + (len(inbox) - len(set(inbox))) + (len(effects) - len(set(effects)))
                  + max(0, sum(r["sent"] for r in relay_reports) - count))
    skipped = (len(ids - tap.keys()) + unsent + len(ids - set(inbox)) + len(ids - set(effects))
               + sum(r["failed"] + r["malformed"] for r in consumer_reports))
    return Round(relays, consumers, count, relayed_s, applied_s,
                 [r["sent"] for r in relay_reports], [r["applied"] for r in consumer_reports],
                 duplicates, skipped)


# -- the run ------------------------------------------------------------------------------

@dataclass
class Setup:
    producer_url: str
    consumer_url: str
    amqp_url: str
    exchange: str
    producer: Engine
    consumer: Engine

    def reset(self) -> None:
        with self.producer.begin() as connection:
            connection.execute(text("TRUNCATE outbox"))
        with self.consumer.begin() as connection:
            connection.execute(text("TRUNCATE inbox, bench_effect"))


def create_setup(run: str, amqp_url: str) -> Setup:
    producer_url = f"postgresql://postgres@127.0.0.1:5432/bl_bench_{run}_producer"
    consumer_url = f"postgresql://postgres@127.0.0.1:5432/bl_bench_{run}_consumer"
    migrate_mechanisms(producer_url)
    migrate_mechanisms(consumer_url)
    consumer = make_engine(consumer_url)
    with consumer.begin() as connection:
        connection.execute(text("CREATE TABLE bench_effect (event_id varchar(64) PRIMARY KEY, "
                                "n integer NOT NULL)"))
    exchange = f"bl.bench.{run}"
    connection = connect(amqp_url, "bench-setup")
    Topology(exchange).declare_service(connection.channel(), SERVICE, [EVENT_TYPE])
    Topology(exchange).declare_service(connection.channel(), TAP, [EVENT_TYPE])
    connection.close()
    return Setup(producer_url, consumer_url, amqp_url, exchange, make_engine(producer_url),
                 consumer)


def tear_down(setup: Setup) -> None:
    setup.producer.dispose()
    setup.consumer.dispose()
    delete_topology(setup.amqp_url, setup.exchange, [SERVICE, TAP])
    for url in (setup.producer_url, setup.consumer_url):
        admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" '
                                    "WITH (FORCE)"))
        admin.dispose()


def table(rounds: list[Round], count: int) -> list[str]:
    by_config = {config: [r for r in rounds if (r.relays, r.consumers) == config]
                 for config in CONFIGURATIONS}

    def median(config, value) -> float:
        return statistics.median(value(r) for r in by_config[config])

    lines = [f"scale-out: {count} events per round, {len(by_config[CONFIGURATIONS[0]])} "
             f"round(s) per configuration, medians", "",
             "| relays + consumers | all sent (s) | all applied (s) | events/s end to end "
             "| relay events/s | sent by each relay | applied by each consumer | duplicates "
             "| skipped |",
             "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: |"]
    for config in CONFIGURATIONS:
        last = by_config[config][-1]
        lines.append(
            f"| {config[0]} + {config[1]} | {median(config, lambda r: r.relayed_s):.2f} "
            f"| {median(config, lambda r: r.applied_s):.2f} "
            f"| {median(config, lambda r: r.events / r.applied_s):.0f} "
            f"| {median(config, lambda r: r.events / r.relayed_s):.0f} "
            f"| {' / '.join(map(str, last.sent_by_relay))} "
            f"| {' / '.join(map(str, last.applied_by_consumer))} "
            f"| {sum(r.duplicates for r in by_config[config])} "
            f"| {sum(r.skipped for r in by_config[config])} |")
    one, two = CONFIGURATIONS

    def ratio(value) -> float:
        return median(two, value) / median(one, value)

    lines += ["", f"2 relays + 2 consumers vs 1 + 1: {ratio(lambda r: r.events / r.applied_s):.2f}x"
              f" end to end, {ratio(lambda r: r.events / r.relayed_s):.2f}x relaying",
              f"duplicates: {sum(r.duplicates for r in rounds)}, "
              f"skipped: {sum(r.skipped for r in rounds)} (over {len(rounds)} rounds of "
              f"{count} events; tap queue, outbox, inbox and effects checked)"]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="300 events, 1 round per configuration, results file not written")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3, help="per configuration")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--results", type=Path, help="default: bench/results/scaleout.md")
    args = parser.parse_args()
    if args.quick:
        args.events, args.rounds = 300, 1
    setup = create_setup(uuid.uuid4().hex[:8], args.amqp_url)
    rounds = []
    try:
        for n in range(args.rounds):
            order = CONFIGURATIONS if n % 2 == 0 else CONFIGURATIONS[::-1]
            for relays, consumers in order:
                setup.reset()
                rounds.append(run_round(setup, relays, consumers, args.events))
    finally:
        tear_down(setup)
    lines = table(rounds, args.events)
    print("\n".join(lines))
    if args.results or not args.quick:
        from results_file import write_results

        path = write_results("scaleout", "Scale-out: 2 relays + 2 consumers vs 1 + 1",
                             {"events per round": args.events, "rounds per configuration":
                              args.rounds, "relay": "OutboxRelay defaults, one per process",
                              "consumer": "ConsumerRunner defaults, one per process",
                              "databases": "PostgreSQL, producer and consumer each their own",
                              "broker": "RabbitMQ, quorum queues (service + tap)"},
                             lines, path=args.results)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
