"""`bridgeline audit verify|export --service NAME`.

`verify` exits 1 when the chain is broken and says where; its last line on success is
the head as `SEQ:HASH`, worth recording outside the database (a ticket, a log archive):
passing it back as `--anchor` later also reveals a rewrite of the chain's whole tail.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TextIO

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from shared.audit.chain import ChainAnchor
from shared.audit.export import export_jsonl
from shared.audit.log import verify as verify_chain
from shared.audit.model import OPAQUE_ID, AuditKind
from shared.config import Settings
from shared.db import make_engine
from shared.services import SERVICE_NAMES

service_option = click.option("--service", required=True, type=click.Choice(SERVICE_NAMES),
                              help="The service whose audit log to work on.")


@click.group()
def audit() -> None:
    """Audit and disclosure log: verify the hash chain, export entries."""


@audit.command()
@service_option
@click.option("--anchor", metavar="SEQ:HASH",
              help="A head printed by an earlier verify; the chain must still pass through it.")
@click.pass_context
def verify(ctx: click.Context, service: str, anchor: str | None) -> None:
    """Re-hash every entry; exit 1 and name the first broken entry if tampered with."""
    expected = _anchor(anchor)
    with _service_engine(service) as engine:
        result = verify_chain(engine, expected)
    if result.first_break is not None:
        click.echo(f"{service}: {result.first_break.describe()}", err=True)
        click.echo(f"{service}: {result.entries_checked} entries verified before the break",
                   err=True)
        ctx.exit(1)
    click.echo(f"{service}: {result.entries_checked} entries, chain intact")
    click.echo(str(result.last))


@audit.command()
@service_option
@click.option("--subject", help="Only this employee's entries (by default their disclosures).")
@click.option("--kind", type=click.Choice(["access", "disclosure", "all"]),
              help="Default: disclosure with --subject, all without.")
@click.option("--since", help="Recorded at or after this date or RFC 3339 time (UTC).")
@click.option("--until", help="Recorded before this date or RFC 3339 time (UTC).")
@click.option("--output", type=click.File("w"), default="-", show_default=True,
              help="Where to write the JSON Lines.")
def export(service: str, subject: str | None, kind: str | None, since: str | None,
           until: str | None, output: TextIO) -> None:
    """Write entries as JSON Lines, oldest first, each with its hashes."""
    if subject is not None and not OPAQUE_ID.fullmatch(subject):
        raise click.BadParameter("not a subject id", param_hint="--subject")
    kind = kind or ("disclosure" if subject else "all")
    with _service_engine(service) as engine:
        written = export_jsonl(engine, output, subject=subject,
                               kind=None if kind == "all" else AuditKind(kind),
                               since=_moment(since, "--since"), until=_moment(until, "--until"))
    click.echo(f"{service}: exported {written} entries", err=True)


@contextmanager
def _service_engine(service: str) -> Iterator[Engine]:
    engine = make_engine(Settings.from_env(service).database_url)
    try:
        yield engine
    except SQLAlchemyError as error:
        # The exception text may quote SQL parameters; its class name is enough to act on.
        raise click.ClickException(
            f"cannot read the audit log of {service} ({type(error).__name__}); "
            "is the database reachable and migrated (bridgeline db upgrade)?") from None
    finally:
        engine.dispose()


def _anchor(text: str | None) -> ChainAnchor | None:
    if text is None:
        return None
    try:
        return ChainAnchor.parse(text)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--anchor") from None


def _moment(text: str | None, option: str) -> datetime | None:
    """A date means its midnight UTC; a time without an offset is taken as UTC."""
    if text is None:
        return None
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD or an RFC 3339 time",
                                 param_hint=option) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
