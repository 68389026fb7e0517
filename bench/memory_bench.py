"""Resident memory of every Bridgeline process after start, after 10,000 requests to each
service, and after 10,000 more (no growth once warm), not a test.

    .venv/bin/python bench/memory_bench.py            # 10,000 requests per service, twice
    .venv/bin/python bench/memory_bench.py --quick    # 200 (the smoke run; writes nothing)

The system runs as `bridgeline up` starts it (three services under gunicorn, one worker
process each with its relay, consumer and webhook deliverer) on fresh PostgreSQL
databases and a fresh exchange. RSS is `VmRSS` from `/proc/<pid>/status` of the
supervisor, each gunicorn master, each gunicorn worker and each `bridgeline worker`.

The requests, per service, are a rotation of its everyday calls (sent by wrk, or a
threaded Python client when wrk is absent; 8 keep-alive connections), every one 2xx:
- referral: `GET /v1/referrals/{id}` (twice), `POST /v1/referrals` (a new employee each
  time: a new data key, three encrypted fields, an outbox row), `GET /v1/referrals`,
  the employee's link page `GET /r/{token}`;
- accommodation: `POST /v1/accommodations` (a new case each time), `GET
  /v1/accommodations/{id}` as the specialist (clinical fields, an audited read), `GET
  /v1/accommodations`, `POST /v1/schedule/conflicts`;
- attestation: `GET /v1/attestations`, `GET /v1/reports/utilization`,
  `GET /.well-known/jwks.json`, `GET /v1/me`.
The workers meanwhile publish the outbox rows and consume the events of the others.

Aim: under 120 MB per process (a gunicorn worker is the unit that scales with
WEB_CONCURRENCY; the per-service sums are shown too), and no growth after warm-up: a
process "grows" when its RSS after the second batch is more than 2 MiB above the first.
RSS counts shared pages (libraries, and what a gunicorn worker shares with its master)
in every process that maps them, so its per-service sum overstates what a service
takes; the last column is the proportional set size (PSS), which divides them up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import requests
from load import CONNECTIONS, Template, generator, load
from results_file import write_results
from stack import (
    Parties,
    ProcessInfo,
    Stack,
    add_gunicorn_options,
    pss_kib,
    rss_kib,
)

AIM_MB = 120.0
GROWTH_TOLERANCE_KIB = 2048
SERVICES = ("referral", "accommodation", "attestation")


def request_mix(stack: Stack, parties: Parties) -> dict[str, list[Template]]:
    """Each service's rotation, after making what the GETs read."""
    hr = {"Authorization": f"Bearer {parties.hr_token}"}
    specialist = {"Authorization": f"Bearer {parties.specialist_token}"}
    json_type = {"Content-Type": "application/json"}

    def referral(unique: str) -> dict[str, object]:
        return {"employee": {"external_id": f"E-{unique}", "name": "Ada Lovelace",
                             "email": f"ada.{unique}@example.com"},
                "kind": "formal", "provider_id": parties.provider}

    def accommodation(unique: str) -> dict[str, object]:
        return {"employee": {"external_id": f"E-{unique}"}, "type": "schedule_change",
                "requested": {"schedule": [{"weekday": "mon", "start": "17:15",
                                            "end": "21:00"}],
                              "start_date": "2027-01-04", "end_date": "2027-03-26"},
                "functional_limitations": "Evening treatment sessions three times a week."}

    made = requests.post(stack.url("referral", "/v1/referrals"), json=referral("seed"),
                         headers=hr, timeout=30)
    case = requests.post(stack.url("accommodation", "/v1/accommodations"),
                         json=accommodation("seed"), headers=specialist, timeout=30)
    for answer in (made, case):
        if answer.status_code != 201:
            raise SystemExit(f"could not seed: {answer.status_code} {answer.text[:300]}")
    referral_id, token = made.json()["id"], made.json()["link"]["url"].rsplit("/", 1)[-1]
    conflicts = {"travel_minutes": 45,
                 "work_schedule": [{"weekday": d, "start": "09:00", "end": "17:30"}
                                   for d in ("mon", "tue", "wed", "thu", "fri")],
                 "program_schedule": [{"weekday": d, "start": "18:00", "end": "21:00"}
                                      for d in ("mon", "wed", "thu")]}
    return {
        "referral": [
            Template("GET", f"/v1/referrals/{referral_id}", hr),
            Template("POST", "/v1/referrals", {**hr, **json_type},
                     json.dumps(referral("{n}"))),
            Template("GET", f"/v1/referrals/{referral_id}", hr),
            Template("GET", "/v1/referrals?limit=20", hr),
            Template("GET", f"/r/{token}"),
        ],
        "accommodation": [
            Template("POST", "/v1/accommodations", {**specialist, **json_type},
                     json.dumps(accommodation("{n}"))),
            Template("GET", f"/v1/accommodations/{case.json()['id']}", specialist),
            Template("GET", "/v1/accommodations?limit=20", hr),
            Template("POST", "/v1/schedule/conflicts", {**hr, **json_type},
                     json.dumps(conflicts)),
        ],
        "attestation": [
            Template("GET", "/v1/attestations?limit=20", hr),
            Template("GET", "/v1/reports/utilization?from=2026-01-01&to=2027-12-31", hr),
            Template("GET", "/.well-known/jwks.json"),
            Template("GET", "/v1/me", hr),
        ],
    }


def snapshot(processes: list[ProcessInfo]) -> dict[int, int]:
    return {p.pid: rss_kib(p.pid) or 0 for p in processes}


def pss_snapshot(processes: list[ProcessInfo]) -> dict[int, int]:
    return {p.pid: pss_kib(p.pid) or 0 for p in processes}


def drive(stack: Stack, mix: dict[str, list[Template]], count: int) -> dict[str, float]:
    """`count` requests to each service in turn; requests/s per service."""
    rates = {}
    for service in SERVICES:
        result = load(stack.url(service), mix[service], limit=count)
        if result.bad:
            raise SystemExit(f"{result.bad} failed responses from {service}; see {stack.log}")
        if result.requests < count:
            raise SystemExit(f"only {result.requests} of {count} requests reached {service}")
        rates[service] = result.rps
    stack.wait_for_relays()
    return rates


def mb(kib: int) -> str:
    return f"{kib / 1024:.1f}"


def report(processes: list[ProcessInfo], snaps: list[dict[int, int]], pss: dict[int, int],
           count: int) -> tuple[list[str], list[str], bool]:
    """One row per process: RSS after start and after each batch, the growth over the
    last batch, PSS at the end; and per service the sums."""
    after = [f"after {count * n:,} MB" for n in range(1, len(snaps))]
    lines = [
        f"| service | process | after start MB | {' | '.join(after)} | growth, last "
        f"{count:,} MB | PSS at the end MB |",
        "| --- | --- |" + " ---: |" * (len(snaps) + 2),
    ]
    worst, grew = 0, []
    for service in (*SERVICES, "-"):
        members = [p for p in processes if p.service == service]
        for p in members:
            values = [s[p.pid] for s in snaps]
            worst = max(worst, *values)
            if values[-1] - values[-2] > GROWTH_TOLERANCE_KIB:
                grew.append(f"{service} {p.role}")
            lines.append(f"| {service if service != '-' else 'all'} | {p.role} | "
                         + " | ".join(mb(v) for v in values)
                         + f" | {(values[-1] - values[-2]) / 1024:+.1f} | {mb(pss[p.pid])} |")
        if service != "-":
            sums = [sum(s[p.pid] for p in members) for s in snaps]
            lines.append(f"| **{service}** | **sum of its {len(members)} processes** | "
                         + " | ".join(f"**{mb(v)}**" for v in sums)
                         + f" | **{(sums[-1] - sums[-2]) / 1024:+.1f}** | "
                         f"**{mb(sum(pss[p.pid] for p in members))}** |")
    ok = worst / 1024 < AIM_MB and not grew
    summary = [f"resident memory: largest process {mb(worst)} MB "
               f"({'under' if worst / 1024 < AIM_MB else 'OVER'} the {AIM_MB:.0f} MB aim per "
               f"process); growth over the last {count:,} requests: "
               + (", ".join(grew) if grew else f"none above {GROWTH_TOLERANCE_KIB // 1024} MiB")]
    return lines, summary, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="200 requests per batch; writes nothing")
    parser.add_argument("--requests", type=int,
                        help="per service and batch; default 10000 (200 quick)")
    parser.add_argument("--batches", type=int, default=2,
                        help="batches of --requests per service (default 2)")
    add_gunicorn_options(parser)
    parser.add_argument("--server", default=os.environ.get(
        "PG_SERVER_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database; fresh databases are made there")
    args = parser.parse_args(argv)
    count = args.requests or (200 if args.quick else 10_000)
    with tempfile.TemporaryDirectory() as tmp, \
            Stack(args.server, Path(tmp), args.web_workers,
                  web_threads=args.web_threads) as stack:
        processes = stack.processes()
        snaps = [snapshot(processes)]
        mix = request_mix(stack, stack.parties())
        started = time.monotonic()
        rates = []
        for _ in range(args.batches):
            rates.append(drive(stack, mix, count))
            time.sleep(1.0)
            snaps.append(snapshot(processes))
        pss = pss_snapshot(processes)
        if stack.process is not None and stack.process.poll() is not None:
            raise SystemExit(f"`bridgeline up` exited; see {stack.log}")
        if processes != stack.processes():
            raise SystemExit("a process was replaced during the run; see " + str(stack.log))
        settings: dict[str, object] = {
            "requests": f"{count:,} per service per batch, {CONNECTIONS} connections, "
                        f"{generator()}",
            "gunicorn workers per service": args.web_workers,
            "gunicorn threads per worker": args.web_threads,
            "database": "postgresql (fresh databases)",
            "request rate (req/s, per batch)": "; ".join(
                f"{s} " + " / ".join(f"{r[s]:.0f}" for r in rates) for s in SERVICES),
            "measuring took": f"{time.monotonic() - started:.0f} s",
        }
        table, summary, _ok = report(processes, snaps, pss, count)
        print("\n".join([f"requests: {settings['requests']}", "", *table, "", *summary]))
        if not args.quick:
            path = write_results("memory", "Resident memory of every process", settings,
                                 table, summary)
            print(f"(written to {path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
