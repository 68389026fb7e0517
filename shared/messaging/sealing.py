"""Encrypt an event's sensitive fields before it leaves the service, decrypt them on arrival.

A path names a value in `data`: `employee.name`, or `records.*.note` where `*` stands
for every item of a list. Each value is JSON-encoded (so any JSON value can be
sensitive) and encrypted under the event's `key_subject` with the AAD
(tenant, event type, event id, concrete path, e.g. `records.3.note`): a ciphertext
moved to another field, event or tenant fails to decrypt. Missing and null values stay
as they are. A value whose subject was crypto-shredded opens as the cipher's `Erased`
marker, which the handler receives in place of the value.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from shared.crypto import Aad, DecryptionError
from shared.messaging.envelope import CloudEvent


class FieldCipherLike(Protocol):
    """What we need of `shared.crypto.FieldCipher` (tests pass a fake)."""

    def encrypt(self, plaintext: str, *, subject: str, aad: Aad) -> str: ...

    def decrypt(self, token: str, *, subject: str, aad: Aad) -> Any: ...


class SealedFieldError(ValueError):
    """A field listed as sensitive is not a ciphertext that opens here: the event is
    malformed (or was tampered with) and no retry will change that."""


def _aad(event: CloudEvent, path: str) -> Aad:
    return Aad(event.tenant or "", event.type, event.id, path)


class EventSealer:
    def __init__(self, cipher: FieldCipherLike) -> None:
        self.cipher = cipher

    def seal(self, event: CloudEvent) -> CloudEvent:
        """A copy of `event` whose sensitive values are ciphertexts."""
        if not event.sensitive_fields:
            return event
        data = copy.deepcopy(dict(event.data))
        for pattern in event.sensitive_fields:
            for path, container, key in locations(data, pattern):
                plaintext = json.dumps(container[key], ensure_ascii=False)
                container[key] = self.cipher.encrypt(plaintext, subject=str(event.key_subject),
                                                     aad=_aad(event, path))
        return replace(event, data=data)

    def open(self, event: CloudEvent) -> CloudEvent:
        """A copy of `event` with its sensitive values decrypted (or `Erased`)."""
        if not event.sensitive_fields:
            return event
        data = copy.deepcopy(dict(event.data))
        for pattern in event.sensitive_fields:
            for path, container, key in locations(data, pattern):
                token = container[key]
                if not isinstance(token, str):
                    raise SealedFieldError(f"sensitive field {path} is not a ciphertext")
                try:
                    value = self.cipher.decrypt(token, subject=str(event.key_subject),
                                                aad=_aad(event, path))
                except DecryptionError as exc:
                    # Tampered with or moved: it will never open. Other errors (a key
                    # store briefly away) propagate and are retried.
                    raise SealedFieldError(f"sensitive field {path} does not open") from exc
                container[key] = json.loads(value) if isinstance(value, str) else value
        return replace(event, data=data)


def locations(data: Any, pattern: str) -> Iterator[tuple[str, Any, Any]]:
    """(concrete path, container, key) of every non-null value `pattern` names."""
    yield from _walk(data, pattern.split("."), [])


def _walk(node: Any, segments: list[str], done: list[str]) -> Iterator[tuple[str, Any, Any]]:
    head, rest = segments[0], segments[1:]
    if head == "*":
        keys: list[Any] = list(range(len(node))) if isinstance(node, list) else []
    elif isinstance(node, dict) and head in node:
        keys = [head]
    else:
        keys = []
    for key in keys:
        path = [*done, str(key)]
        if node[key] is None:
            continue
        if rest:
            yield from _walk(node[key], rest, path)
        else:
            yield ".".join(path), node, key
