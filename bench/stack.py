"""What the HTTP and memory benches run against: the whole system as `bridgeline up`
starts it (three services under gunicorn, a worker process each), on fresh PostgreSQL
databases and a uniquely named exchange, torn down afterwards; and the bare Flask
baseline (`bench/baseline_app.py`) under the very gunicorn argv `bridgeline up` gives a
service.

    with Stack(server, tmp, web_workers=1, web_threads=4) as stack:  # `bridgeline up`
        parties = stack.parties()                          # employer, provider, hr token
        with Baseline(tmp, web_workers=1, web_threads=4) as base: ...  # same gunicorn
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pika
import requests
from sqlalchemy import func, select, text

from shared.db import make_engine
from shared.messaging.tables import outbox
from shared.messaging.topology import Topology
from shared.services import SERVICE_NAMES
from shared.supervisor import DEFAULT_WEB_THREADS, MAX_WEB_THREADS, service_commands

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
START_TIMEOUT = 90.0


def add_gunicorn_options(parser: argparse.ArgumentParser) -> None:
    """`--web-workers` and `--web-threads`, from WEB_CONCURRENCY and WEB_THREADS as
    `bridgeline up` reads them, and held to the same bounds."""
    parser.add_argument("--web-workers", type=whole_number(None),
                        default=_from_env("WEB_CONCURRENCY", 1, whole_number(None)),
                        help="gunicorn workers per service, as `bridgeline up` "
                             "(WEB_CONCURRENCY or 1)")
    parser.add_argument("--web-threads", type=whole_number(MAX_WEB_THREADS),
                        default=_from_env("WEB_THREADS", DEFAULT_WEB_THREADS,
                                          whole_number(MAX_WEB_THREADS)),
                        help="threads per gunicorn worker, as `bridgeline up` "
                             f"(WEB_THREADS or {DEFAULT_WEB_THREADS})")


def whole_number(most: int | None = None, least: int = 1) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `least` (and at most `most`)."""
    def count(text: str) -> int:
        value = int(text) if text.strip().isdigit() else -1
        if value < least or (most is not None and value > most):
            bounds = f"of at least {least}" if most is None else f"from {least} to {most}"
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {bounds}")
        return value
    return count


def _from_env(variable: str, default: int, count: Callable[[str], int]) -> int:
    """The variable's count; unset or empty, the default; anything else stops the bench."""
    raw = os.environ.get(variable, "").strip()
    try:
        return count(raw) if raw else default
    except argparse.ArgumentTypeError as error:
        raise SystemExit(f"{variable}: {error}") from None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log: Path,
                     timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise SystemExit(f"{url} did not come up (exit {process.poll()}):\n{tail}")
        time.sleep(0.2)


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
                 timeout: float = 30.0) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def gunicorn_argv(web_workers: int, web_threads: int = DEFAULT_WEB_THREADS) -> list[str]:
    """The gunicorn command line `bridgeline up` runs a service with (worker class,
    workers, threads, timeouts), minus the bind address and the app."""
    web = service_commands(SERVICE_NAMES[0], web_workers, web_threads)[0]
    argv = list(web[:-1])  # the last argument is the app
    at = argv.index("--bind")
    del argv[at:at + 2]
    return argv


def gunicorn_settings(web_workers: int, web_threads: int = DEFAULT_WEB_THREADS) -> str:
    argv = gunicorn_argv(web_workers, web_threads)
    return " ".join(argv[argv.index("gunicorn") + 1:])


@dataclass(frozen=True)
class Parties:
    employer: str
    provider: str
    hr_token: str
    specialist_token: str


class Stack:
    """`bridgeline up` on fresh databases `<prefix>_{directory,referral,...}`."""

    def __init__(self, server: str, tmp: Path, web_workers: int = 1,
                 amqp_url: str | None = None,
                 web_threads: int = DEFAULT_WEB_THREADS) -> None:
        run = uuid.uuid4().hex[:8]
        self.server = server.rstrip("/")
        self.prefix = f"bl_bench_http_{run}"
        self.exchange = f"bl.bench.http.{run}"
        self.amqp_url = amqp_url or os.environ.get(
            "AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
        self.ports = {name: free_port() for name in SERVICE_NAMES}
        self.log = tmp / "bridgeline-up.log"
        self.env = {**os.environ, "BRIDGELINE_VAR_DIR": str(tmp / "var"),
                    "DATABASE_URL": f"{self.server}/{self.prefix}", "AMQP_URL": self.amqp_url,
                    "BRIDGELINE_EXCHANGE": self.exchange, "WEB_CONCURRENCY": str(web_workers),
                    "WEB_THREADS": str(web_threads),
                    **{f"{n.upper()}_PORT": str(p) for n, p in self.ports.items()}}
        for name in ("LOG_LEVEL", "AUTH_CACHE_SECONDS", *(f"{n.upper()}_DATABASE_URL" for n in
                                                         ("directory", *SERVICE_NAMES))):
            self.env.pop(name, None)  # the defaults, as `make run` has them
        self.process: subprocess.Popen[bytes] | None = None
        self._engines: dict[str, Any] = {}

    # -- life cycle ----------------------------------------------------------------------
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def start(self) -> None:
        self.cli("keys", "init")
        self.cli("signing-keys", "init", "--if-missing")
        self.cli("db", "upgrade")
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "shared.cli", "up"], env=self.env, cwd=ROOT,
                stdout=out, stderr=subprocess.STDOUT)
        for service in SERVICE_NAMES:
            wait_until_ready(self.url(service, "/readyz"), self.process, self.log)

    def close(self) -> None:
        try:
            if self.process is not None:
                stop_process(self.process, signal.SIGINT)
        finally:
            for engine in self._engines.values():
                engine.dispose()
            self._drop_databases()
            self._delete_topology()

    def _drop_databases(self) -> None:
        admin = make_engine(f"{self.server}/postgres", isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                for name in ("directory", *SERVICE_NAMES):
                    conn.execute(text(
                        f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" WITH (FORCE)'))
        finally:
            admin.dispose()

    def _delete_topology(self) -> None:
        topology = Topology(self.exchange)
        try:
            connection = pika.BlockingConnection(pika.URLParameters(self.amqp_url))
        except pika.exceptions.AMQPError:
            return
        try:
            channel = connection.channel()
            for service in SERVICE_NAMES:
                topology.delete_service(channel, service)
            topology.delete_exchanges(channel)
        finally:
            connection.close()

    # -- using it ------------------------------------------------------------------------
    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def cli(self, *args: str) -> list[str]:
        done = subprocess.run([sys.executable, "-m", "shared.cli", *args],
                              env=self.env, cwd=ROOT, capture_output=True, text=True,
                              timeout=120)
        if done.returncode != 0:
            raise SystemExit(f"bridgeline {' '.join(args[:2])} failed:\n{done.stderr[-2000:]}")
        return done.stdout.strip().splitlines()

    def cli_json(self, *args: str) -> dict[str, Any]:
        return dict(json.loads(self.cli(*args, "--json")[-1]))

    def parties(self, specialist: bool = True) -> Parties:
        """An employer, a provider (with a webhook endpoint that never answers, so the
        deliverer only retries) and an hr and (unless not wanted) a specialist client of
        the employer."""
        employer = self.cli_json("employers", "create", "--name", "Acme Bench")["id"]
        provider = self.cli_json("providers", "create", "--name", "Evening IOP",
                                 "--webhook-url", "http://127.0.0.1:9/hooks")["id"]
        hr = self.cli_json("clients", "create", "--employer", employer, "--role", "hr")
        other = self.cli_json("clients", "create", "--employer", employer,
                              "--role", "specialist")["token"] if specialist else ""
        return Parties(employer, provider, hr["token"], other)

    def database_url(self, service: str) -> str:
        return f"{self.server}/{self.prefix}_{service}"

    def engine(self, service: str) -> Any:
        if service not in self._engines:
            self._engines[service] = make_engine(self.database_url(service))
        return self._engines[service]

    def untried_events(self, service: str) -> int:
        """Outbox rows the relay has not tried to publish yet. (An event no service
        consumes, e.g. `accommodation.submitted`, is unroutable: the relay tries it,
        then retries it later; that is not a backlog.)"""
        with self.engine(service).connect() as conn:
            return int(conn.execute(select(func.count()).select_from(outbox).where(
                outbox.c.sent_at.is_(None), outbox.c.parked_at.is_(None),
                outbox.c.attempts == 0)).scalar_one())

    def wait_for_relays(self, timeout: float = 120.0) -> None:
        """Until every service's relay has tried every event of its outbox (so the next
        measurement starts quiet)."""
        deadline = time.monotonic() + timeout
        while any(self.untried_events(s) for s in SERVICE_NAMES):
            if time.monotonic() > deadline:
                raise SystemExit("the outbox relays did not catch up within "
                                 f"{timeout:g} s; see {self.log}")
            time.sleep(0.2)

    def vacuum(self) -> None:
        """VACUUM ANALYZE every database of the system, as autovacuum would between
        rounds. The PostgreSQL of the development machines runs with autovacuum off; in
        production it is on (docs/capacity.md). Without this, each POST round leaves
        thousands of dead outbox rows and stale statistics to the next measurement."""
        for name in ("directory", *SERVICE_NAMES):
            engine = make_engine(self.database_url(name),
                                 isolation_level="AUTOCOMMIT")
            try:
                with engine.connect() as conn:
                    conn.execute(text("VACUUM ANALYZE"))
            finally:
                engine.dispose()

    # -- processes -----------------------------------------------------------------------
    @contextmanager
    def background_paused(self) -> Iterator[None]:
        """Every service's `bridgeline worker` (relay, consumer, webhook deliverer) stopped
        with SIGSTOP for the block and continued after it, so a measurement of the web
        tier does not share the machine's cores with the event pipeline. Nothing is lost:
        events wait in the outbox and the queues, and are handled once continued (the
        caller then waits for the relays). Keep blocks short: a paused process misses its
        broker heartbeats after about a minute."""
        paused = [p.pid for p in self.processes() if p.role.startswith("worker")]
        for pid in paused:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in paused:
                os.kill(pid, signal.SIGCONT)

    def processes(self) -> list[ProcessInfo]:
        """Every process of the system: `bridgeline up`, and per service the gunicorn
        master, its workers and the `bridgeline worker` (relay, consumer, deliverer)."""
        assert self.process is not None
        found = [ProcessInfo(self.process.pid, "-", "supervisor (bridgeline up)")]
        for child in children(self.process.pid):
            argv = cmdline(child)
            if "gunicorn" in argv:
                app = argv[-1]
                service = app.split(".", 1)[0]
                found.append(ProcessInfo(child, service, "gunicorn master"))
                found += [ProcessInfo(w, service, "gunicorn worker") for w in children(child)]
            elif "worker" in argv and "--service" in argv:
                service = argv[argv.index("--service") + 1]
                found.append(ProcessInfo(child, service, "worker (relay, consumer, webhooks)"))
        return found


class Baseline:
    """`bench/baseline_app.py` under the services' gunicorn settings, on its own port."""

    def __init__(self, tmp: Path, web_workers: int = 1,
                 database_url: str | None = None,
                 web_threads: int = DEFAULT_WEB_THREADS) -> None:
        self.port = free_port()
        self.env = {**os.environ}
        if database_url:
            self.env["BASELINE_DATABASE_URL"] = database_url
        self.log = tmp / "baseline.log"
        self.argv = [*gunicorn_argv(web_workers, web_threads), "--bind", f"127.0.0.1:{self.port}",
                     "--pythonpath", str(BENCH), "baseline_app:create_app()"]
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Baseline:
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT)
        try:
            wait_until_ready(self.url("/healthz"), self.process, self.log)
        except BaseException:
            stop_process(self.process)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        if self.process is not None:
            stop_process(self.process)


# -- /proc -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    service: str
    role: str


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return sorted(set(found))


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def pss_kib(pid: int) -> int | None:
    """Proportional set size in KiB: shared pages (libraries, what the gunicorn worker
    shares with its master) divided among the processes sharing them."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_kib(pid: int) -> int | None:
    """VmRSS of a process in KiB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time so far of these processes (all their threads)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def context_switches(pids: list[int]) -> int:
    """Context switches so far, voluntary and not, of every thread of these processes
    (most of a small request's CPU under gthread is spent around them: each blocking
    call hands the GIL to another thread)."""
    total = 0
    for pid in pids:
        for status in Path(f"/proc/{pid}/task").glob("*/status"):
            try:
                lines = status.read_text().splitlines()
            except OSError:
                continue  # a thread that ended meanwhile
            for line in lines:
                name, _, value = line.partition(":")
                if name in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    total += int(value)
    return total
