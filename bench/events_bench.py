"""Event latency at a steady rate: a state change committed with its outbox row → the
consuming service's handler committed (inbox row + effect, one transaction), against a
bare pika publish → consume round trip on the same broker at the same rate.

- outbox path: the producer (this process) commits a `bench_state` row and the event's
  outbox row in one transaction and notes the time after COMMIT; an `OutboxRelay`
  (its own process, production settings) publishes it with confirms; a `ConsumerRunner`
  (its own process, production settings) applies it to another PostgreSQL database
  (inbox + a `bench_effect` row) and notes the time after that COMMIT.
- baseline: this process publishes the same body with confirms, persistent and mandatory,
  to an identically declared quorum queue; a bare pika consumer (its own process) acks
  and notes the time.

- with --compare-polling, a third path: the same outbox path from a second producing
  database whose relay does not LISTEN (`listen=False`), i.e. how it was before the
  outbox's commit woke the relay: it finds new rows by polling every 0.2 s.

The producer is open-loop: event i is due at start + i/rate whatever the consumers do
(how far it ever fell behind is printed). The clock starts after the commit (outbox) or
just before the publish (bare), so a producer held up by the machine does not count;
PostgreSQL checkpoints during each measurement (on a shared server, mostly other
sessions' CREATE/DROP DATABASE) are printed too, since they stall only the outbox path.
The paths take turns within each round; the figures are medians over the rounds.
Clocks: `time.time()` in every process of this one machine. Fresh databases, exchanges
and queues per run, removed afterwards.

- with --contend N, N busy-loop processes compete for the CPU from the warm-up on: a
  host whose cores other tenants keep busy, reproduced on purpose. Every extra hop of
  the outbox path (the relay's wake-up and claim, the consumer's transaction) may then
  wait for a core, so the difference grows with N; on 2 cores, N=1 is a half-loaded
  host and N=2 a saturated one.
- a run in which a producer fell more than `SATURATED_BEHIND` behind its schedule did
  not hold the rate, with or without --contend: the table says so.

    .venv/bin/python bench/events_bench.py [--quick] [--compare-polling] [--rate 200]
        [--seconds 6] [--rounds 5] [--contend N] [--results FILE]
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
import threading
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

import pika
from sqlalchemy import event, text
from stack import whole_number

from shared.db import make_engine
from shared.messaging import CloudEvent, ConsumerRunner, Outbox, OutboxRelay, Topology
from shared.messaging.amqp import connect
from shared.messaging.testing import FakeCipher, delete_topology, migrate_mechanisms

SERVICE = "accommodation"
PLAIN = "plain"
EVENT_TYPE = "referral.accepted"
PREFETCH = 16  # ConsumerRunner's default
COLLECT_TIMEOUT = 30.0
SATURATED_BEHIND = 0.5  # seconds a producer may fall behind before the rate is not held
PATHS = ("plain", "outbox", "polling")
NAMES = {"plain": "bare pika publish (confirms) → consume + ack",
         "outbox": "commit + outbox → relay → consumer (inbox + effect) committed",
         "polling": "the same, relay not listening (polls every 0.2 s: before the wake-ups)"}


def sample_event(n: int) -> CloudEvent:
    return CloudEvent(type=EVENT_TYPE, source="/referral", tenant="emp_bench",
                      subject=f"ref_{n}", data={"referral_id": f"ref_{n}", "n": n,
                                                "provider_id": "prv_bench"})


# -- the processes at the far end ---------------------------------------------------------

def serve(pipe: Pipe, received: list[tuple[str, float]], lock: threading.Lock) -> None:
    """Answer the parent: "collect" → what arrived since the last collect; "stop" → return."""
    pipe.send("ready")
    while (command := pipe.recv()) != "stop":
        assert command == "collect"
        with lock:
            batch, received[:] = list(received), []
        pipe.send(batch)


def relay_process(url: str, amqp_url: str, exchange: str, listen: bool, pipe: Pipe) -> None:
    engine = make_engine(url)
    relay = OutboxRelay(engine, amqp_url, exchange, listen=listen)  # production defaults
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,))
    thread.start()
    serve(pipe, [], threading.Lock())
    stop.set()
    thread.join()
    engine.dispose()


def consumer_process(url: str, amqp_url: str, exchange: str, pipe: Pipe) -> None:
    engine = make_engine(url)
    received: list[tuple[str, float]] = []
    lock = threading.Lock()

    def handler(session, applied: CloudEvent) -> None:
        session.execute(text("INSERT INTO bench_effect (event_id, n) VALUES (:id, :n)"),
                        {"id": applied.id, "n": applied.data["n"]})
        session.info.setdefault("bench_ids", []).append((applied.id, time.time()))

    runner = ConsumerRunner(engine, amqp_url, exchange, SERVICE, {EVENT_TYPE: handler},
                            FakeCipher())

    @event.listens_for(runner.applier.sessions, "after_commit")
    def committed(session) -> None:
        now = time.time()
        with lock:
            received.extend((event_id, (handled, now))
                            for event_id, handled in session.info.pop("bench_ids", []))

    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    thread.start()
    serve(pipe, received, lock)
    stop.set()
    thread.join()
    engine.dispose()


def plain_consumer_process(amqp_url: str, queue: str, pipe: Pipe) -> None:
    connection = connect(amqp_url, "bench-plain-consumer")
    channel = connection.channel()
    channel.basic_qos(prefetch_count=PREFETCH)
    received: list[tuple[str, float]] = []

    def on_message(ch, method, properties, _body) -> None:
        ch.basic_ack(method.delivery_tag)
        received.append((properties.message_id, time.time()))

    channel.basic_consume(queue, on_message)
    pipe.send("ready")
    while True:
        connection.process_data_events(time_limit=0.05)
        if pipe.poll():
            if pipe.recv() == "stop":
                break
            batch, received[:] = list(received), []
            pipe.send(batch)
    connection.close()


def busy_loop() -> None:
    """A competitor for the CPU (--contend): spins until terminated."""
    while True:
        pass


# -- the producing side (this process) ----------------------------------------------------

@dataclass
class Measurement:
    started: dict[str, float] = field(default_factory=dict)  # id → time after commit/publish
    finished: dict[str, float] = field(default_factory=dict)  # id → time the far end was done
    handled: dict[str, float] = field(default_factory=dict)  # id → time the handler was called
    behind: float = 0.0  # how late the producer ever was against its schedule, seconds
    checkpoints: int = 0  # PostgreSQL checkpoints meanwhile (other sessions' CREATE DATABASE...)

    def latencies_ms(self, until: dict[str, float] | None = None) -> list[float]:
        until = self.finished if until is None else until
        return sorted(1000 * (until[i] - t) for i, t in self.started.items() if i in until)

    def add(self, reports: list[tuple[str, float | tuple[float, float]]]) -> None:
        for event_id, when in reports:
            if isinstance(when, tuple):
                self.handled[event_id], self.finished[event_id] = when
            else:
                self.finished[event_id] = when


def paced(count: int, rate: float, send, measurement: Measurement) -> None:
    """Call `send(n)` for n in range(count) at `rate` per second, open loop."""
    start = time.perf_counter()
    for n in range(count):
        due = start + n / rate
        wait = due - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        else:
            measurement.behind = max(measurement.behind, -wait)
        send(n)


def collect(pipe: Pipe, measurement: Measurement) -> None:
    deadline = time.monotonic() + COLLECT_TIMEOUT
    while len(measurement.finished.keys() & measurement.started.keys()) < len(
            measurement.started) and time.monotonic() < deadline:
        time.sleep(0.05)
        pipe.send("collect")
        measurement.add(pipe.recv())


class OutboxProducer:
    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.outbox = Outbox(FakeCipher())

    def measure(self, count: int, rate: float, pipe: Pipe) -> Measurement:
        measurement = Measurement()

        def send(n: int) -> None:
            with self.engine.begin() as connection:
                connection.execute(text("INSERT INTO bench_state (n, status) VALUES (:n, 'ok')"),
                                   {"n": n})
                event_id = self.outbox.add(connection, sample_event(n))
            measurement.started[event_id] = time.time()

        paced(count, rate, send, measurement)
        collect(pipe, measurement)
        return measurement

    def close(self) -> None:
        self.engine.dispose()


class PlainProducer:
    def __init__(self, amqp_url: str, exchange: str) -> None:
        self.connection = connect(amqp_url, "bench-plain-publisher")
        self.channel = self.connection.channel()
        self.channel.confirm_delivery()
        self.exchange = exchange

    def measure(self, count: int, rate: float, pipe: Pipe) -> Measurement:
        measurement = Measurement()

        def send(n: int) -> None:
            message_id = uuid.uuid4().hex
            body = sample_event(n).to_json().encode()
            measurement.started[message_id] = time.time()
            self.channel.basic_publish(self.exchange, EVENT_TYPE, body, pika.BasicProperties(
                delivery_mode=2, content_type="application/json", message_id=message_id),
                mandatory=True)

        paced(count, rate, send, measurement)
        self.connection.process_data_events(0)  # heartbeats between rounds
        collect(pipe, measurement)
        return measurement

    def close(self) -> None:
        self.connection.close()


# -- figures ------------------------------------------------------------------------------

def checkpoints(engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(
            "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")).scalar_one())


def measured(producer, count: int, rate: float, pipe: Pipe, engine) -> Measurement:
    before = checkpoints(engine)
    measurement = producer.measure(count, rate, pipe)
    measurement.checkpoints = checkpoints(engine) - before
    return measurement


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise(measurement: Measurement) -> dict[str, float]:
    latencies = measurement.latencies_ms()
    figures = {"p50": percentile(latencies, 0.50), "p95": percentile(latencies, 0.95),
               "p99": percentile(latencies, 0.99), "max": latencies[-1],
               "missing": len(measurement.started) - len(latencies),
               "behind": 1000 * measurement.behind, "checkpoints": measurement.checkpoints}
    if measurement.handled:  # where the time goes: up to the handler's call, then its commit
        to_handler = measurement.latencies_ms(measurement.handled)
        figures["to_handler_p50"] = percentile(to_handler, 0.50)
        figures["to_handler_p95"] = percentile(to_handler, 0.95)
    return figures


def table(rounds: list[dict[str, dict[str, float]]], count: int, rate: float,
          contend: int = 0) -> list[str]:
    def median(side: str, key: str) -> float:
        return statistics.median(r[side][key] for r in rounds)

    diff = {q: statistics.median(r["outbox"][q] - r["plain"][q] for r in rounds)
            for q in ("p50", "p95")}
    lines = [f"event latency at {rate:g} events/s, {len(rounds)} round(s) of {count} events "
             f"per path, medians over the rounds, in ms"
             + (f", {contend} busy-loop process(es) competing for the CPU" if contend else ""),
             "",
             "| path | p50 | p95 | p99 | max | missing | producer behind (max) "
             "| PostgreSQL checkpoints |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for side in rounds[0]:
        lines.append(f"| {NAMES[side]} | {median(side, 'p50'):.1f} | {median(side, 'p95'):.1f}"
                     f" | {median(side, 'p99'):.1f} | {median(side, 'max'):.1f}"
                     f" | {sum(r[side]['missing'] for r in rounds):.0f}"
                     f" | {max(r[side]['behind'] for r in rounds):.1f}"
                     f" | {sum(r[side]['checkpoints'] for r in rounds):.0f} |")
    lines.append(f"| difference (outbox minus bare, paired per round) | {diff['p50']:+.1f} "
                 f"| {diff['p95']:+.1f} | | | | | |")
    lines += ["", f"of which commit → handler called (relay, broker, consumer's receipt): "
              f"p50 {median('outbox', 'to_handler_p50'):.1f} ms, "
              f"p95 {median('outbox', 'to_handler_p95'):.1f} ms; the rest is the consumer's "
              f"transaction (inbox + effect + commit)"]
    behind = max(r[side]["behind"] for r in rounds for side in r)
    if behind > 1000 * SATURATED_BEHIND:
        lines += ["", f"rate not held: a producer fell {behind:.0f} ms behind its schedule "
                  f"(more than {1000 * SATURATED_BEHIND:.0f} ms): the machine did not keep "
                  f"up a steady {rate:g} events/s in this run"]
    lines += ["", f"event latency p95: {median('outbox', 'p95'):.1f} ms through the outbox vs "
              f"{median('plain', 'p95'):.1f} ms bare pika, {diff['p95']:+.1f} ms over "
              f"(aim: under +50 ms)"]
    return lines


# -- the run ------------------------------------------------------------------------------

STATE_DDL = ("CREATE TABLE bench_state (id bigserial PRIMARY KEY, n integer NOT NULL, "
             "status text NOT NULL)")
EFFECT_DDL = "CREATE TABLE bench_effect (event_id varchar(64) PRIMARY KEY, n integer NOT NULL)"


def create_database(run: str, role: str, ddl: str) -> str:
    url = f"postgresql://postgres@127.0.0.1:5432/bl_bench_{run}_{role}"
    migrate_mechanisms(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text(ddl))
    engine.dispose()
    return url


def drop_database(url: str) -> None:
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def start(context, target, *args) -> tuple[multiprocessing.Process, Pipe]:
    ours, theirs = context.Pipe()
    process = context.Process(target=target, args=(*args, theirs), daemon=True)
    process.start()
    if not ours.poll(60) or ours.recv() != "ready":
        raise RuntimeError(f"{target.__name__} did not start")
    return process, ours


def stop(process: multiprocessing.Process, pipe: Pipe) -> None:
    if process.is_alive():
        pipe.send("stop")
        process.join(15)
    if process.is_alive():
        process.terminate()


def measure_rounds(args, databases: dict[str, str], exchange: str,
                   plain_exchange: str) -> list[dict[str, dict[str, float]]]:
    """`databases`: "consumer", "outbox" and, with --compare-polling, "polling" (a second
    producing database whose relay does not listen, publishing to the same consumer)."""
    context = multiprocessing.get_context("spawn")
    consumer = start(context, consumer_process, databases["consumer"], args.amqp_url, exchange)
    plain = start(context, plain_consumer_process, args.amqp_url,
                  Topology(plain_exchange).queue(PLAIN))
    paths = [path for path in PATHS if path == "plain" or path in databases]
    children = [consumer, plain] + [
        start(context, relay_process, databases[path], args.amqp_url, exchange,
              path == "outbox") for path in paths if path != "plain"]
    pipes = {path: plain[1] if path == "plain" else consumer[1] for path in paths}
    producers: dict[str, OutboxProducer | PlainProducer] = {
        path: PlainProducer(args.amqp_url, plain_exchange) if path == "plain"
        else OutboxProducer(databases[path]) for path in paths}
    count = max(1, round(args.rate * args.seconds))
    stats = make_engine(databases["consumer"])
    competitors = [context.Process(target=busy_loop, daemon=True) for _ in range(args.contend)]
    try:
        for competitor in competitors:
            competitor.start()
        for path in paths:  # warm-up: connections, caches, the first relay batches
            producers[path].measure(max(1, round(args.rate * args.warmup)), args.rate,
                                    pipes[path])
        rounds = []
        for n in range(args.rounds):
            order = paths[n % len(paths):] + paths[:n % len(paths)]
            rounds.append({path: summarise(measured(producers[path], count, args.rate,
                                                    pipes[path], stats))
                           for path in order})
        return rounds
    finally:
        for competitor in competitors:
            competitor.terminate()
            competitor.join()
        for producer in producers.values():
            producer.close()
        stats.dispose()
        for process, pipe in children:
            stop(process, pipe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 s per path, results file not written")
    parser.add_argument("--rate", type=float, default=200.0, help="events per second")
    parser.add_argument("--seconds", type=float, default=6.0, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds per path, discarded")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--results", type=Path, help="default: bench/results/events.md")
    parser.add_argument("--contend", type=whole_number(least=0), default=0, metavar="N",
                        help="N busy-loop processes compete for the CPU during the rounds")
    parser.add_argument("--compare-polling", action="store_true",
                        help="also measure a relay that only polls (listen=False)")
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.rounds, args.warmup = 1.0, 1, 0.25
    run = uuid.uuid4().hex[:8]
    exchange, plain_exchange = f"bl.bench.{run}", f"bl.bench.{run}.plain"
    databases = {"consumer": create_database(run, "consumer", EFFECT_DDL),
                 "outbox": create_database(run, "producer", STATE_DDL)}
    if args.compare_polling:
        databases["polling"] = create_database(run, "polling", STATE_DDL)
    connection = connect(args.amqp_url, "bench-setup")
    Topology(exchange).declare_service(connection.channel(), SERVICE, [EVENT_TYPE])
    Topology(plain_exchange).declare_service(connection.channel(), PLAIN, [EVENT_TYPE])
    connection.close()
    try:
        rounds = measure_rounds(args, databases, exchange, plain_exchange)
    finally:
        delete_topology(args.amqp_url, exchange, [SERVICE])
        delete_topology(args.amqp_url, plain_exchange, [PLAIN])
        for url in databases.values():
            drop_database(url)
    lines = table(rounds, max(1, round(args.rate * args.seconds)), args.rate, args.contend)
    print("\n".join(lines))
    if args.results or not args.quick:
        from results_file import write_results

        path = write_results("events", "Event latency: outbox → relay → consumer vs bare pika",
                             {"rate": f"{args.rate:g} events/s", "seconds per path and round":
                              args.seconds, "rounds": args.rounds, "warm-up": args.warmup,
                              "relay": "OutboxRelay defaults (own process), listening for "
                              "the outbox's NOTIFY, polling every 0.2 s as the fallback",
                              "consumer": "ConsumerRunner defaults (own process)",
                              "databases": "PostgreSQL, producer and consumer each their own",
                              "broker": "RabbitMQ, quorum queues",
                              "competing busy loops": args.contend}, lines, path=args.results)
        print(f"written to {path}")


if __name__ == "__main__":
    main()
