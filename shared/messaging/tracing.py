"""W3C Trace Context (`traceparent`) for events, carried in AMQP headers.

A consumer runs its handler inside the incoming event's trace (`traced`), so every event
the handler writes to the outbox continues that trace; code outside any trace (a web
request that did not bring a `traceparent`, a scheduled job) starts a new one.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

HEADER = "traceparent"
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_current: ContextVar[str | None] = ContextVar("bridgeline_traceparent", default=None)


def _nonzero_hex(n_bytes: int) -> str:
    while True:
        value = secrets.token_hex(n_bytes)
        if value.strip("0"):
            return value


def is_valid(traceparent: str | None) -> bool:
    match = _TRACEPARENT.match(traceparent or "")
    return bool(match and match.group(1).strip("0") and match.group(2).strip("0"))


def new_traceparent() -> str:
    return f"00-{_nonzero_hex(16)}-{_nonzero_hex(8)}-01"


def child_of(parent: str | None) -> str:
    """The same trace with a new span id; a new trace when `parent` is missing or invalid."""
    if parent is None or not is_valid(parent):
        return new_traceparent()
    _, trace_id, _, flags = parent.split("-")
    return f"00-{trace_id}-{_nonzero_hex(8)}-{flags}"


def current_traceparent() -> str | None:
    return _current.get()


def outgoing_traceparent() -> str:
    """What an event written now should carry: a span in the current trace, if any."""
    return child_of(_current.get())


@contextmanager
def traced(traceparent: str | None) -> Iterator[str]:
    """Run a block inside the trace of `traceparent` (a new trace when there is none)."""
    span = child_of(traceparent)
    token = _current.set(span)
    try:
        yield span
    finally:
        _current.reset(token)
