"""`bridgeline worker --service NAME`: a service's background loops in one process.

The outbox relay, the event consumer and the webhook deliverer each run in a thread
with their own connections and stop together on SIGINT/SIGTERM. Each is safe to run
in several processes at once, so workers scale out like the web processes.
"""

from __future__ import annotations

import importlib
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click
from sqlalchemy.exc import SQLAlchemyError

from shared.config import Settings
from shared.logs import configure_logging
from shared.services import SERVICE_NAMES

if TYPE_CHECKING:
    from shared.webhooks import DeliveryPolicy

log = logging.getLogger("bridgeline.worker")
JOIN_SECONDS = 10.0


@dataclass(frozen=True)
class BackgroundTask:
    name: str
    run: Callable[[threading.Event], None]


def platform_tasks(runtime: Any, handlers: dict[str, Callable[..., None]]) -> list[BackgroundTask]:
    """The loops every service runs; the consumer only when it handles events."""
    from shared.directory.endpoints import WebhookEndpoints
    from shared.messaging import ConsumerRunner, OutboxRelay
    from shared.web.idempotency import PRUNE_INTERVAL_SECONDS, IdempotencyStore
    from shared.webhooks import WebhookDeliverer

    s = runtime.settings
    idempotency = IdempotencyStore(runtime.engine, runtime.cipher)
    endpoints = WebhookEndpoints(runtime.directory.engine, runtime.cipher,
                                 allow_insecure_urls=s.is_dev)
    tasks = [
        BackgroundTask("relay", OutboxRelay(runtime.engine, s.amqp_url, s.exchange).run_forever),
        periodic("idempotency", lambda: idempotency.prune(datetime.now(UTC)),
                 PRUNE_INTERVAL_SECONDS),
        BackgroundTask("webhooks",
                       WebhookDeliverer(runtime.engine, endpoints, runtime.cipher,
                                        allow_insecure_urls=s.is_dev,
                                        policy=delivery_policy(s)).run_forever),
    ]
    if handlers:
        consumer = ConsumerRunner(runtime.engine, s.amqp_url, s.exchange, s.service,
                                  handlers, runtime.cipher)
        tasks.append(BackgroundTask("consumer", consumer.run_forever))
    return tasks


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """The webhook deliverer's policy: the production one, with the retry schedule of
    `WEBHOOK_RETRY_SCHEDULE` when that is set."""
    from shared.webhooks import DeliveryPolicy

    if not settings.webhook_retry_schedule:
        return DeliveryPolicy()
    return DeliveryPolicy(schedule=tuple(timedelta(seconds=s)
                                         for s in settings.webhook_retry_schedule))


def periodic(name: str, work: Callable[[], int], interval: float) -> BackgroundTask:
    """A loop that calls `work` until it reports nothing done (0), then sleeps
    `interval` seconds; for sweeps such as link expiry or overdue announcements.

    A sweep that raises (the database is away, say) is logged and tried again after a
    short, growing pause (at most `interval`): one failed round must not end the loop,
    since that would stop the whole worker."""

    def run(stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                while work() and not stop.is_set():
                    pass
            except Exception as exc:  # a background loop must outlive any one round
                failures += 1
                delay = min(interval, 0.5 * 2 ** min(failures, 6))
                log.warning("periodic task failed; will retry", exc_info=not isinstance(
                    exc, SQLAlchemyError), extra={"fields": {
                        "task": name, "exc_type": type(exc).__name__,
                        "retry_in_s": round(delay, 2)}})
                stop.wait(delay)
                continue
            failures = 0
            stop.wait(interval)

    return BackgroundTask(name, run)


def run_tasks(tasks: list[BackgroundTask], stop: threading.Event) -> None:
    """Run until `stop` is set or any task ends (then stop the others too)."""
    threads = [threading.Thread(target=_guarded(t, stop), name=t.name, daemon=True)
               for t in tasks]
    for thread in threads:
        thread.start()
    while not stop.wait(0.5):
        if not all(thread.is_alive() for thread in threads):
            stop.set()
    for thread in threads:
        thread.join(JOIN_SECONDS)


def _guarded(task: BackgroundTask, stop: threading.Event) -> Callable[[], None]:
    def run() -> None:
        log.info("task started", extra={"fields": {"task": task.name}})
        try:
            task.run(stop)
        except Exception:
            log.exception("task failed", extra={"fields": {"task": task.name}})
        finally:
            stop.set()
            log.info("task stopped", extra={"fields": {"task": task.name}})

    return run


@click.command()
@click.option("--service", required=True, type=click.Choice(SERVICE_NAMES))
@click.option("--only", multiple=True, type=click.Choice(["relay", "consumer", "webhooks"]),
              help="Run only these loops (default: all the service has).")
def worker(service: str, only: tuple[str, ...]) -> None:
    """Run a service's relay, consumer and webhook deliverer until interrupted."""
    bootstrap = importlib.import_module(f"{service}.bootstrap")
    runtime = bootstrap.bootstrap()
    configure_logging(f"{service}-worker", runtime.settings.log_level,
                      runtime.settings.log_flush_seconds)
    tasks = [t for t in bootstrap.worker_tasks(runtime) if not only or t.name in only]
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_tasks(tasks, stop)
    runtime.dispose()
