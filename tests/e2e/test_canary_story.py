"""The canary test of issue 7: the whole story over real processes with distinctive
values in every field that takes personal or clinical data, then a scan of everything the
system wrote or said. None of the canaries may appear in plaintext (or hex, base64,
JSON-, URL- or HTML-escaped, in any case; see `tests/support/canary.py`):

(a) in any column of any row of any table of any database (the three services' and the
    directory), on PostgreSQL and on SQLite; on SQLite also in the raw bytes of every
    file under the var directory (database files, -wal and -shm, keys), while the
    services run and after; on PostgreSQL, where the server's files are readable here,
    in the raw files of the run's databases (dead row versions included) and the WAL
    segments written meanwhile;
(b) in any message that crossed the broker: a tap queue (exclusive, auto-delete, uniquely
    named) is bound to `#` on the stack's exchange before the services start; bodies,
    headers and properties are scanned, and the dead-letter queues are drained too;
(c) in any log line: the services, workers and gunicorns of `bridgeline up` write to
    files here (not to DEVNULL, as the shared `stack` fixture has them), at DEBUG; the
    CLI's stderr; and the lines the PostgreSQL server logged meanwhile, if readable.

Besides the story (`tests/support/story.py`, with the canaries passed in), more steps
reach what the story leaves out: a second accommodation case HR opens with functional
limitations and medical documentation, which the specialist questions (notes) and denies
(a reason); a confidential self-referral through the `/start` page; and refused inputs
(a diagnosis in fields no schema has, a body that is not JSON) through the error paths.
The employer's webhook endpoint must not receive a canary either (bar its own external
ids), and the provider's nothing clinical.

Every scan asserts it saw something (the databases and tables with rows, the story's
event types, request log lines per service), and the self-checks at the end prove the
scanner finds a canary planted in a table row (also a deleted one, in PostgreSQL's
files), a message and a log line, in each of the forms it looks for.

`-s` prints what each run scanned.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pika
import pytest
import requests
from sqlalchemy import text
from standardwebhooks.webhooks import Webhook

from shared.config import database_url
from shared.db import make_engine
from shared.messaging.amqp import connect
from shared.messaging.testing import delete_topology, drain
from shared.messaging.topology import Topology
from tests.support.canary import (
    CanarySet,
    FileTail,
    ScanReport,
    Tap,
    TappedMessage,
    postgres_databases,
    scan_files_raw,
    scan_log_files,
    scan_log_lines,
    scan_messages,
    scan_postgres,
    scan_postgres_database,
    scan_postgres_storage,
    scan_sqlite_dir,
)
from tests.support.story import PROGRAM, Story, poll, read_form

SERVICES = ("referral", "accommodation", "attestation")
PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

# -- the canaries ------------------------------------------------------------------------
EMPLOYEE = {"external_id": "CNRY-7731-QZX", "name": "Ottoline Ægirsdóttir-Wyvernshaw",
            "email": "ottoline.wyvern@canary-mail.test", "phone": "+1 555 0142 778899"}
COLLEAGUE = {"external_id": "CNRY-7731-QZY", "name": "Barnaby Quaxley-Fenchurch",
             "email": "barnaby.quaxley@canary-mail.test", "phone": "+1 555 0143 667788"}
SELF_REFERRER = {"name": "Perpetua Snodgrass-Ravelstoke",
                 "email": "perpetua.ravel@canary-mail.test", "phone": "+44 20 7946 018833"}
PURPOSE = "Canary purpose: Pellucid-Marrowfield conduct concerns after the audit"
LIMITATIONS = "Canary limitation: Glimmerfen fatigue — I cannot stay past 17:15 on program days"
LEVEL_OF_CARE = "Canary Thistlewood intensive outpatient (dual diagnosis)"
NOTE = "Canary note: Brackenholt assessment discussed with the employee"
# the second case, opened by HR through the API
LIMITATIONS_2 = "Canary limitation two: Sorrelwick tremor makes commuting unsafe"
DOCUMENTATION = "Canary documentation: Dr Quillfeather diagnoses Vespertine panic disorder"
REQUEST_NOTE = "Canary note: asked for the Larkspurrow letter"
DENY_REASON = "Canary reason: Hollowmere undue hardship for the night shift"
# sent where no field takes it: refused (4xx), so it must not land anywhere at all
DIAGNOSIS = "Canary diagnosis: Orrisdale bipolar II with Kestrelmoor features"

VALUES = {**{f"employee.{k}": v for k, v in EMPLOYEE.items()},
          **{f"colleague.{k}": v for k, v in COLLEAGUE.items()},
          **{f"self_referrer.{k}": v for k, v in SELF_REFERRER.items()},
          "purpose": PURPOSE, "limitations": LIMITATIONS, "level_of_care": LEVEL_OF_CARE,
          "note": NOTE, "limitations_2": LIMITATIONS_2, "documentation": DOCUMENTATION,
          "request_note": REQUEST_NOTE, "deny_reason": DENY_REASON, "diagnosis": DIAGNOSIS}
# Parts that would betray a partial or normalised leak (a surname, a phone's digits).
FRAGMENTS = ("Ottoline", "Ægirsdóttir", "Wyvernshaw", "ottoline.wyvern", "CNRY-7731",
             "0142 778899", "15550142778899", "Quaxley", "Fenchurch", "barnaby.quaxley",
             "0143 667788", "15550143667788", "Snodgrass", "Ravelstoke", "perpetua.ravel",
             "7946 018833", "442079460188", "canary-mail.test", "Pellucid", "Marrowfield",
             "Glimmerfen", "Thistlewood", "dual diagnosis", "Brackenholt", "Sorrelwick",
             "Quillfeather", "Vespertine", "Larkspurrow", "Hollowmere", "Orrisdale",
             "Kestrelmoor")
CANARIES = CanarySet(VALUES, FRAGMENTS)
# The employer's endpoint receives attestations naming the employee by the employer's
# own id (the contract); everything else is news to it and must not arrive.
NEWS_TO_THE_EMPLOYER = CanarySet(
    {k: v for k, v in VALUES.items() if not k.endswith(".external_id")},
    [f for f in FRAGMENTS if f != "CNRY-7731"])
# What the specialist alone may read: neither HR nor the provider ever receives it.
CLINICAL = CanarySet({"limitations": LIMITATIONS, "note": NOTE,
                      "limitations_2": LIMITATIONS_2, "documentation": DOCUMENTATION,
                      "request_note": REQUEST_NOTE, "diagnosis": DIAGNOSIS})

# The story's events; each must have crossed the tap, or the message scan proves little.
STORY_EVENTS = {"referral.created", "consent.granted", "referral.accepted",
                "enrollment.started", "enrollment.completed", "consent.revoked",
                "accommodation.submitted", "accommodation.decided", "attestation.issued",
                "disclosure.recorded"}


# -- a stack whose output is kept -----------------------------------------------------------
def pg_server_logs() -> list[Path]:
    """The PostgreSQL server's log files, where this machine has them readable
    (`PG_SERVER_LOG`, or Debian's /var/log/postgresql): a failing statement is logged
    there, with whatever it quoted."""
    named = os.environ.get("PG_SERVER_LOG")
    paths = [Path(named)] if named else sorted(Path("/var/log/postgresql").glob("*.log"))
    return [p for p in paths if p.is_file() and os.access(p, os.R_OK)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class CanaryStack:
    """`bridgeline up` as the shared e2e `stack` fixture runs it (keys, signing keys,
    migrations, then the three gunicorns and their workers), but with every line the
    processes write kept in files, its own exchange tapped before the services start,
    and either PostgreSQL (`DATABASE_URL`, fresh databases named by `prefix`) or the
    embedded default (SQLite files under a fresh var directory)."""

    def __init__(self, root: Path, run_id: str, amqp_url: str, *, postgres: bool) -> None:
        self.root = root
        self.var = root / "var"
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.postgres = postgres
        self.amqp_url = amqp_url
        self.prefix = f"bl_canary_{run_id}_{uuid.uuid4().hex[:6]}"
        self.exchange = f"bl.canary.{run_id}.{uuid.uuid4().hex[:6]}"
        self.ports = {name: free_port() for name in SERVICES}
        inherited = {k: v for k, v in os.environ.items()
                     if not (k == "DATABASE_URL" or k.endswith("_DATABASE_URL")
                             or k in ("BRIDGELINE_KEYRING", "BRIDGELINE_VAR_DIR",
                                      "BRIDGELINE_EXCHANGE", "BRIDGELINE_ENV", "LOG_LEVEL")
                             or k.startswith(tuple(f"{s.upper()}_" for s in SERVICES)))}
        self.env = {**inherited, "BRIDGELINE_VAR_DIR": str(self.var), "AMQP_URL": amqp_url,
                    "BRIDGELINE_EXCHANGE": self.exchange, "BRIDGELINE_ENV": "dev",
                    "LOG_LEVEL": "DEBUG", "PYTHONUNBUFFERED": "1",
                    **{f"{n.upper()}_PORT": str(p) for n, p in self.ports.items()}}
        if postgres:
            self.env["DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{self.prefix}"
        self.process: subprocess.Popen[bytes] | None = None
        self.tap = Tap(amqp_url, self.exchange)
        self.started_at = time.time()
        self.server_log = FileTail(pg_server_logs() if postgres else [])

    @property
    def log_files(self) -> list[Path]:
        return sorted(self.logs.glob("*.log"))

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def cli(self, *args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-m", "shared.cli", *args], env=self.env,
                             capture_output=True, text=True, timeout=120)
        with (self.logs / "cli.log").open("a") as log:  # the commands' own logs
            log.write(out.stderr)
        assert out.returncode == 0, (args[:2], out.stderr[-2000:])
        return out.stdout.strip().splitlines()

    def start(self) -> None:
        self.cli("keys", "init")
        self.cli("signing-keys", "init", "--if-missing")
        self.cli("db", "upgrade")
        self.tap.open()  # before any service can publish
        with (self.logs / "up.stdout.log").open("wb") as out, \
                (self.logs / "up.stderr.log").open("wb") as err:
            self.process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up"],
                                            env=self.env, stdout=out, stderr=err)
        deadline = time.monotonic() + 90
        while not all(self.ready(s) for s in SERVICES):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.logs / "up.stderr.log").read_text(errors="replace")[-3000:]
                raise AssertionError(f"`bridgeline up` did not come up:\n{tail}")
            time.sleep(0.25)

    def ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service, "/readyz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    # -- what is still in flight ------------------------------------------------------------
    def _count(self, service: str, table: str, where: str) -> int:
        sql = f"SELECT count(*) FROM {table} WHERE {where}"
        if self.postgres:
            engine = make_engine(database_url(service, self.env))
            try:
                with engine.connect() as conn:
                    exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
                    return int(conn.execute(text(sql)).scalar_one()) if exists else 0
            finally:
                engine.dispose()
        path = self.var / f"{service}.db"
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE name = ?",
                              (table,)).fetchone():
                return 0
            return int(db.execute(sql).fetchone()[0])
        finally:
            db.close()

    def in_flight(self) -> dict[str, int]:
        """Unsent outbox rows, pending webhook deliveries, messages waiting in the
        services' queues."""
        counts = {}
        for s in SERVICES:
            counts[f"{s}.outbox"] = self._count(s, "outbox",
                                                "sent_at IS NULL AND parked_at IS NULL")
            counts[f"{s}.webhooks"] = self._count(s, "webhook_deliveries", "status = 'pending'")
        connection = connect(self.amqp_url, "bridgeline-canary-probe")
        try:
            topology = Topology(self.exchange)
            for s in SERVICES:
                try:
                    channel = connection.channel()
                    counts[f"{s}.queue"] = channel.queue_declare(
                        topology.queue(s), passive=True).method.message_count
                except pika.exceptions.ChannelClosedByBroker:  # this service consumes nothing
                    counts[f"{s}.queue"] = 0
        finally:
            connection.close()
        return counts

    def settle(self, timeout: float = 60) -> None:
        """Until nothing is in flight and the tap has seen nothing new for a second."""
        def quiet() -> bool:
            before = len(self.tap.messages)
            if any(self.in_flight().values()):
                return False
            time.sleep(1.0)
            return len(self.tap.messages) == before and not any(self.in_flight().values())

        poll("the system settling (outboxes, webhooks, queues empty)", quiet, timeout,
             interval=0.5)

    # -- clean-up ---------------------------------------------------------------------------
    def dead_letters(self) -> list[TappedMessage]:
        topology = Topology(self.exchange)
        out = []
        for s in SERVICES:
            queue = topology.dead_letter_queue(s)
            try:
                drained = drain(self.amqp_url, queue)
            except pika.exceptions.ChannelClosedByBroker:
                continue
            out += [TappedMessage(topology.dead_letter_exchange, queue, props, body)
                    for props, body in drained]
        return out

    def remove(self) -> None:
        """Databases dropped, queues and exchanges deleted (the tap deleted itself)."""
        try:
            delete_topology(self.amqp_url, self.exchange, list(SERVICES))
        finally:
            if self.postgres:
                admin = make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
                try:
                    with admin.connect() as conn:
                        for name in postgres_databases(PG_ADMIN_URL, self.prefix):
                            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                finally:
                    admin.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def canary_stack(request, tmp_path_factory, run_id, amqp_url) -> Iterator[CanaryStack]:
    stack = CanaryStack(tmp_path_factory.mktemp(f"canary-{request.param}"), run_id, amqp_url,
                        postgres=request.param == "postgresql")
    try:
        stack.start()
        yield stack
    finally:
        try:
            stack.stop()
            with contextlib.suppress(Exception):  # the test reported it; clean up anyway
                stack.tap.close()
        finally:
            stack.remove()


# -- the steps the story leaves out -------------------------------------------------------
def second_case_denied(story: Story) -> str:
    """HR opens a case with limitations and documentation; the specialist asks for a
    letter, receives it and denies, with notes and a reason."""
    today = datetime.now(UTC).date()
    case = story.api("POST", "accommodation", "/v1/accommodations", story.hr, expect=201,
                     headers={"Idempotency-Key": str(uuid.uuid4())}, json={
                         "employee": {"external_id": EMPLOYEE["external_id"]},
                         "type": "remote_work",
                         "requested": {"schedule": [], "start_date": today.isoformat(),
                                       "end_date": (today + timedelta(weeks=6)).isoformat()},
                         "functional_limitations": LIMITATIONS_2,
                         "medical_documentation": DOCUMENTATION})
    path = f"/v1/accommodations/{case['id']}"
    for action, extra in (("start_review", {"note": NOTE}),
                          ("request_info", {"note": REQUEST_NOTE}),
                          ("receive_info", {"note": NOTE}),
                          ("deny", {"reason": DENY_REASON, "note": NOTE})):
        story.api("POST", "accommodation", f"{path}/actions", story.specialist,
                  json={"action": action, **extra})
    seen = story.api("GET", "accommodation", path, story.specialist)
    assert seen["status"] == "denied", seen
    assert (seen["functional_limitations"], seen["medical_documentation"]) == (
        LIMITATIONS_2, DOCUMENTATION)  # the values went in, so the scans look for real data
    assert seen["decision"]["denial_reason"] == DENY_REASON, seen["decision"]
    # HR sees the decision with its reason (and its own external id), nothing clinical;
    # the manager sees none of it
    hr = json.dumps(story.api("GET", "accommodation", path, story.hr), ensure_ascii=False)
    assert DENY_REASON in hr
    assert not CLINICAL.found_in(hr), hr
    manager = json.dumps(story.api("GET", "accommodation", path, story.manager),
                         ensure_ascii=False)
    assert not CANARIES.found_in(manager), manager
    return case["id"]


def rejected_inputs(story: Story) -> None:
    """Clinical words where no field takes them, and a body that is not JSON: each is
    refused with a 4xx problem, and the error paths (validation, problem+json, their
    logging) must not keep or write what they refused."""
    def signed(path: str, type_: str, data: dict[str, Any]) -> requests.Response:
        body = json.dumps({"type": type_, "timestamp": datetime.now(UTC).isoformat(),
                           "data": data})
        msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
        service = "attestation" if path.endswith("/attendance") else "referral"
        return story.http.post(story.url(service, path), data=body, timeout=10, headers={
            "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(story.provider_secret).sign(msg_id, now, body),
            "Content-Type": "application/json"})

    today = datetime.now(UTC).date().isoformat()
    hooks = f"/v1/webhooks/providers/{story.provider_id}"
    answers = {
        "referral with a diagnosis": story.http.post(
            story.url("referral", "/v1/referrals"), headers=story.hr.auth, timeout=10, json={
                "employee": {**EMPLOYEE, "diagnosis": DIAGNOSIS}, "kind": "formal",
                "provider_id": story.provider_id}),
        "accommodation with a diagnosis": story.http.post(
            story.url("accommodation", "/v1/accommodations"), headers=story.hr.auth,
            timeout=10, json={"employee": {"external_id": EMPLOYEE["external_id"]},
                              "type": "other", "requested": {"schedule": [],
                                                             "start_date": today},
                              "diagnosis": DIAGNOSIS}),
        "not JSON": story.http.post(
            story.url("referral", "/v1/referrals"), timeout=10, data=f'{{"name": "{DIAGNOSIS}',
            headers={**story.hr.auth, "Content-Type": "application/json"}),
        "enrollment with a diagnosis": signed(hooks, "enrollment.started", {
            "referral_id": story.referral_id, "schedule": PROGRAM, "start_date": today,
            "expected_end_date": today, "level_of_care": LEVEL_OF_CARE,
            "diagnosis": DIAGNOSIS}),  # valid but for the field no schema has
        "attendance with a note": signed(f"{hooks}/attendance", "attendance.reported", {
            "records": [{"id": "rec-1", "referral_id": story.referral_id, "date": today,
                         "status": "attended", "note": DIAGNOSIS}]}),
    }
    statuses = {what: r.status_code for what, r in answers.items()}
    assert statuses == {what: 400 if what == "not JSON" else 422 for what in answers}, statuses


def self_referral(story: Story) -> None:
    """The employee asks the provider for help on the employer's `/start` page."""
    start = f"/start/{story.employer_id}"
    fields = read_form(story.page("referral", start), start)
    form = [(k, v) for k, v in fields if k not in ("provider_id", "name", "email", "phone")]
    form += [("provider_id", story.provider_id), *SELF_REFERRER.items(),
             ("program_options", "evening")]
    page = story.page("referral", start, data=form)
    assert "/m/" in page, page[:500]
    poll("the self-referral at the provider", lambda: any(
        SELF_REFERRER["email"] in r.body.decode() for r in story.provider_hooks.received),
        story.timeout)


def hooks_text(receiver: Any) -> list[str]:
    return [r.body.decode("utf-8", "replace") + " " + json.dumps(dict(r.headers))
            for r in receiver.received]


def log_evidence(paths: list[Path]) -> dict[str, int]:
    """Request log lines per service and worker task lines: the logs are really there."""
    counts = {f"{s}.requests": 0 for s in SERVICES} | {"worker.tasks": 0}
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("logger") == "bridgeline.access" and entry.get("msg") == "request":
                key = f"{entry.get('service')}.requests"
                counts[key] = counts.get(key, 0) + 1
            elif entry.get("logger") == "bridgeline.worker":
                counts["worker.tasks"] += 1
    return counts


# -- the test -----------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.integration
@pytest.mark.slow
def test_no_canary_reaches_a_table_a_message_or_a_log_line(canary_stack):
    stack = canary_stack
    started = time.monotonic()
    story = Story({s: stack.url(s, "") for s in SERVICES}, stack.cli, timeout=60,
                  employee=dict(EMPLOYEE), colleague=dict(COLLEAGUE), purpose=PURPOSE,
                  limitations=LIMITATIONS, level_of_care=LEVEL_OF_CARE, note=NOTE)
    # the extra steps, and the wait for everything in flight, while the receivers listen
    story.run(lambda: second_case_denied(story), lambda: self_referral(story),
              lambda: rejected_inputs(story), stack.settle)
    report = ScanReport()

    # every file under var/ (SQLite: the databases with their -wal and -shm) as it is
    # while the services run; again, with the tables, once they stopped
    scan_files_raw(stack.var, CANARIES, report, label="file (running)")
    stack.stop()  # the log files complete; whatever the last sweeps published is tapped

    # (b) every message that crossed the broker, and whatever was dead-lettered
    messages = stack.tap.close()
    scan_messages(messages, CANARIES, report)
    dead = stack.dead_letters()
    scan_messages(dead, CANARIES, report, label="dead letter")

    # what the employer's and the provider's endpoints received
    for body in hooks_text(story.employer_hooks):
        found = NEWS_TO_THE_EMPLOYER.found_in(body)
        if found:
            report.leak("the employer's webhook endpoint", found, body)
    for body in hooks_text(story.provider_hooks):
        found = CLINICAL.found_in(body)
        if found:
            report.leak("the provider's webhook endpoint", found, body)

    # (c) every line the processes and the commands wrote
    paths = stack.log_files
    lines = scan_log_files(paths, CANARIES, report)

    # (a) every table of every database (SQLite: and every file under var/, raw)
    if stack.postgres:
        databases = scan_postgres(PG_ADMIN_URL, stack.prefix, CANARIES, report)
        # and, where this machine has them, the server's files and its log
        scan_postgres_storage(PG_ADMIN_URL, databases, stack.started_at, CANARIES, report)
        scan_files_raw(stack.var, CANARIES, report)
        for path, server_lines in stack.server_log.lines().items():
            scan_log_lines(f"postgresql server log {path.name}", server_lines, CANARIES,
                           report)
        if not stack.server_log.offsets:
            report.skipped.append("PostgreSQL's server log (not readable here)")
        expected = {f"{stack.prefix}_{n}" for n in ("directory", *SERVICES)}
    else:
        databases = [p.name for p in scan_sqlite_dir(stack.var, CANARIES, report)]
        expected = {f"{n}.db" for n in ("directory", *SERVICES)}

    evidence = log_evidence(paths)
    backend = "PostgreSQL" if stack.postgres else "SQLite"
    print(f"\ncanary scan on {backend}: {report.summary()}; {len(dead)} dead letters; "
          f"log evidence {evidence}; {time.monotonic() - started:.1f} s")
    assert not report.leaks, report.describe_leaks()

    # ... and none of the scans was vacuous
    assert expected <= set(databases), databases
    assert report.rows > 100, report.rows_by_table
    for table in ("referrals", "accommodations", "attestations", "outbox", "audit_log"):
        assert any(where.endswith((f".{table}", f":{table}"))
                   for where, n in report.rows_by_table.items() if n), (
            table, report.rows_by_table)
    assert report.message_types.keys() >= STORY_EVENTS, sorted(report.message_types)
    sealed = [m for m in messages if m.routing_key == "enrollment.started"]
    assert sealed and all('"enc:' in m.body.decode() for m in sealed)  # carried, encrypted
    assert story.employer_hooks.received, "the employer received no webhook"
    assert all(evidence[f"{s}.requests"] >= 5 for s in SERVICES), evidence
    assert evidence["worker.tasks"] >= 3, evidence
    assert lines > sum(evidence.values())


# -- the scanner can fail ---------------------------------------------------------------------
# Values of their own: planted in PostgreSQL (whose WAL the story's scan reads) they must
# not look like a leak of the story's canaries.
PLANTED_NAME = "Zebediah Ønsköld-Quorvane"
PLANTED_CARE = "Planted Mirewhistle partial hospitalisation"
PLANTED = CanarySet({"name": PLANTED_NAME, "level_of_care": PLANTED_CARE},
                    fragments=("Quorvane",))


@pytest.mark.parametrize("carrier", [
    lambda v: f"plain {v} text",
    lambda v: v.upper(),
    lambda v: json.dumps({"x": v}),                          # \u00c6 ...
    lambda v: "q=" + requests.utils.quote(v, safe=""),
    lambda v: "<p>" + v.replace("-", "&#45;").replace("Ø", "&#216;") + "</p>",
    lambda v: v.encode().hex(),
    lambda v: base64.b64encode(b"x" + v.encode() + b"yz").decode(),
    lambda v: base64.b64encode(b"xy" + v.encode()).decode(),
    lambda v: base64.urlsafe_b64encode(v.encode()).decode(),
    lambda v: "partial: Mr Quorvane called",
], ids=["raw", "upper", "json", "url", "html-charrefs", "hex", "base64+1", "base64+2",
        "base64url", "fragment"])
def test_the_scanner_finds_a_canary_in_any_form(carrier):
    assert PLANTED.found_in_bytes(carrier(PLANTED_NAME).encode())


def test_the_scanner_ignores_ciphertexts_and_blind_indexes():
    import hashlib
    import hmac
    import secrets

    token = "enc:" + secrets.token_hex(200)
    index = hmac.new(b"k" * 32, PLANTED_NAME.encode(), hashlib.sha256).hexdigest()
    assert not PLANTED.found_in(f"{token} {index}")


def test_the_scanner_finds_a_row_planted_in_sqlite(tmp_path):
    path = tmp_path / "scratch.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE scratch (id INTEGER PRIMARY KEY, note TEXT, blob BLOB)")
        conn.execute("INSERT INTO scratch (note, blob) VALUES (?, ?)", ("enc:00ff", b"\x00"))
        conn.execute("INSERT INTO scratch (note, blob) VALUES (?, ?)",
                     ("nothing", ("level " + PLANTED_CARE).encode("utf-8")))
    conn.close()
    report = ScanReport()
    scan_sqlite_dir(tmp_path, PLANTED, report)
    assert report.rows >= 2 and report.files >= 1
    where = sorted({leak.where for leak in report.leaks})
    assert where == ["file scratch.db (raw bytes)", "sqlite scratch.db:scratch column(s) blob"]


@pytest.mark.integration
def test_the_scanner_finds_a_row_planted_in_postgresql(pg_database_url):
    engine = make_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE SCHEMA other"))
            conn.execute(text("CREATE TABLE other.scratch (id serial PRIMARY KEY, "
                              "note text, raw bytea, doc jsonb)"))
            conn.execute(text("INSERT INTO other.scratch (note, raw, doc) VALUES "
                              "('clean', '\\x00'::bytea, '{}'), "
                              "('clean', :raw, '{}'), ('clean', NULL, :doc)"),
                         {"raw": PLANTED_CARE.upper().encode(),
                          "doc": json.dumps({"name": PLANTED_NAME})})
    finally:
        engine.dispose()
    report = ScanReport()
    scan_postgres_database(pg_database_url, PLANTED, report)
    assert report.rows == 3
    assert sorted(leak.where.rsplit(".", 1)[-1] for leak in report.leaks) == [
        "scratch column(s) doc", "scratch column(s) raw"]


@pytest.mark.integration
def test_the_raw_scan_finds_a_deleted_row_in_postgresqls_files(pg_database_url):
    """What no table shows any more is still in the heap file and the WAL."""
    since = time.time() - 1
    engine = make_engine(pg_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE scratch (id serial PRIMARY KEY, note text)"))
            conn.execute(text("INSERT INTO scratch (note) VALUES (:v)"),
                         {"v": f"level {PLANTED_CARE}"})
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM scratch"))
    finally:
        engine.dispose()
    report = ScanReport()
    scan_postgres_database(pg_database_url, PLANTED, report)
    assert not report.leaks and report.tables == 1
    name = pg_database_url.rsplit("/", 1)[-1]
    skipped = scan_postgres_storage(PG_ADMIN_URL, [name], since, PLANTED, report)
    if skipped:
        pytest.skip(skipped)
    places = {leak.where.split()[2].split("/")[0] for leak in report.leaks}
    assert places == {"base", "pg_wal"}, report.describe_leaks()


@pytest.mark.integration
def test_the_tap_carries_and_the_scanner_finds_a_planted_message(amqp_url, unique_name):
    try:
        with Tap(amqp_url, unique_name) as tap:
            connection = connect(amqp_url, "bridgeline-canary-selfcheck")
            try:
                channel = connection.channel()
                for key, body, headers in (
                        ("clean.event", b'{"data": "enc:00"}', {}),
                        ("body.event", json.dumps({"data": {"name": PLANTED_NAME}}).encode(),
                         {}),
                        ("header.event", b"{}", {"x-who": "Quorvane"})):
                    channel.basic_publish(unique_name, key, body,
                                          pika.BasicProperties(headers=headers))
            finally:
                connection.close()
            poll("three messages on the tap", lambda: len(tap.messages) >= 3, 10)
        report = ScanReport()
        scan_messages(tap.messages, PLANTED, report)
        assert report.messages == 3
        assert sorted(leak.where.split()[1] for leak in report.leaks) == [
            "body.event", "header.event"]
    finally:
        delete_topology(amqp_url, unique_name, [])


def test_the_scanner_finds_a_log_line_planted_in_a_file(tmp_path):
    log = tmp_path / "up.stderr.log"
    log.write_text("\n".join([
        json.dumps({"level": "info", "logger": "bridgeline.access", "msg": "request"}),
        "[2027-01-04 09:00:00] [INFO] Booting worker",
        json.dumps({"level": "error", "msg": f"could not parse {PLANTED_NAME}"}),
    ]) + "\n")
    report = ScanReport()
    assert scan_log_files([log], PLANTED, report) == 3
    assert [leak.where for leak in report.leaks] == ["up.stderr.log line 3"]
    # and a raw file scan (a -wal, say) finds it too
    report = ScanReport()
    scan_files_raw(tmp_path, PLANTED, report)
    assert len(report.leaks) == 1


def test_the_canaries_are_distinctive():
    """No canary hides in what any run writes anyway (ids, routes, times), or the scan
    would fail for nothing: the words are made up, the numbers long."""
    ordinary = " ".join([
        "referral accommodation attestation directory outbox inbox consent.granted",
        "Acme Logistics Evening IOP evening participation attendance_summary",
        date.today().isoformat(), "bl_canary_0123456789_abcdef", "bl.canary.0123456789.abcdef"])
    assert not CANARIES.found_in(ordinary)
    assert all(len(v) >= 8 for v in CANARIES.values.values())
    # what the self-checks plant in PostgreSQL (and so in its WAL) is not a story canary
    assert not CANARIES.found_in(f"{PLANTED_NAME} {PLANTED_CARE} Quorvane")
