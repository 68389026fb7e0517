"""When to try a delivery again, decided from the last attempt's result alone.

The schedule is Standard Webhooks': 0, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
24 h (about 3 days in all), each retry moved by up to 10 % either way so that the
retries of many deliveries that failed together do not come back together. A 2xx is
success; 410 Gone means the receiver wants nothing more (the endpoint is disabled); a
429 or 503 may say when to come back with `Retry-After`, which is honoured (capped at
24 h, so a receiver cannot park a delivery forever); anything else, redirects included,
is a failure.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
    timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=14),
    timedelta(hours=20), timedelta(hours=24),
)
JITTER = 0.1
MAX_RETRY_AFTER = timedelta(hours=24)
RETRY_AFTER_STATUSES = frozenset({429, 503})
GONE = 410


@dataclass(frozen=True)
class NextStep:
    """What becomes of a delivery after an attempt."""

    status: str                        # "pending" | "delivered" | "exhausted" | "abandoned"
    next_attempt_at: datetime | None = None
    reason: str | None = None          # why it failed or was abandoned (short, operational)
    disable_endpoint: bool = False


def next_step(attempt: int, status_code: int | None, error_class: str | None,
              retry_after: timedelta | None, now: datetime, rng: random.Random,
              schedule: Sequence[timedelta] = RETRY_SCHEDULE) -> NextStep:
    """After attempt number `attempt` (1-based) answered `status_code` (None when no
    answer came: `error_class` says why)."""
    if status_code is not None and 200 <= status_code < 300:
        return NextStep("delivered")
    if status_code == GONE:
        return NextStep("abandoned", reason="gone", disable_endpoint=True)
    reason = error_class or f"http_{status_code}"
    delay = retry_delay(attempt, rng, schedule)
    if delay is None:
        return NextStep("exhausted", reason=reason)
    if retry_after is not None and status_code in RETRY_AFTER_STATUSES:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return NextStep("pending", next_attempt_at=now + delay, reason=reason)


def retry_delay(attempt: int, rng: random.Random,
                schedule: Sequence[timedelta] = RETRY_SCHEDULE) -> timedelta | None:
    """The jittered wait after failed attempt number `attempt`; None once all the
    schedule's attempts are spent."""
    if attempt >= len(schedule):
        return None
    return schedule[attempt] * rng.uniform(1 - JITTER, 1 + JITTER)


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """`Retry-After` as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return timedelta(seconds=min(int(value), MAX_RETRY_AFTER.total_seconds()))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT, though asctime ones do not say so
        when = when.replace(tzinfo=UTC)
    return max(timedelta(0), when - now)
