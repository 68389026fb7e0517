"""`bridgeline up`: every service and its worker in the foreground, for development.

Each service runs under gunicorn on its port and has one worker process. Ctrl-C (or
SIGTERM) stops them all cleanly; if any process dies, the others are stopped too, so a
broken setup never looks half alive. Production runs the same commands under its own
supervisor (see docker-compose.yml and deploy/).
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import click

from shared.config import Settings
from shared.db import POOL_CONNECTIONS
from shared.services import SERVICE_NAMES

GRACE_SECONDS = 15.0


DEFAULT_WEB_THREADS = 4
MAX_WEB_THREADS = POOL_CONNECTIONS  # a thread more would wait for a database connection


def service_commands(service: str, workers: int,
                     threads: int = DEFAULT_WEB_THREADS) -> list[list[str]]:
    settings = Settings.from_env(service)
    web = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{settings.port}",
           "--workers", str(workers), "--threads", str(threads), "--worker-class", "gthread",
           "--graceful-timeout", "10",
           # three gunicorns on one host would fight over the default control socket
           "--no-control-socket", f"{service}.app:create_app()"]
    worker = [sys.executable, "-m", "shared.cli", "worker", "--service", service]
    return [web, worker]


def _stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + GRACE_SECONDS
    for proc in processes:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()


@click.command()
@click.option("--web-workers", envvar="WEB_CONCURRENCY", show_envvar=True, default=1,
              show_default=True, type=click.IntRange(min=1),
              help="gunicorn worker processes per service")
@click.option("--web-threads", envvar="WEB_THREADS", show_envvar=True,
              default=DEFAULT_WEB_THREADS, show_default=True,
              type=click.IntRange(1, MAX_WEB_THREADS),
              help="threads per gunicorn worker (a thread holds a database connection of "
              f"each pool while it serves a request; the pools hold {MAX_WEB_THREADS})")
def up(web_workers: int, web_threads: int) -> None:
    """Run the three services and their workers until Ctrl-C."""
    stopping = False

    def request_stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    processes = [subprocess.Popen(cmd, start_new_session=True)  # noqa: S603 - our own argv
                 for service in SERVICE_NAMES
                 for cmd in service_commands(service, web_workers, web_threads)]
    for service in SERVICE_NAMES:
        click.echo(f"{service}: http://127.0.0.1:{Settings.from_env(service).port}", err=True)
    while not stopping:
        if any(proc.poll() is not None for proc in processes):
            click.echo("A Bridgeline process exited; stopping the others.", err=True)
            break
        time.sleep(0.5)
    _stop_all(processes)
    failed = [p for p in processes if p.returncode not in (0, -signal.SIGTERM)]
    sys.exit(1 if failed and not stopping else 0)
