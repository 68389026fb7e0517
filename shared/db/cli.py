"""`bridgeline db upgrade`: bring the directory and service databases to the newest schema."""

from __future__ import annotations

import click

from shared.config import Settings, database_url
from shared.db.migrate import upgrade_directory, upgrade_service
from shared.services import SERVICE_NAMES, migration_versions


@click.group()
def db() -> None:
    """Database schema management."""


@db.command()
@click.option("--service", "services", multiple=True,
              type=click.Choice(["directory", *SERVICE_NAMES]),
              help="Only these databases (default: the directory and every service).")
def upgrade(services: tuple[str, ...]) -> None:
    """Apply every pending migration (idempotent)."""
    for name in services or ("directory", *SERVICE_NAMES):
        if name == "directory":
            upgrade_directory(database_url("directory"))
        else:
            upgrade_service(Settings.from_env(name).database_url, migration_versions(name))
        click.echo(f"{name}: up to date")
