"""The `bridgeline` command: one entry point, a group of subcommands per mechanism.

Each mechanism owns its commands in its own module (`shared/<mechanism>/cli.py`) and
exposes a click group; this module only assembles them.
"""

from __future__ import annotations

import importlib

import click

# (module, attribute) of every command group; a module is imported only when the
# command line needs it, so `bridgeline --help` stays fast and dependency-light.
COMMAND_GROUPS: dict[str, tuple[str, str]] = {
    "employers": ("shared.directory.cli", "employers"),
    "providers": ("shared.directory.cli", "providers"),
    "clients": ("shared.directory.cli", "clients"),
    "db": ("shared.db.cli", "db"),
    "keys": ("shared.crypto.cli", "keys"),
    "subjects": ("shared.crypto.cli", "subjects"),
    "relay": ("shared.messaging.cli", "relay"),
    "dlq": ("shared.messaging.cli", "dlq"),
    "webhooks": ("shared.webhooks.cli", "webhooks"),
    "audit": ("shared.audit.cli", "audit"),
    "signing-keys": ("attestation.cli", "signing_keys"),
    "worker": ("shared.worker", "worker"),
    "up": ("shared.supervisor", "up"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_GROUPS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMAND_GROUPS.get(cmd_name)
        if target is None:
            return None
        module = importlib.import_module(target[0])
        return getattr(module, target[1])


@click.group(cls=LazyGroup)
def main() -> None:
    """Bridgeline administration: directory, keys, messaging, webhooks, audit."""
