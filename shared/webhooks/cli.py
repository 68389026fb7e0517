"""`bridgeline webhooks deliveries|replay --service NAME`.

Both need only the service's database: listing never shows a payload (it is encrypted,
and an operator has no need of it), and replaying only reschedules; the service's
worker, which holds the cipher and the endpoint directory, does the sending.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import Engine, Row
from sqlalchemy.exc import SQLAlchemyError

from shared.config import Settings
from shared.db import make_engine
from shared.services import SERVICE_NAMES
from shared.webhooks.deliveries import (
    ReplayRefused,
    list_deliveries,
    replay_delivery,
    replay_exhausted,
)

STATUSES = ("pending", "delivered", "exhausted", "abandoned")
COLUMNS = ("id", "endpoint_id", "event_type", "status", "attempts", "next_attempt_at",
           "last_status_code", "last_error", "created_at")
service_option = click.option("--service", required=True, type=click.Choice(SERVICE_NAMES),
                              help="The service whose webhook deliveries to work on.")


@click.group()
def webhooks() -> None:
    """Outbound webhook deliveries: list them (never their payloads) and replay them."""


@webhooks.command()
@service_option
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this status.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 10000))
def deliveries(service: str, status: str | None, limit: int) -> None:
    """Show the newest deliveries: id, endpoint, type, status, attempts, next attempt."""
    with _service_engine(service) as engine, engine.connect() as connection:
        rows = list_deliveries(connection, status, limit)
    click.echo("\t".join(COLUMNS))
    for row in rows:
        click.echo(_line(row))
    click.echo(f"{len(rows)} delivery(ies)", err=True)


@webhooks.command()
@service_option
@click.option("--id", "delivery_id", help="Replay this exhausted or abandoned delivery.")
@click.option("--all-exhausted", is_flag=True, help="Replay every exhausted delivery.")
def replay(service: str, delivery_id: str | None, all_exhausted: bool) -> None:
    """Give deliveries a fresh retry schedule; the service's worker sends them."""
    if bool(delivery_id) == all_exhausted:
        raise click.UsageError("give exactly one of --id DELIVERY_ID or --all-exhausted")
    now = datetime.now(UTC)
    with _service_engine(service) as engine, engine.begin() as connection:
        if delivery_id:
            try:
                replay_delivery(connection, delivery_id, now)
            except ReplayRefused as exc:
                raise click.ClickException(str(exc)) from None
            count = 1
        else:
            count = replay_exhausted(connection, now)
    click.echo(f"{service}: {count} delivery(ies) scheduled for sending")


def _line(row: Row[Any]) -> str:
    values = (row.id, row.endpoint_id, row.event_type, row.status, row.attempts,
              row.next_attempt_at.isoformat() if row.next_attempt_at else "-",
              row.last_status_code if row.last_status_code is not None else "-",
              row.last_error or "-", row.created_at.isoformat())
    return "\t".join(str(value) for value in values)


@contextmanager
def _service_engine(service: str) -> Iterator[Engine]:
    engine = make_engine(Settings.from_env(service).database_url)
    try:
        yield engine
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"{service} database: {type(exc).__name__} (is it migrated? `bridgeline db upgrade`)"
        ) from None
    finally:
        engine.dispose()
