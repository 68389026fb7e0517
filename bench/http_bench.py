"""HTTP throughput of the referral API, as a ratio to a bare Flask JSON endpoint served the
same way and driven by the same load generator in the same run (not a test).

    .venv/bin/python bench/http_bench.py              # 5 rounds of 5 s per measurement
    .venv/bin/python bench/http_bench.py --quick      # 1 round of 1 s (the smoke run)
    .venv/bin/python bench/http_bench.py --profile    # + py-spy of the referral worker
    .venv/bin/python bench/http_bench.py --web-threads 2   # other gunicorn settings, both sides

What runs: the whole system as `bridgeline up` starts it (three services under gunicorn
with their workers: relays, consumers, webhook deliverers) on fresh PostgreSQL databases
and a fresh exchange, with an employer, a provider and an `hr` client made by the
`bridgeline` CLI; and the baseline, `bench/baseline_app.py` (a Flask app whose endpoint
returns a small JSON object for GET and echoes the parsed JSON body with 201 for POST: no
database, no auth, no schema, no logging), under the very gunicorn command line `bridgeline
up` gives a service (worker class, workers, threads), on its own port.

What is measured, each as requests/s over a fixed time with the same load generator
(wrk with a Lua script, or, only when wrk is absent, a threaded Python client; the table
says which), keep-alive connections, 8 at a time:
- `GET /v1/referrals/{id}` with the hr bearer token: authentication, the tenant-scoped
  read, the HR projection, the response schema; against `GET` of the bare endpoint.
- `POST /v1/referrals` with the hr token: validation, a new employee (unique external id
  and email per request, so a new data key is made), three encrypted fields (external id,
  name, email), two blind indexes, the referral row and its outbox row in one transaction;
  against `POST` of the same body to the bare endpoint.
- the same POST with a unique `Idempotency-Key` (one more reservation and the stored,
  encrypted response); an extra row, no aim.
- `GET /v1/me` with the hr token: what every authenticated call pays before it touches
  a database (authentication, request hooks, access log, metrics, the response schema);
  the floor under the other rows, no aim.
- the plain POST once more with the event pipeline running (below); no aim.
- the floor: `GET /v1/things/{id}/row` of the baseline app, the bare endpoint plus the
  one PostgreSQL read HR's view needs (the referral row by primary key, through psycopg
  on a connection per thread: no pool, no ORM, no auth, no decryption, no logging).
  What that read alone costs on this machine; no aim. What `GET /v1/referrals/{id}`
  loses beyond the floor and `GET /v1/me` together is the service's own code.

The web tier is measured on its own: while the subject is under load, every service's
`bridgeline worker` (relays, consumers, webhook deliverers) is paused with SIGSTOP, and
continued afterwards, when the bench waits for the relays to publish what piled up. On
this 2-core machine the pipeline otherwise takes most of a core from the web worker
during a POST measurement (each referral is published, consumed by another service and
queued as a provider webhook): the last row shows that figure, which is about the
machine, not the endpoint. In production the workers run on their own cores or hosts
(docs/capacity.md); the pipeline's own throughput is what `events_bench.py` and
`scaleout_bench.py` measure.

Baseline and subject alternate (baseline first in even rounds, subject first in odd ones),
each case round after round; the figures are medians over the rounds and the ratio is
subject median / baseline median. After every POST measurement the bench waits until the
relays have published the outbox, then runs VACUUM ANALYZE on every database (what
autovacuum does in production; the PostgreSQL here runs with it off), so each
measurement starts from a quiet system. "cpu ms
/req" is the CPU time of the server's gunicorn worker processes per request (what the
ratio mostly comes down to on this 2-core machine); "switches/req" their threads'
context switches per request, voluntary and not (under gthread each blocking call, such
as a database round trip, hands the GIL between threads, and the switches around it
cost more CPU than most of the request's Python). Every response must be 2xx.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import requests
from load import CONNECTIONS, LoadResult, Template, generator, load
from results_file import write_results
from stack import (
    Baseline,
    Parties,
    Stack,
    add_gunicorn_options,
    children,
    context_switches,
    cpu_seconds,
    gunicorn_settings,
)

AIMS = {"get": 0.5, "post": 0.25}
LABELS = {"floor": "floor: bare Flask + one PostgreSQL read",
          "me": "GET /v1/me (no database)", "get": "GET /v1/referrals/{id}",
          "post": "POST /v1/referrals", "post_idem": "POST + Idempotency-Key",
          "post_live": "POST /v1/referrals, event pipeline running"}


@dataclass
class Case:
    name: str
    subject: list[Template]
    baseline: list[Template]
    pipeline_running: bool = False  # else the background workers are paused meanwhile
    subject_on_baseline: bool = False  # the subject is an endpoint of the baseline app
    rps: dict[str, list[float]] = field(default_factory=lambda: {"baseline": [], "subject": []})
    cpu: dict[str, list[float]] = field(default_factory=lambda: {"baseline": [], "subject": []})
    switches: dict[str, list[float]] = field(
        default_factory=lambda: {"baseline": [], "subject": []})


def referral_body(provider: str, unique: str) -> dict[str, object]:
    return {"employee": {"external_id": f"E-{unique}", "name": "Ada Lovelace",
                         "email": f"ada.{unique}@example.com"},
            "kind": "formal", "provider_id": provider}


def build_cases(parties: Parties, referral_id: str) -> list[Case]:
    auth = {"Authorization": f"Bearer {parties.hr_token}"}
    json_type = {"Content-Type": "application/json"}
    body = json.dumps(referral_body(parties.provider, "{n}"))
    post = Template("POST", "/v1/referrals", {**auth, **json_type}, body)
    post_idem = Template("POST", "/v1/referrals",
                         {**auth, **json_type, "Idempotency-Key": "{n}"}, body)
    bare_post = Template("POST", "/v1/things", {**auth, **json_type}, body)
    bare_get = Template("GET", f"/v1/things/{referral_id}", auth)
    return [
        Case("floor", [Template("GET", f"/v1/things/{referral_id}/row")], [bare_get],
             subject_on_baseline=True),
        Case("me", [Template("GET", "/v1/me", auth)], [bare_get]),
        Case("get", [Template("GET", f"/v1/referrals/{referral_id}", auth)], [bare_get]),
        Case("post", [post], [bare_post]),
        Case("post_idem", [post_idem], [bare_post]),
        Case("post_live", [post], [bare_post], pipeline_running=True),
    ]


def measured(url: str, templates: list[Template], seconds: float,
             workers: Callable[[], list[int]]) -> tuple[LoadResult, float, float]:
    """The load's result, and the worker processes' CPU seconds and context switches per
    request."""
    pids = workers()
    before, switched = cpu_seconds(pids), context_switches(pids)
    result = load(url, templates, seconds=seconds)
    cpu, switched = cpu_seconds(pids) - before, context_switches(pids) - switched
    if result.bad:
        raise SystemExit(f"{result.bad} failed responses from {url} ({templates[0].method} "
                         f"{templates[0].path}); see the logs")
    requests_done = max(result.requests, 1)
    return result, cpu / requests_done, switched / requests_done


def run_rounds(stack: Stack, base: Baseline, cases: list[Case], rounds: int,
               seconds: float, warm_up: bool = True) -> None:
    def stack_workers() -> list[int]:
        return [p.pid for p in stack.processes()
                if p.service == "referral" and p.role == "gunicorn worker"]

    def base_workers() -> list[int]:
        assert base.process is not None
        return children(base.process.pid)

    def target(case: Case, side: str) -> tuple[str, Callable[[], list[int]]]:
        if side == "baseline" or case.subject_on_baseline:
            return base.url(), base_workers
        return stack.url("referral"), stack_workers

    for case in cases if warm_up else []:  # not counted
        for side in ("baseline", "subject"):
            load(target(case, side)[0], getattr(case, side),
                 seconds=max(1.0, min(seconds / 2, 2.0)))
        stack.wait_for_relays()
    for r in range(rounds):
        for case in cases:
            order = ("baseline", "subject") if r % 2 == 0 else ("subject", "baseline")
            for side in order:
                url, workers = target(case, side)
                paused = (nullcontext() if side == "baseline" or case.pipeline_running
                          else stack.background_paused())
                with paused:
                    result, cpu, switches = measured(url, getattr(case, side), seconds,
                                                     workers)
                case.rps[side].append(result.rps)
                case.cpu[side].append(cpu)
                case.switches[side].append(switches)
                if stack.process is not None and stack.process.poll() is not None:
                    raise SystemExit(f"`bridgeline up` exited; see {stack.log}")
                if case.name.startswith("post"):
                    stack.wait_for_relays()
                    stack.vacuum()
        print(f"round {r + 1}/{rounds}: " + ", ".join(
            f"{c.name} {c.rps['subject'][-1]:.0f}/{c.rps['baseline'][-1]:.0f}" for c in cases),
            file=sys.stderr)


def report(cases: list[Case], settings: dict[str, object]) -> tuple[list[str], list[str]]:
    lines = [
        f"load generator: {settings['load generator']}; gunicorn {settings['gunicorn']}; "
        f"{settings['connections']} connections; {settings['rounds']} rounds of "
        f"{settings['seconds']} s per measurement; medians over the rounds",
        "",
        "| case | baseline req/s | subject req/s | ratio | ratio range | "
        "cpu ms/req baseline | cpu ms/req subject | switches/req baseline | "
        "switches/req subject | aim |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    summary = []
    for case in cases:
        base = statistics.median(case.rps["baseline"])
        subject = statistics.median(case.rps["subject"])
        ratio = subject / base
        per_round = [s / b for s, b in zip(case.rps["subject"], case.rps["baseline"],
                                           strict=True)]
        aim = AIMS.get(case.name)
        verdict = "-" if aim is None else (
            f">= {aim:g}x {'met' if ratio >= aim else 'NOT met'}")
        lines.append(
            f"| {LABELS[case.name]} | {base:.0f} | {subject:.0f} | {ratio:.2f}x | "
            f"{min(per_round):.2f}-{max(per_round):.2f}x | "
            f"{statistics.median(case.cpu['baseline']) * 1000:.2f} | "
            f"{statistics.median(case.cpu['subject']) * 1000:.2f} | "
            f"{statistics.median(case.switches['baseline']):.1f} | "
            f"{statistics.median(case.switches['subject']):.1f} | {verdict} |")
        summary.append(f"{LABELS[case.name]} {subject:.0f} req/s = {ratio:.2f}x bare Flask "
                       f"({base:.0f} req/s)")
    return lines, ["http throughput: " + "; ".join(summary)]


# -- profile -----------------------------------------------------------------------------------
def profile(stack: Stack, cases: list[Case], seconds: float, keep: Path | None) -> None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("(--profile needs py-spy: .venv/bin/pip install py-spy)")
        return
    worker = next(p.pid for p in stack.processes()
                  if p.service == "referral" and p.role == "gunicorn worker")
    for case in [c for c in cases if c.name in ("get", "post")]:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "profile.txt"
            spy_run = subprocess.Popen(
                [spy, "record", "--pid", str(worker), "--duration", f"{seconds:g}",
                 "--rate", "250", "--format", "raw", "--output", str(raw), "--gil",
                 "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            with nullcontext() if case.pipeline_running else stack.background_paused():
                load(stack.url("referral"), case.subject, seconds=seconds + 1)
                spy_run.wait()
            stack.wait_for_relays()
            if not raw.exists():
                error = spy_run.stderr.read().decode()[-500:] if spy_run.stderr else ""
                print(f"py-spy failed: {error}")
                return
            print(f"\n-- py-spy of the referral worker under {LABELS[case.name]} "
                  "(samples holding the GIL; % of them)")
            print_collapsed(raw.read_text())
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(raw, keep / f"{case.name}.collapsed")
                print(f"   (collapsed stacks kept in {keep / f'{case.name}.collapsed'})")


def print_collapsed(text: str, top: int = 45) -> None:
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack_text, _, count = line.rpartition(" ")
        if not stack_text:
            continue
        n = int(count)
        total += n
        frames = [f.rsplit(":", 1)[0] + ")" if f.endswith(")") and ":" in f else f
                  for f in stack_text.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"   {title}:")
        for frame, n in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
            print(f"   {100 * n / total:5.1f}%  {frame}")


# -- main --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 1 s, no warm-up; writes nothing")
    parser.add_argument("--rounds", type=int, help="default 5 (1 with --quick)")
    parser.add_argument("--seconds", type=float, help="per measurement; default 5 (1 quick)")
    add_gunicorn_options(parser)
    parser.add_argument("--only", nargs="+", choices=sorted(LABELS), metavar="CASE",
                        help=f"measure only these cases ({', '.join(LABELS)})")
    parser.add_argument("--profile", action="store_true",
                        help="also py-spy the referral worker under GET and POST load")
    parser.add_argument("--profile-dir", type=Path, metavar="DIR",
                        help="with --profile, keep the collapsed stacks there (for "
                        "flame graph tools)")
    parser.add_argument("--server", default=os.environ.get(
        "PG_SERVER_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server URL without a database; fresh databases are made there")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 5)
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    settings: dict[str, object] = {
        "load generator": generator() + ("" if generator() == "wrk" else
                                         " (wrk not installed: Python threaded client)"),
        "gunicorn": gunicorn_settings(args.web_workers, args.web_threads),
        "connections": CONNECTIONS, "rounds": rounds, "seconds": seconds,
        "database": "postgresql (fresh databases); VACUUM ANALYZE after each POST round",
        "services": "`bridgeline up`, all three services; their background workers paused "
        "(SIGSTOP) while the subject is measured, except in the last row",
    }
    with tempfile.TemporaryDirectory() as tmp, \
            Stack(args.server, Path(tmp), args.web_workers,
                  web_threads=args.web_threads) as stack, \
            Baseline(Path(tmp), args.web_workers, web_threads=args.web_threads,
                     database_url=stack.database_url("referral")) as base:
        parties = stack.parties(specialist=False)
        created = requests.post(
            stack.url("referral", "/v1/referrals"), json=referral_body(parties.provider, "get"),
            headers={"Authorization": f"Bearer {parties.hr_token}"}, timeout=30)
        if created.status_code != 201:
            raise SystemExit(f"could not create a referral: {created.status_code} "
                             f"{created.text[:300]}")
        cases = [c for c in build_cases(parties, created.json()["id"])
                 if not args.only or c.name in args.only]
        started = time.monotonic()
        run_rounds(stack, base, cases, rounds, seconds, warm_up=not args.quick)
        settings["measuring took"] = f"{time.monotonic() - started:.0f} s"
        table, summary = report(cases, settings)
        print("\n".join([*table, "", *summary]))
        if not args.quick:
            path = write_results("http", "HTTP throughput vs a bare Flask endpoint",
                                 settings, table[2:], summary)  # settings are listed above
            print(f"(written to {path})")
        if args.profile:
            profile(stack, cases, max(seconds, 8.0), args.profile_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
