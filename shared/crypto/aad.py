"""Additional authenticated data: where a value lives, bound into its ciphertext.

A value encrypted for (tenant, table, record id, field) opens only with exactly those
four, and only for the subject whose key sealed it; copied into another row, field or
tenant it fails to decrypt. `table` may also be a message type (`referral.created`)
for values that travel in events.
"""

from __future__ import annotations

from dataclasses import dataclass

# Part of the stored format: changing it makes every stored value unreadable.
_LABEL = b"bridgeline-field-aad-v1\x00"
_SEPARATOR = "\x00"
_PARTS = 5


@dataclass(frozen=True, slots=True)
class Aad:
    """All four are str without NUL (checked when used: see `associated_data`)."""

    tenant: str
    table: str
    record_id: str
    field: str


def associated_data(header: bytes, subject: str, aad: Aad) -> bytes:
    """The canonical bytes authenticated with a value: the token header, a label, then
    subject, tenant, table, record id and field joined by NUL.

    No part may contain NUL (ids and names never do; PostgreSQL text cannot), so the
    five parts read back unambiguously: ("ab", "c") and ("a", "bc") differ. This runs
    twice per field, so it validates for free where it can: `join` refuses a non-str
    part (an int record id would stringify differently elsewhere) with a TypeError.
    """
    joined = _SEPARATOR.join((subject, aad.tenant, aad.table, aad.record_id, aad.field))
    if joined.count(_SEPARATOR) != _PARTS - 1:
        raise ValueError("subject and AAD parts must not contain NUL")
    return header + _LABEL + joined.encode()
