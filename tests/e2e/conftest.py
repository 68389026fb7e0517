"""Real processes: `bridgeline up` with its gunicorn services and workers, on PostgreSQL
(one fresh database per service for the run, through DATABASE_URL) and the real broker."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests
from sqlalchemy import text

from shared.db import make_engine

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
SERVICES = ("referral", "accommodation", "attestation")


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
    def __init__(self, tmp_path, run_id: str, amqp_url: str) -> None:
        self.prefix = f"bl_e2e_{run_id}_{uuid.uuid4().hex[:6]}"
        self.ports = {name: free_port() for name in SERVICES}
        self.env = {**os.environ, "BRIDGELINE_VAR_DIR": str(tmp_path / "var"),
                    "DATABASE_URL": f"{PG_SERVER}/{self.prefix}", "AMQP_URL": amqp_url,
                    "BRIDGELINE_EXCHANGE": f"bl.e2e.{run_id}.{uuid.uuid4().hex[:6]}",
                    **{f"{n.upper()}_PORT": str(p) for n, p in self.ports.items()}}
        self.process: subprocess.Popen | None = None

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def cli(self, *args: str) -> list[str]:
        out = subprocess.run([sys.executable, "-m", "shared.cli", *args], env=self.env,
                             capture_output=True, text=True, timeout=120, check=True)
        return out.stdout.strip().splitlines()

    def start(self) -> None:
        self.cli("keys", "init")
        self.cli("signing-keys", "init", "--if-missing")  # as `make setup` does
        self.cli("db", "upgrade")
        self.process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up"], env=self.env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for service in SERVICES:
            wait_for(lambda s=service: self.ready(s), timeout=60)

    def ready(self, service: str) -> bool:
        try:
            return requests.get(self.url(service, "/readyz"), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(30)

    def drop_databases(self) -> None:
        admin = make_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in ("directory", *SERVICES):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.prefix}_{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, run_id, amqp_url):
    s = Stack(tmp_path_factory.mktemp("stack"), run_id, amqp_url)
    try:
        s.start()
        yield s
    finally:
        try:
            s.stop()
        finally:
            s.drop_databases()
