"""The CloudEvents 1.0 envelope every Bridgeline event travels in (structured JSON mode).

Extension attributes (CloudEvents names: lowercase letters and digits only):
- `tenant`: the employer or provider the event belongs to; part of every field's AAD.
- `keysubject`: whose data key encrypts the sensitive fields (usually the employee), so
  crypto-shredding that subject also makes their events unreadable.
- `sensitivefields`: comma-separated paths in `data` whose values are ciphertexts
  (see `shared.messaging.sealing`); tells a consumer what to decrypt.

The routing key on the broker is the event type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.ids import new_id

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"
MESSAGE_CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"

# Dotted lowercase words, no wildcards: a type is also a topic routing key, and `*` or `#`
# in it would make bindings match things nobody meant.
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
FIELD_PATH = re.compile(r"^[A-Za-z0-9_*]+(\.[A-Za-z0-9_*]+)*$")
CORE_ATTRIBUTES = ("specversion", "id", "source", "type", "time", "subject", "datacontenttype")


class MalformedEvent(ValueError):
    """The bytes are not a Bridgeline CloudEvent; retrying will not change that."""


def _now() -> datetime:
    return datetime.now(UTC)


def _new_event_id() -> str:
    return new_id("evt")


@dataclass(frozen=True)
class CloudEvent:
    type: str
    source: str
    data: Mapping[str, Any]
    subject: str | None = None
    tenant: str | None = None
    key_subject: str | None = None
    sensitive_fields: tuple[str, ...] = ()
    id: str = field(default_factory=_new_event_id)
    time: datetime = field(default_factory=_now)
    datacontenttype: str = DATA_CONTENT_TYPE
    specversion: str = SPEC_VERSION

    def __post_init__(self) -> None:
        if not EVENT_TYPE.match(self.type):
            raise ValueError(f"event type {self.type!r} must be dotted lowercase words")
        if not self.source or not self.id:
            raise ValueError("an event needs a source and an id")
        if self.time.tzinfo is None:
            raise ValueError("event time must be timezone-aware")
        for path in self.sensitive_fields:
            if not FIELD_PATH.match(path):
                raise ValueError(f"sensitive field path {path!r} is not a dotted path")
        if self.sensitive_fields and not self.key_subject:
            raise ValueError("an event with sensitive fields needs a key_subject")

    @property
    def routing_key(self) -> str:
        return self.type

    def to_dict(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "datacontenttype": self.datacontenttype,
        }
        optional = {"subject": self.subject, "tenant": self.tenant,
                    "keysubject": self.key_subject,
                    "sensitivefields": ",".join(self.sensitive_fields) or None}
        attributes.update({k: v for k, v in optional.items() if v is not None})
        attributes["data"] = dict(self.data)
        return attributes

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_dict(cls, attributes: Mapping[str, Any]) -> CloudEvent:
        if attributes.get("specversion") != SPEC_VERSION:
            raise MalformedEvent("specversion must be 1.0")
        if attributes.get("datacontenttype", DATA_CONTENT_TYPE) != DATA_CONTENT_TYPE:
            raise MalformedEvent("only application/json data is understood")
        data = attributes.get("data")
        if not isinstance(data, dict):
            raise MalformedEvent("data must be a JSON object")
        try:
            return cls(
                type=_text(attributes, "type"), source=_text(attributes, "source"),
                id=_text(attributes, "id"), time=_parse_time(_text(attributes, "time")),
                data=data, subject=_optional_text(attributes, "subject"),
                tenant=_optional_text(attributes, "tenant"),
                key_subject=_optional_text(attributes, "keysubject"),
                sensitive_fields=_paths(_optional_text(attributes, "sensitivefields")),
            )
        except ValueError as exc:
            raise MalformedEvent(str(exc)) from None

    @classmethod
    def from_json(cls, body: bytes | str) -> CloudEvent:
        try:
            attributes = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise MalformedEvent("body is not JSON") from None
        if not isinstance(attributes, dict):
            raise MalformedEvent("body is not a JSON object")
        return cls.from_dict(attributes)


def _text(attributes: Mapping[str, Any], name: str) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"{name} must be a non-empty string")
    return value


def _optional_text(attributes: Mapping[str, Any], name: str) -> str | None:
    return None if attributes.get(name) is None else _text(attributes, name)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise MalformedEvent("time must carry an offset (RFC 3339)")
    return parsed.astimezone(UTC)


def _paths(value: str | None) -> tuple[str, ...]:
    return tuple(value.split(",")) if value else ()
