"""The whole system as real processes, on fresh PostgreSQL databases (one per service for
the run, through DATABASE_URL) and a uniquely named exchange on the real broker.

Two ways to run it:

- `Stack(...)`: `bridgeline up`, exactly as `make run` does (the e2e tests).
- `Stack(..., supervised=False)`: the same commands `bridgeline up` would run (gunicorn
  and `bridgeline worker` per service), each started by the test, as an orchestrator
  (docker-compose's `restart: unless-stopped`) runs them in production. A test can then
  SIGKILL one process (`kill`) and start it again (`restart`) while the others go on;
  `bridgeline up` would stop everything when one of its processes dies.

`env` overrides the processes' environment, e.g. `AMQP_URL` or `database_server` pointing
at a `TcpProxy`; the test's own looks into the databases (`engine`) and the clean-up
always go to the real server.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import IO, Any

import requests
from sqlalchemy import Engine, text

from shared.db import make_engine
from shared.supervisor import service_commands

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SERVICES = ("referral", "accommodation", "attestation")
ROLES = ("web", "worker")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout: float, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


class Stack:
    def __init__(self, tmp_path: Path, run_id: str, amqp_url: str, *,
                 database_server: str = PG_SERVER, env: dict[str, str] | None = None,
                 supervised: bool = True, log_path: Path | None = None) -> None:
        """`database_server`: the PostgreSQL server the processes use (a proxy's
        address, say); `log_path`: where the processes' output goes (default: a pipe
        for `bridgeline up`, `tmp_path/stack.log` otherwise)."""
        self.prefix = f"bl_e2e_{run_id}_{uuid.uuid4().hex[:6]}"
        self.ports = {name: free_port() for name in SERVICES}
        self.exchange = f"bl.e2e.{run_id}.{uuid.uuid4().hex[:6]}"
        self.env = {**os.environ, "BRIDGELINE_VAR_DIR": str(tmp_path / "var"),
                    "DATABASE_URL": f"{database_server}/{self.prefix}", "AMQP_URL": amqp_url,
                    "BRIDGELINE_EXCHANGE": self.exchange,
                    **{f"{n.upper()}_PORT": str(p) for n, p in self.ports.items()},
                    **(env or {})}
        self.supervised = supervised
        self.log_path = log_path if log_path or supervised else tmp_path / "stack.log"
        self.process: subprocess.Popen | None = None  # `bridgeline up`
        self.processes: dict[tuple[str, str], subprocess.Popen] = {}  # unsupervised
        self._engines: dict[str, Engine] = {}

    # -- addresses and commands ------------------------------------------------------------
    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def cli(self, *args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-m", "shared.cli", *args], env=self.env,
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout.strip().splitlines()

    def database_url(self, name: str) -> str:
        """`name`'s database ("directory" or a service) on the real server."""
        return f"{PG_SERVER}/{self.prefix}_{name}"

    def engine(self, name: str) -> Engine:
        """An engine on `name`'s database that bypasses any proxy the processes use."""
        if name not in self._engines:
            self._engines[name] = make_engine(self.database_url(name))
        return self._engines[name]

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.cli("keys", "init")
        self.cli("signing-keys", "init", "--if-missing")  # as `make setup` does
        self.cli("db", "upgrade")
        if self.supervised and self.log_path is None:
            self.process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up"],
                                            env=self.env, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE)
        elif self.supervised:
            with self._log() as log:
                self.process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up"],
                                                env=self.env, stdout=log,
                                                stderr=subprocess.STDOUT)
        else:
            for service in SERVICES:
                for role in ROLES:
                    self.spawn(service, role)
        for service in SERVICES:
            wait_for(lambda s=service: self.ready(s), timeout=60)

    def ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service, "/readyz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> int:
        if not self.supervised:
            return self._stop_processes()
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)

    def drop_databases(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self._engines.clear()
        admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in ("directory", *SERVICES):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" WITH (FORCE)'))
        admin.dispose()

    def delete_topology(self, amqp_url: str, extra_queues: tuple[str, ...] = ()) -> None:
        """The exchanges and the services' queues the processes declared (on the real
        broker: `amqp_url` must not be a proxy that may be cut)."""
        from shared.messaging.testing import delete_topology

        delete_topology(amqp_url, self.exchange, [*SERVICES, *extra_queues])

    # -- single processes (supervised=False) ----------------------------------------------
    def command(self, service: str, role: str) -> list[str]:
        """What `bridgeline up` runs for `service`'s web server or worker, on our port."""
        web, worker = service_commands(service, 1)
        if role == "worker":
            return worker
        argv = list(web)
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{self.ports[service]}"
        return argv

    def spawn(self, service: str, role: str,
              env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start `service`'s web server or worker; `env` overrides the stack's environment
        for this process only (e.g. its own proxy in front of the broker)."""
        assert not self.supervised, "bridgeline up runs its own processes"
        current = self.processes.get((service, role))
        assert current is None or current.poll() is not None, f"{service} {role} is running"
        with self._log() as log:
            process = subprocess.Popen(self.command(service, role),
                                       env={**self.env, **(env or {})},
                                       stdout=log, stderr=subprocess.STDOUT)
        self.processes[(service, role)] = process
        return process

    def pid(self, service: str, role: str) -> int:
        return self.processes[(service, role)].pid

    def alive(self) -> dict[tuple[str, str], bool]:
        return {key: p.poll() is None for key, p in self.processes.items()}

    def kill(self, service: str, role: str, sig: int = signal.SIGKILL,
             timeout: float = 30.0) -> int:
        """Send `sig` to one process and wait until it is gone; returns its exit code."""
        process = self.processes[(service, role)]
        process.send_signal(sig)
        return process.wait(timeout)

    def restart(self, service: str, role: str) -> subprocess.Popen:
        process = self.spawn(service, role)
        if role == "web":
            wait_for(lambda: self.ready(service), timeout=60)
        return process

    def log_tail(self, chars: int = 4000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def _log(self) -> IO[Any]:
        assert self.log_path is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("ab")

    def _stop_processes(self) -> int:
        running = [p for p in self.processes.values() if p.poll() is None]
        for process in running:
            process.send_signal(signal.SIGTERM)
        failed = 0
        deadline = time.monotonic() + 30
        for process in running:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
            failed += process.returncode not in (0, -signal.SIGTERM)
        return 1 if failed else 0
