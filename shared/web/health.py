"""Liveness and readiness.

`/healthz` says the process answers. `/readyz` says it can do its work: the database
answers a query and the broker accepts a connection. The broker probe opens a short
AMQP connection, cached for a couple of seconds so a busy load balancer cannot turn
readiness checks into a connection storm.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pika
from sqlalchemy import Engine

from shared.db import ping


class BrokerProbe:
    def __init__(self, amqp_url: str, cache_seconds: float = 2.0, timeout: float = 2.0) -> None:
        self.amqp_url = amqp_url
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self._last: tuple[float, bool] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if self._last and now - self._last[0] < self.cache_seconds:
                return self._last[1]
            ok = self._connect()
            self._last = (time.monotonic(), ok)
            return ok

    def _connect(self) -> bool:
        params = pika.URLParameters(self.amqp_url)
        params.connection_attempts = 1
        params.socket_timeout = self.timeout
        params.stack_timeout = self.timeout
        params.blocked_connection_timeout = self.timeout
        try:
            pika.BlockingConnection(params).close()
        except Exception:  # any failure to connect means "not ready"
            return False
        return True


def database_probe(engine: Engine) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            ping(engine)
        except Exception:  # a down database is "not ready", not a crash
            return False
        return True

    return probe
