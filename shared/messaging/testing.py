"""Test doubles and clean-up for code that uses `shared.messaging` (tests and benchmarks only).

`FakeCipher` has the `FieldCipher` interface and its binding behaviour (a token opens
only with the subject and AAD it was made with, and reveals nothing of the plaintext)
without keys. It keeps plaintexts in memory: never wire it into a service.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pika

from shared.crypto import ERASED, Aad, DecryptionError
from shared.messaging.amqp import connect
from shared.messaging.topology import Topology


class FakeCipher:
    def __init__(self) -> None:
        self._sealed: dict[str, tuple[str, Aad, str]] = {}
        self.erased_subjects: set[str] = set()

    def encrypt(self, plaintext: str, *, subject: str, aad: Aad) -> str:
        token = "fake1:" + secrets.token_urlsafe(18)
        self._sealed[token] = (subject, aad, plaintext)
        return token

    def decrypt(self, token: str, *, subject: str, aad: Aad) -> Any:
        if subject in self.erased_subjects:
            return ERASED
        sealed = self._sealed.get(token)
        if sealed is None or sealed[:2] != (subject, aad):
            raise DecryptionError("token does not open with this subject and AAD")
        return sealed[2]


def delete_topology(amqp_url: str, exchange: str, services: list[str]) -> None:
    """Remove the exchanges and the queues of `services` that a test declared."""
    topology = Topology(exchange)
    connection = connect(amqp_url, "bridgeline-test-cleanup")
    try:
        for service in services:
            channel = connection.channel()
            topology.delete_service(channel, service)
        channel = connection.channel()
        topology.delete_exchanges(channel)
    finally:
        connection.close()


def drain(amqp_url: str, queue: str) -> list[tuple[pika.BasicProperties, bytes]]:
    """Every message now in `queue`, acknowledged (removed)."""
    connection = connect(amqp_url, "bridgeline-test-drain")
    try:
        channel = connection.channel()
        messages: list[tuple[pika.BasicProperties, bytes]] = []
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return messages
            messages.append((properties, body))
    finally:
        connection.close()


def migrate_mechanisms(database_url: str) -> None:
    """Create the mechanism tables (outbox, inbox, ...) by running their migrations."""
    from alembic import command

    from shared.db.migrate import MECHANISM_VERSIONS, alembic_config, ensure_database

    ensure_database(database_url)
    command.upgrade(alembic_config(database_url, [MECHANISM_VERSIONS]), "heads")


def wait_until(condition: Callable[[], bool], timeout: float = 10.0,
               interval: float = 0.02) -> bool:
    """Poll `condition` until it holds or `timeout` passes; returns its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@contextmanager
def running(loop: Callable[[threading.Event], None],
            stop_within: float = 2.0) -> Iterator[threading.Event]:
    """Run `loop(stop)` in a thread for the block; on exit, stop it and insist it ended
    within `stop_within` seconds (our loops promise to stop promptly)."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        started = time.monotonic()
        thread.join(stop_within + 5)
        took = time.monotonic() - started
    assert not thread.is_alive() and took < stop_within, f"loop took {took:.1f}s to stop"
