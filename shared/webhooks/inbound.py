"""Verifying a webhook we receive: Standard Webhooks v1 headers, signature and payload.

Checks run cheapest and least revealing first, and each failure is a `Problem` the app
renders as problem+json, never a 5xx:

1. the three headers are present and well formed            -> 400
2. the timestamp is within 5 minutes of now, either way      -> 401 (a replay or a bad clock)
3. one `v1` signature matches one of the endpoint's secrets  -> 401
4. the body is UTF-8 JSON                                    -> 400
5. the body is `{"type", "timestamp", "data"}` and no more   -> 422 with field errors

The body is parsed only after its signature is known good, over the exact bytes
received. A valid webhook can still be a resend: record its id with `record_received`
in the transaction that applies it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from shared.web.problems import Problem
from shared.webhooks.signing import MAC_BYTES, SIGNATURE_VERSION, any_signature_matches

TOLERANCE = timedelta(minutes=5)
MAX_SIGNATURES = 16
# Printable ASCII without "." (the separator of the signed content) or spaces.
WEBHOOK_ID = re.compile(r"[\x21-\x2d\x2f-\x7e]{1,255}")
UNIX_SECONDS = re.compile(r"^[0-9]{1,10}$")  # up to the year 2286; longer overflows
EVENT_TYPE = re.compile(r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*")
PAYLOAD_FIELDS = frozenset({"type", "timestamp", "data"})
CHALLENGE = {"WWW-Authenticate": 'Standard-Webhooks realm="bridgeline"'}


@dataclass(frozen=True)
class InboundWebhook:
    """A verified webhook. `data` may hold clinical values: it is kept out of repr."""

    id: str
    type: str
    occurred_at: datetime
    sent_at: datetime
    data: dict[str, Any] = field(repr=False)


class RequestLike(Protocol):
    headers: Any

    def get_data(self, cache: bool = ..., as_text: bool = ...) -> Any: ...


def verified_webhook(request: RequestLike, secrets: Sequence[str],
                     now: datetime | None = None) -> InboundWebhook:
    """Verify the current Flask request (see `verify`)."""
    return verify(request.headers, request.get_data(cache=True), secrets, now)


def verify(headers: Mapping[str, str], body: bytes, secrets: Sequence[str],
           now: datetime | None = None) -> InboundWebhook:
    """The webhook in `body`, if `headers` prove one of `secrets` signed it recently."""
    now = now or datetime.now(UTC)
    webhook_id, timestamp, candidates = _read_headers(headers)
    sent_at = datetime.fromtimestamp(timestamp, UTC)
    if abs(sent_at - now) > TOLERANCE:
        raise Problem(401, "Webhook Timestamp Out Of Tolerance", headers=CHALLENGE,
                      detail="webhook-timestamp is more than 5 minutes from our clock.")
    if not secrets or not any_signature_matches(candidates, webhook_id, timestamp, body, secrets):
        raise Problem(401, "Invalid Webhook Signature", headers=CHALLENGE,
                      detail="No v1 signature matches this endpoint's secret.")
    event_type, occurred_at, data = _read_payload(body)
    return InboundWebhook(webhook_id, event_type, occurred_at, sent_at, data)


def _malformed(detail: str) -> Problem:
    return Problem(400, "Malformed Webhook Headers", detail=detail)


def _read_headers(headers: Mapping[str, str]) -> tuple[str, int, list[bytes]]:
    lowered = {str(name).lower(): value for name, value in headers.items()}
    webhook_id = lowered.get("webhook-id")
    timestamp = lowered.get("webhook-timestamp")
    signature = lowered.get("webhook-signature")
    if not (webhook_id and timestamp and signature):
        raise _malformed("webhook-id, webhook-timestamp and webhook-signature are required.")
    if not WEBHOOK_ID.fullmatch(webhook_id):
        raise _malformed("webhook-id must be 1 to 255 printable characters without dots.")
    if not UNIX_SECONDS.fullmatch(timestamp):
        raise _malformed("webhook-timestamp must be whole Unix seconds.")
    return webhook_id, int(timestamp), _read_signatures(signature)


def _read_signatures(header: str) -> list[bytes]:
    """The v1 MACs in the header; entries of other versions (say `v1a`) are skipped."""
    entries = header.split()
    if not entries or len(entries) > MAX_SIGNATURES:
        raise _malformed(f"webhook-signature must list 1 to {MAX_SIGNATURES} signatures.")
    candidates = []
    for entry in entries:
        version, comma, encoded = entry.partition(",")
        if not (version and comma and encoded):
            raise _malformed("each webhook-signature entry is `version,signature`.")
        if version != SIGNATURE_VERSION:
            continue
        try:
            candidate = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise _malformed("a v1 signature must be base64.") from None
        if len(candidate) == MAC_BYTES:
            candidates.append(candidate)
    return candidates


def _read_payload(body: bytes) -> tuple[str, datetime, dict[str, Any]]:
    payload = _json_object(body)
    errors = {name: ["Unknown field."] for name in sorted(set(payload) - PAYLOAD_FIELDS)}
    event_type, data = payload.get("type"), payload.get("data")
    occurred_at = _rfc3339(payload.get("timestamp"))
    if not isinstance(event_type, str) or not EVENT_TYPE.fullmatch(event_type):
        errors["type"] = ["An event type such as `enrollment.started` is required."]
    if occurred_at is None:
        errors["timestamp"] = ["An RFC 3339 time with an offset is required."]
    if not isinstance(data, dict):
        errors["data"] = ["An object is required."]
    # The isinstance checks repeat the ones above only so that the types narrow.
    if errors or not isinstance(event_type, str) or occurred_at is None \
            or not isinstance(data, dict):
        raise _invalid_payload(errors)
    return event_type, occurred_at, data


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Problem(400, "Malformed JSON", detail="The request body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise _invalid_payload({"_schema": ["The body must be a JSON object."]})
    return payload


def _invalid_payload(errors: dict[str, list[str]]) -> Problem:
    return Problem(422, "Invalid Webhook Payload", errors=errors,
                   detail='The body must be {"type", "timestamp", "data"}; see `errors`.')


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        moment = datetime.fromisoformat(value)
        return moment.astimezone(UTC) if moment.tzinfo else None
    except (ValueError, OverflowError):  # e.g. 0001-01-01T00:00:00+05:00
        return None
