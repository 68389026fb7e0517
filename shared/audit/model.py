"""What an audit entry may say, and the shapes that keep values out of it.

An entry names *who* touched *which* fields of *which* resources of *whose* record, *why*
and under *which* consent; it never carries a value. That is enforced by construction:
every attribute of an `AuditEvent` is either a member of a closed set (`AuditKind`), an
opaque identifier (`OPAQUE_ID`), or a short lower-case code (`CODE`, `FIELD_NAME`), and
construction fails for anything else. Those shapes exclude what values look like — text
with spaces, names, e-mail addresses, phone numbers, dates, numbers, upper case, long
strings — so a value passed by mistake (`fields=[employee.email]`) raises instead of
being written. There is no free-text parameter at all: not even the purpose, which is a
code from the caller's closed set (see `AuditLog(purposes=...)`).

No pattern can prove a string is not a value; these make the accident impossible and the
deliberate misuse conspicuous in review.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

# An opaque, prefixed id: `ref_…`, `con_…`, `cli_…`, a subject id, a uuid. The body is long
# enough (>= 16) that an ordinary word does not fit.
OPAQUE_ID = re.compile(r"^[a-z][a-z0-9]{1,15}_[a-z0-9-]{16,64}$")
# A short snake_case code: a purpose, a resource type, a recipient role, an actor name.
CODE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# A field name, optionally dotted for nested fields (`claims.compliant`).
FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}(?:\.[a-z][a-z0-9_]{0,39}){0,3}$")
SYSTEM_ACTOR_PREFIX = "system:"

MAX_RESOURCE_IDS = 1000
MAX_FIELDS = 100


class AuditKind(StrEnum):
    ACCESS = "access"  # a read of clinical data
    DISCLOSURE = "disclosure"  # information given to a party outside the provider (an employer)


class InvalidAuditEvent(ValueError):
    """An audit event that does not have the shape of ids and codes (it may hold a value)."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """Who received a disclosure: a party (employer or provider id) and the role within it."""

    party_id: str
    role: str

    def __post_init__(self) -> None:
        _require(OPAQUE_ID, self.party_id, "recipient.party_id")
        _require(CODE, self.role, "recipient.role")


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What the caller records. Build with `AuditEvent.access(...)` or `.disclosure(...)`.

    `resource_ids` and `fields` are sets in meaning: they are stored sorted and without
    duplicates, so the same event always encodes (and hashes) the same way.
    """

    kind: AuditKind
    actor: str
    subject: str
    resource_type: str
    resource_ids: tuple[str, ...]
    fields: tuple[str, ...]
    purpose: str
    consent_id: str | None = None
    recipient: Recipient | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", AuditKind(self.kind))
        _require_actor(self.actor)
        _require(OPAQUE_ID, self.subject, "subject")
        _require(CODE, self.resource_type, "resource_type")
        _require(CODE, self.purpose, "purpose")
        object.__setattr__(self, "resource_ids",
                           _id_set(self.resource_ids, OPAQUE_ID, "resource_ids", MAX_RESOURCE_IDS))
        object.__setattr__(self, "fields", _id_set(self.fields, FIELD_NAME, "fields", MAX_FIELDS))
        if self.consent_id is not None:
            _require(OPAQUE_ID, self.consent_id, "consent_id")
        self._require_kind_rules()

    def _require_kind_rules(self) -> None:
        if self.kind is AuditKind.DISCLOSURE:
            # 42 CFR Part 2: every disclosure names its recipient and the consent it rests on.
            if self.recipient is None or self.consent_id is None:
                raise InvalidAuditEvent("a disclosure needs a recipient and a consent_id")
        elif self.recipient is not None:
            raise InvalidAuditEvent("an access has no recipient; record a disclosure instead")

    @classmethod
    def access(cls, *, actor: str, subject: str, resource_type: str,
               resource_ids: Sequence[str], fields: Sequence[str], purpose: str,
               consent_id: str | None = None) -> AuditEvent:
        return cls(AuditKind.ACCESS, actor, subject, resource_type,
                   _as_tuple(resource_ids, "resource_ids"), _as_tuple(fields, "fields"),
                   purpose, consent_id)

    @classmethod
    def disclosure(cls, *, actor: str, subject: str, resource_type: str,
                   resource_ids: Sequence[str], fields: Sequence[str], purpose: str,
                   consent_id: str, recipient: Recipient) -> AuditEvent:
        return cls(AuditKind.DISCLOSURE, actor, subject, resource_type,
                   _as_tuple(resource_ids, "resource_ids"), _as_tuple(fields, "fields"),
                   purpose, consent_id, recipient)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """An event as recorded: its place in the chain, when, and the hashes that seal it."""

    seq: int
    recorded_at: datetime
    event: AuditEvent
    prev_hash: str
    hash: str = field(repr=False)


def system_actor(name: str) -> str:
    """The actor string for work done by the system itself (`system:attestation_issuer`)."""
    _require(CODE, name, "system actor name")
    return SYSTEM_ACTOR_PREFIX + name


def _require_actor(actor: str) -> None:
    if isinstance(actor, str) and actor.startswith(SYSTEM_ACTOR_PREFIX):
        _require(CODE, actor.removeprefix(SYSTEM_ACTOR_PREFIX), "actor")
    else:
        _require(OPAQUE_ID, actor, "actor")


def _require(pattern: re.Pattern[str], value: object, name: str) -> None:
    # The message names the attribute and the expected shape, never the refused value:
    # it may be exactly the sensitive text this check exists to keep out of logs.
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidAuditEvent(f"{name} must match {pattern.pattern}")


def _as_tuple(values: Sequence[str], name: str) -> tuple[str, ...]:
    # A lone string is a Sequence[str] too; splitting it into characters would hide the bug.
    if isinstance(values, str):
        raise InvalidAuditEvent(f"{name} must be a list, not a string")
    return tuple(values)


def _id_set(values: tuple[str, ...], pattern: re.Pattern[str], name: str,
            limit: int) -> tuple[str, ...]:
    for value in _as_tuple(values, name):
        _require(pattern, value, name)
    unique = tuple(sorted(set(values)))
    if not unique or len(unique) > limit:
        raise InvalidAuditEvent(f"{name} needs between 1 and {limit} entries")
    return unique
