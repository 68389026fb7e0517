"""Messaging throughput on the real broker, each figure against plain pika in the same run.

- relay: outbox rows → RabbitMQ with publisher confirms, vs. a bare pika loop publishing
  the same bodies with confirms (`mandatory=True`, persistent), one message at a time.
- consumer: ConsumerRunner (parse, inbox insert and a no-op handler in one transaction,
  commit, ack) vs. a bare pika consume + ack loop, same prefetch.

Both publish to the production topology (topic exchange → quorum queue). The exchange,
queues and database are created for the run and removed afterwards.

    .venv/bin/python bench/messaging_bench.py [--quick] [--database-url URL] [--results FILE]

The table also goes to bench/results/messaging.md (except with --quick).
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
import uuid
from pathlib import Path

import pika
from sqlalchemy import text

from shared.db import make_engine
from shared.messaging import CloudEvent, ConsumerRunner, Outbox, OutboxRelay, Topology
from shared.messaging.amqp import connect
from shared.messaging.testing import (
    FakeCipher,
    delete_topology,
    migrate_mechanisms,
)

SERVICE = "attestation"
EVENT_TYPE = "attendance.recorded"
PREFETCH = 16


def sample_event(n: int) -> CloudEvent:
    return CloudEvent(type=EVENT_TYPE, source="/attestation", tenant="emp_bench",
                      subject=f"ref_{n}", data={"referral_id": f"ref_{n}", "week": "2027-W02",
                                                "attended": 3, "scheduled": 3})


def fill_outbox(engine, count: int) -> None:
    outbox = Outbox(FakeCipher())
    with engine.begin() as connection:
        for n in range(count):
            outbox.add(connection, sample_event(n))


def time_relay(engine, amqp_url: str, exchange: str, count: int) -> float:
    fill_outbox(engine, count)
    relay = OutboxRelay(engine, amqp_url, exchange, batch_size=100)
    relay.publisher.ensure_connected()  # connection set-up is not throughput
    started, sent = time.perf_counter(), 0
    while sent < count:
        sent += relay.publish_pending()
    elapsed = time.perf_counter() - started
    relay.close()
    return count / elapsed


def time_plain_publish(amqp_url: str, exchange: str, count: int) -> float:
    bodies = [sample_event(n).to_json().encode() for n in range(count)]
    connection = connect(amqp_url, "bench-plain-publisher")
    channel = connection.channel()
    channel.confirm_delivery()
    started = time.perf_counter()
    for body in bodies:
        channel.basic_publish(exchange, EVENT_TYPE, body, pika.BasicProperties(
            delivery_mode=2, content_type="application/json", message_id=str(uuid.uuid4())),
            mandatory=True)
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def time_plain_consume(amqp_url: str, queue: str, count: int) -> float:
    connection = connect(amqp_url, "bench-plain-consumer")
    channel = connection.channel()
    channel.basic_qos(prefetch_count=PREFETCH)
    acked = 0

    def on_message(ch, method, _properties, _body):
        nonlocal acked
        ch.basic_ack(method.delivery_tag)
        acked += 1
        if acked == count:
            ch.stop_consuming()

    channel.basic_consume(queue, on_message)
    started = time.perf_counter()
    channel.start_consuming()
    elapsed = time.perf_counter() - started
    connection.close()
    return count / elapsed


def time_inbox_consumer(engine, amqp_url: str, exchange: str, count: int) -> float:
    runner = ConsumerRunner(engine, amqp_url, exchange, SERVICE,
                            {EVENT_TYPE: lambda session, event: None}, FakeCipher(),
                            prefetch=PREFETCH)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop,))
    started = time.perf_counter()
    thread.start()
    while runner.stats.applied < count:
        time.sleep(0.001)
    elapsed = time.perf_counter() - started
    stop.set()
    thread.join()
    return count / elapsed


def queue_depth(amqp_url: str, queue: str) -> int:
    connection = connect(amqp_url, "bench")
    depth = connection.channel().queue_declare(queue, passive=True).method.message_count
    connection.close()
    return depth


def run_round(engine, amqp_url: str, exchange: str, count: int) -> dict[str, float]:
    queue = Topology(exchange).queue(SERVICE)
    figures = {"plain_publish": time_plain_publish(amqp_url, exchange, count),
               "relay": time_relay(engine, amqp_url, exchange, count)}
    assert queue_depth(amqp_url, queue) == 2 * count
    figures["plain_consume"] = time_plain_consume(amqp_url, queue, count)
    figures["inbox_consume"] = time_inbox_consumer(engine, amqp_url, exchange, count)
    with engine.begin() as connection:  # a fresh outbox and inbox for the next round
        connection.execute(text("DELETE FROM outbox"))
        connection.execute(text("DELETE FROM inbox"))
    return figures


def report(rounds: list[dict[str, float]], database: str) -> list[str]:
    median = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
    lines = [f"database: {database}; rounds: {len(rounds)}; medians in messages/s",
             f"  plain pika publish (confirms)  {median['plain_publish']:9.0f}",
             f"  outbox relay (confirms)        {median['relay']:9.0f}   "
             f"ratio {median['relay'] / median['plain_publish']:.2f}x",
             f"  plain pika consume + ack       {median['plain_consume']:9.0f}",
             f"  consumer with inbox            {median['inbox_consume']:9.0f}   "
             f"ratio {median['inbox_consume'] / median['plain_consume']:.2f}x"]
    print("\n".join(lines))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages, one round")
    parser.add_argument("--database-url", help="default: a fresh PostgreSQL database")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--results", type=Path, help="default: bench/results/messaging.md "
                        "(not written by --quick)")
    args = parser.parse_args()
    count, rounds = (1000, 1) if args.quick else (5000, 3)
    run = uuid.uuid4().hex[:8]
    url = args.database_url or f"postgresql://postgres@127.0.0.1:5432/bl_bench_{run}"
    exchange = f"bl.bench.{run}"
    migrate_mechanisms(url)
    engine = make_engine(url)
    connection = connect(args.amqp_url, "bench-setup")
    Topology(exchange).declare_service(connection.channel(), SERVICE, [EVENT_TYPE])
    connection.close()
    try:
        results = [run_round(engine, args.amqp_url, exchange, count) for _ in range(rounds)]
        lines = report(results, f"{engine.dialect.name} ({count} messages per measurement)")
    finally:
        engine.dispose()
        delete_topology(args.amqp_url, exchange, [SERVICE])
        if not args.database_url:
            drop_database(url)
    if args.results or not args.quick:
        from results_file import write_results

        path = write_results("messaging", "Messaging throughput vs plain pika",
                             {"messages per measurement": count, "rounds": rounds,
                              "relay": "OutboxRelay, batch_size 100, confirms, mandatory",
                              "consumer": f"ConsumerRunner, prefetch {PREFETCH}",
                              "broker": "RabbitMQ, quorum queue"},
                             ["```", *lines, "```"], path=args.results)
        print(f"written to {path}")


def drop_database(url: str) -> None:
    admin = make_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


if __name__ == "__main__":
    main()
