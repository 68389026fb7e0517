"""Setup shared by the services' integration tests on the real PostgreSQL and RabbitMQ.

- `postgres_platform`: a `Platform` whose service and directory databases are fresh
  PostgreSQL ones (the directory one is dropped afterwards; the service one belongs to
  the `pg_database_url` fixture) and whose exchange no other test uses.
- `tap_queue`: a queue bound to every routing key of that exchange; afterwards the
  exchanges and the named queues (the tap's and any service's) are deleted.
- `relay_everything`: publish a database's whole outbox.
- `terminate_backends`: end server processes, as a PostgreSQL restart would.
- `Canaries`: distinctive values, and scans of every table, message and log record for them.
- `capture_logs`: make `caplog` see every record, also after `create_app` reset the root
  logger's handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, select, text
from sqlalchemy.engine import make_url

from shared.db import make_engine
from shared.logs import JsonFormatter
from shared.messaging import OutboxRelay, Topology
from shared.messaging.amqp import connect
from shared.messaging.testing import delete_topology

TAP = "tap"


@contextmanager
def postgres_platform(tmp_path: Any, service: str, database_url: str, exchange: str,
                      env: dict[str, str] | None = None) -> Iterator[Any]:
    """A platform with `service` on `database_url` and the directory on a sibling
    database (`<name>_dir`, created by the directory migration, dropped here)."""
    from conftest import Platform  # the repository's root conftest

    directory_url = f"{database_url}_dir"
    try:
        platform = Platform(tmp_path, {f"{service.upper()}_DATABASE_URL": database_url,
                                       "DIRECTORY_DATABASE_URL": directory_url,
                                       "BRIDGELINE_EXCHANGE": exchange, **(env or {})})
        try:
            yield platform
        finally:
            platform.close()
    finally:
        drop_database(directory_url)


def drop_database(url: str) -> None:
    admin_url = make_url(url).set(database="postgres")
    admin = make_engine(admin_url.render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
    finally:
        admin.dispose()


def terminate_backends(engine: Engine, *pids: int) -> None:
    """End these server processes of `engine`'s database, as a PostgreSQL restart would
    end their connections (from a connection of its own, closed afterwards)."""
    admin = make_engine(engine.url.render_as_string(hide_password=False))
    try:
        with admin.connect() as conn:
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()


@contextmanager
def tap_queue(amqp_url: str, exchange: str, *,
              also_delete: Iterable[str] = ()) -> Iterator[str]:
    """A queue bound to `#` on `exchange`; yields its name. On exit the exchanges, the
    tap and the queues of the services in `also_delete` (declared by the test's
    consumers) are removed."""
    topology = Topology(exchange)
    try:
        connection = connect(amqp_url, "bridgeline-test-tap")
        try:
            topology.declare_service(connection.channel(), TAP, ["#"])
        finally:
            connection.close()
        yield topology.queue(TAP)
    finally:
        delete_topology(amqp_url, exchange, [TAP, *also_delete])


def relay_everything(engine: Engine, amqp_url: str, exchange: str) -> None:
    relay = OutboxRelay(engine, amqp_url, exchange)
    try:
        while relay.publish_pending():
            pass
    finally:
        relay.close()


def dump_database(engine: Engine) -> dict[str, list[str]]:
    """Every value of every row of every table, as text (reflected: nothing is skipped)."""
    metadata = MetaData()
    metadata.reflect(engine)
    assert metadata.tables, "reflection found no tables"
    with engine.connect() as conn:
        return {name: [repr(tuple(row)) for row in conn.execute(select(table))]
                for name, table in metadata.tables.items()}


def capture_logs(caplog: Any, level: int = logging.DEBUG) -> None:
    root = logging.getLogger()
    if caplog.handler not in root.handlers:  # create_app may have reset the root handlers
        root.addHandler(caplog.handler)
    caplog.set_level(level)


class Canaries:
    """Distinctive values (and fragments that would betray a partial or re-encoded leak),
    compared case-insensitively."""

    def __init__(self, *values: str) -> None:
        self.values = values

    def found_in(self, text: str) -> list[str]:
        folded = text.casefold()
        return [c for c in self.values if c.casefold() in folded]

    def assert_not_in_database(self, engine: Engine) -> int:
        """Scan every row of every table; returns how many rows were looked at."""
        seen = 0
        for table, rows in dump_database(engine).items():
            for row in rows:
                seen += 1
                assert not self.found_in(row), f"{table}: {self.found_in(row)}"
        return seen

    def assert_not_in_messages(self, messages: list[tuple[Any, bytes]]) -> None:
        """Bodies, headers and properties of drained messages."""
        for properties, body in messages:
            assert not self.found_in(body.decode()), self.found_in(body.decode())
            assert not self.found_in(repr(properties.headers))
            assert not self.found_in(repr(properties))

    def assert_not_in_logs(self, records: list[logging.LogRecord], service: str) -> None:
        """As the JSON formatter writes each record, and its raw attributes."""
        assert records, "no log records were captured: the check would prove nothing"
        formatter = JsonFormatter(service)
        for record in records:
            line = formatter.format(record) + repr(record.__dict__)
            assert not self.found_in(line), f"{record.name}: {self.found_in(line)}"
