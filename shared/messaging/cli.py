"""`bridgeline relay` and `bridgeline dlq list|replay`.

Settings come from the environment of the named service (`Settings.from_env`), so these
commands reach the same database, broker and exchange as the service itself.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import click
import pika.exceptions

from shared.config import Settings
from shared.db import make_engine
from shared.logs import configure_logging
from shared.messaging.amqp import BROKER_ERRORS
from shared.messaging.deadletter import DeadLetter, DeadLetterQueue
from shared.messaging.relay import OutboxRelay
from shared.services import SERVICE_NAMES

service_option = click.option("--service", required=True, type=click.Choice(SERVICE_NAMES),
                              help="The service whose outbox or queue to work on.")


@click.command()
@service_option
@click.option("--batch-size", default=100, show_default=True, type=click.IntRange(1, 1000))
def relay(service: str, batch_size: int) -> None:
    """Publish the service's outbox to RabbitMQ until SIGINT or SIGTERM."""
    settings = Settings.from_env(service)
    configure_logging(f"{service}-relay", settings.log_level, settings.log_flush_seconds)
    engine = make_engine(settings.database_url)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        OutboxRelay(engine, settings.amqp_url, settings.exchange,
                    batch_size=batch_size).run_forever(stop)
    finally:
        engine.dispose()


@click.group()
def dlq() -> None:
    """Dead-lettered messages: list them (never their data) and replay them."""


@dlq.command("list")
@service_option
def list_dead_letters(service: str) -> None:
    """Show id, type, time and why each message was dead-lettered."""
    with _dead_letter_queue(service) as queue:
        letters = queue.contents()
    click.echo("\t".join(("event_id", "type", "event_time", "reason", "deaths",
                          "dead_lettered_at")))
    for letter in letters:
        click.echo(_row(letter))
    click.echo(f"{len(letters)} message(s) in {queue.name}")


@dlq.command()
@service_option
@click.option("--id", "event_id", help="Replay the message of this event id.")
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead-lettered message.")
def replay(service: str, event_id: str | None, replay_all: bool) -> None:
    """Republish dead-lettered messages to the exchange under their original routing key."""
    if bool(event_id) == replay_all:
        raise click.UsageError("give exactly one of --id EVENT_ID or --all")
    with _dead_letter_queue(service) as queue:
        result = queue.replay(lambda letter: replay_all or letter.event_id == event_id)
    click.echo(f"replayed {result.replayed} message(s); {result.failed} could not be routed")
    if result.failed or (event_id and not result.replayed):
        raise click.ClickException(f"not replayed: {event_id or 'some messages'}")


def _row(letter: DeadLetter) -> str:
    when = letter.dead_lettered_at.isoformat() if letter.dead_lettered_at else "-"
    return "\t".join((letter.event_id, letter.event_type, letter.event_time, letter.reason,
                      str(letter.deaths), when))


@contextmanager
def _dead_letter_queue(service: str) -> Iterator[DeadLetterQueue]:
    settings = Settings.from_env(service)
    queue = DeadLetterQueue(settings.amqp_url, settings.exchange, service)
    try:
        yield queue
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == 404:
            raise click.ClickException(
                f"no queue {queue.name}: has the {service} consumer ever run?") from None
        raise click.ClickException(f"broker refused: {exc.reply_code}") from None
    except BROKER_ERRORS as exc:
        raise click.ClickException(f"cannot reach RabbitMQ ({type(exc).__name__})") from None
