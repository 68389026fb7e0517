"""`bridgeline employers|providers|clients ...`: write the directory.

Output is for people first and scripts second: the value a script wants (an id, a
token) is always the **last line**, and `--json` prints one JSON object instead.
Secrets and tokens are shown once and never stored in plaintext.
"""

from __future__ import annotations

import json
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from shared.config import Settings, database_url
from shared.db import make_engine
from shared.directory.service import Directory, DirectoryError

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")


def _directory() -> Directory:
    return Directory(make_engine(database_url("directory")))


def _endpoints() -> Any:
    from shared.crypto import build_field_cipher
    from shared.directory.endpoints import WebhookEndpoints

    settings = Settings.from_env("directory")
    directory = _directory()
    return WebhookEndpoints(directory.engine, build_field_cipher(settings),
                            allow_insecure_urls=settings.is_dev)


def _emit(as_json: bool, record: dict[str, Any], lines: list[str]) -> None:
    if as_json:
        click.echo(json.dumps(record))
    else:
        for line in lines:
            click.echo(line)


class DirectoryCommand(click.Command):
    """Turns the directory's refusals and a missing schema into one clear sentence."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DirectoryError as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(
                "the directory database is not ready; run `bridgeline db upgrade` "
                f"(or `make run`) first [{type(exc.orig).__name__}]") from exc


# -- employers ----------------------------------------------------------------------------
@click.group()
def employers() -> None:
    """Employers: the tenants whose HR systems call Bridgeline."""


@employers.command("create", cls=DirectoryCommand)
@click.option("--name", required=True)
@click.option("--webhook-url", help="The employer's endpoint for attestation.issued.")
@json_option
def create_employer(name: str, webhook_url: str | None, as_json: bool) -> None:
    """Create an employer; prints its id (emp_…) last."""
    employer = _directory().create_employer(name)
    record: dict[str, Any] = {"id": employer.id, "name": employer.name}
    lines = [f"Created employer {employer.name!r}."]
    if webhook_url:
        _, secret = _endpoints().configure("employer", employer.id, webhook_url)
        record["webhook_secret"] = secret
        lines += ["Webhook signing secret (shown once):", secret]
    _emit(as_json, record, [*lines, employer.id])


@employers.command("list", cls=DirectoryCommand)
def list_employers() -> None:
    """List employers."""
    for employer in _directory().list_employers():
        click.echo(f"{employer.id}\t{employer.name}")


@employers.command("set-webhook", cls=DirectoryCommand)
@click.argument("employer_id")
@click.option("--url", required=True)
def employer_webhook(employer_id: str, url: str) -> None:
    """Set the employer's webhook endpoint; prints its new whsec_ secret last."""
    if _directory().get_employer(employer_id) is None:
        raise DirectoryError(f"no employer {employer_id}")
    _, secret = _endpoints().configure("employer", employer_id, url)
    click.echo(secret)


# -- providers ----------------------------------------------------------------------------
@click.group()
def providers() -> None:
    """EAP and treatment providers: they receive referrals and report by webhook."""


@providers.command("create", cls=DirectoryCommand)
@click.option("--name", required=True)
@click.option("--webhook-url", required=True, help="Where Bridgeline sends this provider's events.")
@json_option
def create_provider(name: str, webhook_url: str, as_json: bool) -> None:
    """Create a provider; prints its id and its whsec_ secret (once) last."""
    provider = _directory().create_provider(name)
    _, secret = _endpoints().configure("provider", provider.id, webhook_url)
    _emit(as_json, {"id": provider.id, "name": provider.name, "webhook_secret": secret},
          [f"Created provider {provider.name!r}.",
           "Its webhook signing secret is shown once, below, after the provider id:",
           f"{provider.id} {secret}"])


@providers.command("list", cls=DirectoryCommand)
def list_providers() -> None:
    """List providers."""
    for provider in _directory().list_providers():
        click.echo(f"{provider.id}\t{provider.name}")


@providers.command("rotate-secret", cls=DirectoryCommand)
@click.argument("owner_id")
def rotate_secret(owner_id: str) -> None:
    """New signing secret for a provider's (or employer's) endpoint; the old one keeps
    signing for 24 hours. Prints the new secret last."""
    click.echo(_endpoints().rotate_secret(owner_id))


# -- clients ------------------------------------------------------------------------------
@click.group()
def clients() -> None:
    """API clients: bearer credentials for HR systems, specialists, managers, providers."""


@clients.command("create", cls=DirectoryCommand)
@click.option("--employer", "employer_id", help="emp_… for roles hr, specialist, manager.")
@click.option("--provider", "provider_id", help="prv_… for role provider.")
@click.option("--role", required=True,
              type=click.Choice(["hr", "specialist", "manager", "provider", "admin"]))
@click.option("--label", help="A note for people, e.g. the HR system's name.")
@json_option
def create_client(employer_id: str | None, provider_id: str | None, role: str,
                  label: str | None, as_json: bool) -> None:
    """Create a client; prints its bearer token as the last line, once."""
    client, token = _directory().create_client(
        role, employer_id=employer_id, provider_id=provider_id, label=label)
    _emit(as_json, {"id": client.id, "role": role, "tenant": client.tenant_id, "token": str(token)},
          [f"Created client {client.id} (role {role}"
           + (f", {client.tenant_id})." if client.tenant_id else ")."),
           "Its bearer token is shown once, on the next line. Store it now:",
           str(token)])


@clients.command("list", cls=DirectoryCommand)
@click.option("--employer", "employer_id")
@click.option("--provider", "provider_id")
def list_clients(employer_id: str | None, provider_id: str | None) -> None:
    """List clients (never their secrets)."""
    for c in _directory().list_clients(employer_id=employer_id, provider_id=provider_id):
        state = "revoked" if c.revoked else "active"
        click.echo(f"{c.id}\t{c.role}\t{c.tenant_id or '-'}\t{state}\t{c.label or ''}")


@clients.command("revoke", cls=DirectoryCommand)
@click.argument("client_id")
def revoke_client(client_id: str) -> None:
    """Revoke a client; every service refuses its token within 30 seconds."""
    if not _directory().revoke_client(client_id):
        raise DirectoryError(f"no active client {client_id}")
    click.echo(f"Revoked {client_id}.")
