"""`bridgeline keys ...` (the keyring and the stored subject keys) and
`bridgeline subjects ...` (crypto-shredding).

Settings are resolved like every `bridgeline` command, from the environment, through
`Settings.from_env("directory")`: the keyring file is `BRIDGELINE_KEYRING` (default
`<BRIDGELINE_VAR_DIR>/keys/keyring.json`); the directory database, which holds the
wrapped subject keys, is `shared.config.database_url("directory")`
(`DIRECTORY_DATABASE_URL`, else derived from `DATABASE_URL`, else a SQLite file in the
var directory). No command ever prints key material.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy.exc import OperationalError, ProgrammingError

from shared.config import Settings
from shared.crypto.cipher import SYSTEM_SUBJECT
from shared.crypto.errors import KeyringError
from shared.crypto.from_settings import build_key_store
from shared.crypto.key_store import KeyStore
from shared.crypto.keyring import Keyring, describe


def _settings() -> Settings:
    return Settings.from_env("directory")


@contextmanager
def _key_store() -> Iterator[KeyStore]:
    store = build_key_store(_settings())
    try:
        yield store
    finally:
        store.engine.dispose()


class CryptoCommand(click.Command):
    """Turns a keyring problem or a missing schema into one clear sentence."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyringError as exc:
            raise click.ClickException(str(exc)) from exc
        except (OperationalError, ProgrammingError) as exc:
            raise click.ClickException(
                "the directory database is not ready; run `bridgeline db upgrade` "
                f"(or `make run`) first [{type(exc.orig).__name__}]") from exc


def _command(group: click.Group) -> Callable[..., Any]:
    return group.command(cls=CryptoCommand)


# -- keys ------------------------------------------------------------------------------
@click.group()
def keys() -> None:
    """The keyring (KEK versions, blind-index root) and the stored subject keys."""


@_command(keys)
def init() -> None:
    """Create the keyring file (mode 0600). Refuses to overwrite an existing one."""
    path = _settings().keyring_path
    keyring = Keyring.generate(path)
    click.echo(f"created keyring with KEK version {keyring.current_version}")
    click.echo(str(path))


@_command(keys)
def rotate() -> None:
    """Add a KEK version that wraps new keys; old versions still unwrap."""
    version = Keyring.load(_settings().keyring_path).rotate()
    click.echo("new subject keys are wrapped with it; running services pick it up on "
               "restart. Run `bridgeline keys rewrap` to move stored keys to it.")
    click.echo(f"current KEK version: {version}")
    click.echo(str(version))


@_command(keys)
@click.option("--batch-size", default=200, show_default=True, type=click.IntRange(1, 10_000))
def rewrap(batch_size: int) -> None:
    """Re-wrap every stored subject key with the newest KEK version (in memory only)."""
    with _key_store() as store:
        count = store.rewrap_all(batch_size=batch_size)
        left = sum(n for v, n in store.counts().by_kek_version.items()
                   if v != store.kek.current_version)
    click.echo(f"rewrapped {count} subject keys; {left} left on older versions")
    click.echo(str(count))


@_command(keys)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def status(as_json: bool) -> None:
    """KEK versions and how many stored keys each wraps. Shows no secrets."""
    settings = _settings()
    keyring = Keyring.load(settings.keyring_path)
    with _key_store() as store:
        counts = store.counts()
    versions = [{**v, "subject_keys": counts.by_kek_version.get(v["version"], 0)}
                for v in describe(keyring)]
    if as_json:
        click.echo(json.dumps({"keyring": str(settings.keyring_path), "kek_versions": versions,
                               "erased_subjects": counts.erased}))
        return
    click.echo(f"keyring: {settings.keyring_path}")
    for v in versions:
        mark = " (current)" if v["current"] else ""
        click.echo(f"  KEK v{v['version']}{mark}: {v['subject_keys']} subject keys, "
                   f"created {v['created_at']}")
    click.echo(f"erased subjects: {counts.erased}")


@_command(keys)
@click.argument("version", type=int)
def retire(version: int) -> None:
    """Remove an old KEK version from the keyring, once no stored key uses it."""
    with _key_store() as store:
        still = store.counts().by_kek_version.get(version, 0)
    if still:
        raise click.ClickException(f"{still} subject keys are still wrapped with KEK "
                                   f"version {version}; run `bridgeline keys rewrap` first")
    Keyring.load(_settings().keyring_path).retire(version)
    click.echo(f"retired KEK version {version}")


# -- subjects --------------------------------------------------------------------------
@click.group()
def subjects() -> None:
    """Data subjects (employees) and their data keys."""


@_command(subjects)
@click.argument("subject")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--allow-system", is_flag=True,
              help=f"Allow erasing {SYSTEM_SUBJECT!r} (loses every webhook secret).")
def erase(subject: str, yes: bool, allow_system: bool) -> None:
    """Crypto-shred SUBJECT: delete its data key, so none of its values, in any service
    or message, can be decrypted again. Takes effect everywhere within 30 seconds."""
    if subject == SYSTEM_SUBJECT and not allow_system:
        raise click.ClickException(f"{SYSTEM_SUBJECT!r} holds the platform's own secrets; "
                                   "pass --allow-system if you really mean it")
    if not yes:
        click.confirm(f"Erase every encrypted value of {subject!r}? This cannot be undone",
                      abort=True)
    with _key_store() as store:
        store.erase(subject)
    click.echo(f"erased {subject}")


@_command(subjects)
@click.argument("subject")
def show(subject: str) -> None:
    """Whether SUBJECT has a data key, and under which KEK version, or was erased."""
    with _key_store() as store:
        info = store.describe(subject)
    if info is None:
        click.echo(f"{subject}: no data key")
    elif info["erased_at"] is not None:
        click.echo(f"{subject}: erased at {info['erased_at'].isoformat()}")
    else:
        click.echo(f"{subject}: data key wrapped with KEK v{info['kek_version']}, "
                   f"created {info['created_at'].isoformat()}")
