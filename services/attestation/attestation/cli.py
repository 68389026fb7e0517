"""`bridgeline signing-keys ...`: the Ed25519 keyring that signs attestations.

The keyring file is `ATTESTATION_SIGNING_KEYS` (default
`<BRIDGELINE_VAR_DIR>/keys/attestation-signing.json`, mode 0600). Running services
reload it when it changes, so a rotation takes effect without a restart. No command
ever prints key material.
"""

from __future__ import annotations

from pathlib import Path

import click

from attestation.adapters.signing import SigningKeyError, SigningKeys
from attestation.config import SERVICE_NAME, signing_keys_path
from shared.config import Settings


def _path() -> Path:
    return signing_keys_path(Settings.from_env(SERVICE_NAME))


def _load() -> SigningKeys:
    try:
        return SigningKeys.load(_path())
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group("signing-keys")
def signing_keys() -> None:
    """The attestation signing keys (Ed25519, published at /.well-known/jwks.json)."""


@signing_keys.command()
@click.option("--if-missing", is_flag=True,
              help="Do nothing (and succeed) when the keyring exists already.")
def init(if_missing: bool) -> None:
    """Create the keyring with one key; never overwrites an existing one."""
    path = _path()
    if path.exists():
        if if_missing:
            return
        raise click.ClickException(f"{path} exists already; use `rotate` for a new key")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        keys = SigningKeys.generate(path)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {path}")
    click.echo(keys.current_kid)


@signing_keys.command()
def rotate() -> None:
    """A new key signs from now on; older keys keep verifying what they signed."""
    keys = _load()
    try:
        kid = keys.rotate()
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(kid)


# A key id is base64url, so one in 64 begins with "-": taken as the argument, not as an
# option this command does not have.
@signing_keys.command(context_settings={"ignore_unknown_options": True})
@click.argument("kid")
def retire(kid: str) -> None:
    """Remove an old key: attestations it signed no longer verify."""
    keys = _load()
    try:
        keys.retire(kid)
    except SigningKeyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"retired {kid}")


@signing_keys.command()
def status() -> None:
    """The keyring's path and key ids, the current one marked."""
    keys = _load()
    click.echo(f"keyring {_path()}")
    for kid in keys.kids:
        click.echo(f"{kid}{'  (current)' if kid == keys.current_kid else ''}")
