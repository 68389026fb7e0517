"""Attendance ingest through the provider webhook, as a ratio to plain SQLAlchemy Core inserts
of the same rows in the same run (not a test).

    .venv/bin/python bench/attendance_bench.py            # 20 batches of 1,000, both transports
    .venv/bin/python bench/attendance_bench.py --quick    # 2 batches of 100
    .venv/bin/python bench/attendance_bench.py --profile  # + cProfile of one in-process batch

What is timed, per batch of records:
- "plain Core insert" (the baseline): `conn.execute(insert(table), rows)` of ready-made
  rows, in its own transaction, into a plain table with the columns, primary key and
  index of `attendance_records`, in the same PostgreSQL database, through the service's
  own engine. Nothing else: no parsing, no validation, no idempotency.
- "webhook, new records": `POST /v1/webhooks/providers/{provider_id}/attendance` of a
  signed Standard Webhook (signed by the independent `standardwebhooks` package, as a
  provider would; the signing and the JSON encoding of the body are not timed) whose
  records all have fresh ids. Everything the service does is timed: signature check,
  envelope and schema validation, the referral and latest-version look-ups, the insert,
  the stored answer, the commit and the JSON response.
- "resend, same webhook-id": the same delivery again (what a provider's retry sends):
  the first answer is replayed and nothing is written.
- "resend, new webhook-id": the same records under a new message id: every record is
  compared with its stored version and counted `unchanged`, nothing is written.

Two transports: "in-process" drives the Flask app through its test client (WSGI, no
sockets); "gunicorn" runs `attestation.app:create_app()` under gunicorn as
`bridgeline up` does (one gthread worker) and posts over HTTP with one `requests` session.
The records refer to referrals routed to the provider (learnt from the referral service's
events), spread over a few dates and statuses.

Before timing, both tables get the same history (`--history` earlier records of the
provider, inserted directly) and, unless `--no-analyze`, an ANALYZE, as autovacuum would
do on a server that has it on: with no statistics, PostgreSQL's generic plan for the
prepared (psycopg prepares a statement run 5 times) latest-version query degrades to a
scan per record once the table holds some 20,000 rows, and that, not the service's code,
then dominates (`--no-analyze` shows it on a server with autovacuum off).

The four measurements are taken in alternation, batch after batch, so background load on
this shared machine affects them alike; seconds are the sums over all batches. One warm-up
batch of each kind is not counted. A fresh PostgreSQL service database and directory
database are created for the run and dropped afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    insert,
    text,
)
from sqlalchemy.engine import make_url
from stack import free_port, gunicorn_argv
from standardwebhooks.webhooks import Webhook

from attestation.adapters.orm import attendance_records
from attestation.adapters.signing import SigningKeys
from attestation.app import create_app
from attestation.bootstrap import bootstrap
from attestation.config import signing_keys_path
from attestation.entrypoints.consumer import event_handlers
from shared.config import Settings
from shared.crypto import Keyring
from shared.db import UtcDateTime, make_engine
from shared.db.migrate import upgrade_directory, upgrade_service
from shared.directory.endpoints import WebhookEndpoints
from shared.ids import new_id
from shared.messaging import CloudEvent
from shared.services import migration_versions

SERVICE = "attestation"
REFERRALS = 50
STATUSES = ("attended", "attended", "attended", "absent_excused", "absent_unexcused",
            "cancelled_by_program")
START = date(2027, 1, 4)
CASES = ("plain", "new", "resend_same_id", "resend_new_id")
LABELS = {"plain": "plain Core insert", "new": "webhook, new records",
          "resend_same_id": "resend, same webhook-id",
          "resend_new_id": "resend, new webhook-id"}
POOR = 0.3

plain_metadata = MetaData()
plain_table = Table(  # the columns, key and index of `attendance_records`, nothing else
    "bench_plain_attendance", plain_metadata,
    Column("provider_id", String(40), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("referral_id", String(40), nullable=False),
    Column("date", Date, nullable=False),
    Column("status", String(24), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("provider_id", "record_id", "version"),
    Index("ix_bench_plain_referral_date", "referral_id", "date"),
)

Post = Callable[[str, dict[str, str]], tuple[int, Any]]


# -- the world: databases, keys, a provider with its secret, referrals -------------------------
@dataclass
class World:
    env: dict[str, str]
    settings: Settings
    runtime: Any
    provider: str
    secret: str
    referrals: list[str]
    urls: list[str] = field(default_factory=list)


@contextlib.contextmanager
def world(server: str, var_dir: Path) -> Iterator[World]:
    run = uuid.uuid4().hex[:8]
    service_url = f"{server}/bl_bench_att_{run}"
    directory_url = f"{service_url}_dir"
    env = {"BRIDGELINE_VAR_DIR": str(var_dir), "ATTESTATION_DATABASE_URL": service_url,
           "DIRECTORY_DATABASE_URL": directory_url, "LOG_LEVEL": "WARNING",
           "AMQP_URL": os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")}
    settings = Settings.from_env(SERVICE, env)
    runtime = None
    try:
        Keyring.generate(settings.keyring_path)
        upgrade_directory(directory_url)
        upgrade_service(service_url, migration_versions(SERVICE))
        keys = signing_keys_path(settings)
        keys.parent.mkdir(parents=True, exist_ok=True)
        SigningKeys.generate(keys)
        runtime = bootstrap(settings, broker_probe=lambda: True)
        plain_metadata.create_all(runtime.engine)
        provider = runtime.directory.create_provider("Evening IOP").id
        endpoints = WebhookEndpoints(runtime.directory.engine, runtime.cipher,
                                     allow_insecure_urls=True)
        _, secret = endpoints.configure("provider", provider, "http://127.0.0.1:9/hooks")
        employer = runtime.directory.create_employer("Acme").id
        referrals = [learn_referral(runtime, employer, provider) for _ in range(REFERRALS)]
        yield World(env, settings, runtime, provider, secret, referrals,
                    [service_url, directory_url])
    finally:
        if runtime is not None:
            runtime.dispose()
        for url in (service_url, directory_url):
            drop_database(url)


def learn_referral(runtime: Any, employer: str, provider: str) -> str:
    """A referral routed to `provider`, told to the service as the referral service does."""
    ref, subject, consent = new_id("ref"), new_id("sub"), new_id("con")
    handlers = event_handlers(runtime.domain)
    at = datetime(2027, 1, 4, 9, tzinfo=UTC)
    for type_, data in [
        ("referral.created", {"provider_id": provider, "kind": "formal",
                              "employee": {"external_id": f"E-{ref[-6:]}"},
                              "link_expires_at": "2027-01-25T00:00:00+00:00"}),
        ("consent.granted", {"consent_id": consent, "provider_id": provider,
                             "scopes": ["attendance_summary", "participation"],
                             "expires_on": "2027-06-30",
                             "recipient": {"employer_id": employer, "role": "hr"},
                             "purpose": "to support your employment",
                             "signed_at": at.isoformat(), "form_version": "2027-01",
                             "employee": {"name": "Ada Lovelace",
                                          "external_id": f"E-{ref[-6:]}"}}),
        ("enrollment.started", {"provider_id": provider, "start_date": START.isoformat(),
                                "expected_end_date": "2027-03-30", "level_of_care": "IOP"}),
    ]:
        event = CloudEvent(type=type_, source="/referral", subject=ref, tenant=employer,
                           key_subject=subject, time=at,
                           data={"referral_id": ref, "employer_id": employer, **data})
        with runtime.sessions.begin() as session:
            handlers[type_](session, event)
    return ref


def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = make_engine(parsed.set(database="postgres").render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


# -- batches -----------------------------------------------------------------------------------
def batch_records(w: World, tag: str, size: int) -> list[dict[str, Any]]:
    return [{"id": f"{tag}-{n}", "referral_id": w.referrals[n % len(w.referrals)],
             "date": (START + timedelta(days=n % 84)).isoformat(),
             "status": STATUSES[n % len(STATUSES)]} for n in range(size)]


def plain_rows(w: World, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [{"provider_id": w.provider, "record_id": r["id"], "version": 1,
             "referral_id": r["referral_id"], "date": date.fromisoformat(r["date"]),
             "status": r["status"], "received_at": now} for r in records]


def signed(w: World, body: str, msg_id: str) -> dict[str, str]:
    when = datetime.now(UTC)
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": Webhook(w.secret).sign(msg_id, when, body),
            "Content-Type": "application/json"}


def envelope(records: list[dict[str, Any]]) -> str:
    return json.dumps({"type": "attendance.reported", "timestamp": "2027-01-10T18:00:00Z",
                       "data": {"records": records}})


def timed_post(post: Post, w: World, body: str, msg_id: str,
               expect: Callable[[Any], bool]) -> float:
    headers = signed(w, body, msg_id)
    started = time.perf_counter()
    status, answer = post(body, headers)
    elapsed = time.perf_counter() - started
    if status != 200 or not expect(answer):
        raise SystemExit(f"unexpected answer {status}: {str(answer)[:300]}")
    return elapsed


def timed_plain(w: World, rows: list[dict[str, Any]]) -> float:
    started = time.perf_counter()
    with w.runtime.engine.begin() as conn:
        conn.execute(insert(plain_table), rows)
    return time.perf_counter() - started


def one_round(post: Post, w: World, tag: str, size: int) -> dict[str, float]:
    """The four measurements of one batch, in that order."""
    records = batch_records(w, tag, size)
    rows = plain_rows(w, records)
    body, msg_id = envelope(records), f"msg_{uuid.uuid4().hex}"
    seconds = {"plain": timed_plain(w, rows)}
    first: dict[str, Any] = {}

    def is_new(answer: Any) -> bool:
        first.update(answer)
        return answer == {"accepted": size, "unchanged": 0, "corrected": 0, "rejected": []}

    seconds["new"] = timed_post(post, w, body, msg_id, is_new)
    seconds["resend_same_id"] = timed_post(post, w, body, msg_id, lambda a: a == first)
    seconds["resend_new_id"] = timed_post(
        post, w, body, f"msg_{uuid.uuid4().hex}",
        lambda a: a == {"accepted": 0, "unchanged": size, "corrected": 0, "rejected": []})
    return seconds


def fill_history(w: World, count: int, analyze: bool) -> None:
    """`count` earlier records of the provider in both tables; then ANALYZE, if asked."""
    for start in range(0, count, 1000):
        records = batch_records(w, f"history-{start // 1000}", min(1000, count - start))
        rows = plain_rows(w, records)
        with w.runtime.engine.begin() as conn:
            conn.execute(insert(attendance_records), rows)
            conn.execute(insert(plain_table), rows)
    if analyze:
        with w.runtime.engine.begin() as conn:
            conn.execute(text("ANALYZE attendance_records"))
            conn.execute(text("ANALYZE bench_plain_attendance"))


def measure(post: Post, w: World, transport: str, batches: int,
            size: int) -> dict[str, float]:
    one_round(post, w, f"warm-{transport}", size)
    totals = dict.fromkeys(CASES, 0.0)
    for i in range(batches):
        for case, seconds in one_round(post, w, f"{transport}-{i}", size).items():
            totals[case] += seconds
    return totals


# -- transports --------------------------------------------------------------------------------
def in_process(w: World) -> tuple[Post, Callable[[], None]]:
    client = create_app(w.runtime).test_client()
    url = f"/v1/webhooks/providers/{w.provider}/attendance"

    def post(body: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = client.post(url, data=body, headers=headers)
        return response.status_code, response.get_json()
    return post, lambda: None


def under_gunicorn(w: World, log: Path) -> tuple[Post, Callable[[], None]]:
    """One gunicorn worker, with the settings `bridgeline up` gives a service."""
    port = free_port()
    command = [*gunicorn_argv(1), "--bind", f"127.0.0.1:{port}", f"{SERVICE}.app:create_app()"]
    with log.open("wb") as out:
        web = subprocess.Popen(command, env={**os.environ, **w.env},
                               stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()

    def stop() -> None:
        session.close()
        web.terminate()
        try:
            web.wait(15)
        except subprocess.TimeoutExpired:
            web.kill()
            web.wait()

    deadline = time.monotonic() + 30
    while True:
        try:
            if session.get(base + "/healthz", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        if web.poll() is not None or time.monotonic() > deadline:
            stop()
            raise SystemExit(f"gunicorn did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.1)
    url = f"{base}/v1/webhooks/providers/{w.provider}/attendance"

    def post(body: str, headers: dict[str, str]) -> tuple[int, Any]:
        response = session.post(url, data=body.encode(), headers=headers, timeout=60)
        return response.status_code, response.json()
    return post, stop


# -- profile -----------------------------------------------------------------------------------
def profile_one_batch(w: World, size: int) -> None:
    post, _ = in_process(w)
    records = batch_records(w, "profiled", size)
    body, msg_id = envelope(records), f"msg_{uuid.uuid4().hex}"
    headers = signed(w, body, msg_id)
    profiler = cProfile.Profile()
    profiler.enable()
    status, _answer = post(body, headers)
    profiler.disable()
    assert status == 200
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(25)
        print(f"\n-- cProfile of one in-process batch of {size} new records, by {order}")
        print(out.getvalue().split("\n\n", 1)[-1].rstrip())


# -- report ------------------------------------------------------------------------------------
def report(results: dict[str, dict[str, float]], batches: int, size: int,
           setting: str) -> float:
    records = batches * size
    print(f"database: postgresql; {setting}; {batches} batches of {size} records per case; "
          "seconds summed over batches; ratio = records/s / plain Core insert records/s")
    print(f"{'transport':<11} {'case':<25} {'batches':>7} {'records':>8} {'seconds':>8} "
          f"{'records/s':>10} {'ratio':>7}")
    for transport, totals in results.items():
        for case in CASES:
            rate = records / totals[case]
            ratio = totals["plain"] / totals[case]
            print(f"{transport:<11} {LABELS[case]:<25} {batches:>7} {records:>8} "
                  f"{totals[case]:>8.3f} {rate:>10.0f} {ratio:>6.2f}x")
    summary = []
    for transport, totals in results.items():
        new, plain = records / totals["new"], records / totals["plain"]
        summary.append(f"{transport}: {new:.0f} new records/s = {new / plain:.2f}x plain Core "
                       f"({plain:.0f}/s), resend {records / totals['resend_same_id']:.0f}/s "
                       f"(same id) / {records / totals['resend_new_id']:.0f}/s (new id)")
    print(f"attendance webhook ingest, batches of {size}: " + "; ".join(summary))
    return min(r["plain"] / r["new"] for r in results.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 batches of 100 records")
    parser.add_argument("--batches", type=int, help="default 20 (2 with --quick)")
    parser.add_argument("--size", type=int, help="records per batch; default 1000 (100 quick)")
    parser.add_argument("--transport", choices=("both", "in-process", "gunicorn"),
                        default="both")
    parser.add_argument("--history", type=int,
                        help="earlier records in both tables; default 20000 (1000 quick)")
    parser.add_argument("--no-analyze", action="store_true",
                        help="do not ANALYZE the tables after filling in the history")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one in-process batch of new records")
    parser.add_argument("--server", default=os.environ.get(
        "PG_SERVER_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database; fresh databases are made there")
    args = parser.parse_args(argv)
    batches = args.batches or (2 if args.quick else 20)
    size = args.size or (100 if args.quick else 1000)
    history = args.history if args.history is not None else (1000 if args.quick else 20_000)
    transports = ["in-process", "gunicorn"] if args.transport == "both" else [args.transport]
    with tempfile.TemporaryDirectory() as tmp, world(args.server.rstrip("/"), Path(tmp)) as w:
        fill_history(w, history, not args.no_analyze)
        with w.runtime.engine.connect() as conn:
            autovacuum = conn.execute(text("SHOW autovacuum")).scalar()
        setting = (f"history {history} records, "
                   f"{'not ' if args.no_analyze else ''}analyzed, autovacuum {autovacuum}")
        results: dict[str, dict[str, float]] = {}
        for transport in transports:
            post, stop = (in_process(w) if transport == "in-process"
                          else under_gunicorn(w, Path(tmp) / "gunicorn.log"))
            try:
                results[transport] = measure(post, w, transport, batches, size)
            finally:
                stop()
        worst = report(results, batches, size, setting)
        if args.profile:
            profile_one_batch(w, size)
        elif worst < POOR:
            print(f"(below {POOR}x: run with --profile to see where one batch's time goes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
