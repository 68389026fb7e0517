"""Wake-ups for an idle relay: PostgreSQL LISTEN/NOTIFY on the outbox.

A statement-level trigger on `outbox` (migration m0005) calls `pg_notify` on
`OUTBOX_CHANNEL`; PostgreSQL delivers the notification when, and only if, the writing
transaction commits, and folds identical notifications of one transaction into one. An
idle relay waits on its own LISTEN connection instead of sleeping a whole poll interval,
so an event leaves within milliseconds of its commit.

A wake-up is only a hint: the relay still polls every `poll_interval` (retries come due
with no insert, and notifications are lost while the listening connection is down), and
what it publishes is decided by the claim query alone. SQLite has no notifications: the
listener is inert there and the relay simply polls.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import psycopg
from sqlalchemy import Engine

log = logging.getLogger("bridgeline.messaging.relay")
OUTBOX_CHANNEL = "bridgeline_outbox"
LISTEN_RETRY_SECONDS = 5.0


class OutboxListener:
    """One dedicated connection (outside the engine's pool) LISTENing on `OUTBOX_CHANNEL`."""

    def __init__(self, engine: Engine, enabled: bool = True) -> None:
        self.engine = engine
        self.enabled = enabled and engine.dialect.name == "postgresql"
        self._connection: Any = None
        self._retry_at = 0.0

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def ensure_listening(self) -> None:
        """Open the connection and LISTEN, if not done yet. Call it before looking for
        rows, so that a row committed after the look is sure to wake `wait`. When the
        database is unreachable it logs and tries again after `LISTEN_RETRY_SECONDS`
        (the relay polls meanwhile, and its claim meets the outage and pauses); it never
        raises the driver's errors, which the pool hands over unwrapped."""
        if (not self.enabled or self._connection is not None
                or time.monotonic() < self._retry_at):
            return
        try:
            pooled = self.engine.raw_connection()
        except (psycopg.Error, OSError) as exc:  # not a SQLAlchemyError: the relay would die
            log.warning("outbox listener could not connect; polling meanwhile",
                        extra={"fields": {"exc_type": type(exc).__name__}})
            self._retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
            return
        driver: Any = pooled.driver_connection
        pooled.detach()  # ours for good: never handed to another caller, closed by close()
        if not hasattr(driver, "notifies"):  # not psycopg 3: stay with polling
            pooled.close()
            self.enabled = False
            return
        try:
            driver.rollback()
            driver.autocommit = True
            driver.execute(f"LISTEN {OUTBOX_CHANNEL}")
        except (psycopg.Error, OSError) as exc:  # poll this round, try again the next
            log.warning("outbox listener could not LISTEN; polling meanwhile",
                        extra={"fields": {"exc_type": type(exc).__name__}})
            with contextlib.suppress(Exception):
                driver.close()
            self._retry_at = time.monotonic() + LISTEN_RETRY_SECONDS
            return
        self._connection = driver

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a notification; True if one came. Consumes
        every notification already received, so one wake-up covers many commits. A busy
        relay calls `wait(0)` so that its notifications do not pile up on the server."""
        if self._connection is None:
            time.sleep(timeout)
            return False
        try:
            woken = any(True for _ in self._connection.notifies(timeout=timeout, stop_after=1))
            for _ in self._connection.notifies(timeout=0):
                woken = True
        except (psycopg.Error, OSError) as exc:  # broken: poll until ensure_listening reopens
            log.warning("outbox listener lost; polling meanwhile",
                        extra={"fields": {"exc_type": type(exc).__name__}})
            self.close()
            return False
        return woken

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                connection.close()
