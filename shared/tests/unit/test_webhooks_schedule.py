"""The retry schedule, jitter, Retry-After and what each answer means."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shared.webhooks.schedule import (
    MAX_RETRY_AFTER,
    RETRY_SCHEDULE,
    next_step,
    parse_retry_after,
    retry_delay,
)

NOW = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
EXPECTED = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]


class Midpoint(random.Random):
    """Jitter of exactly zero: uniform(a, b) is the middle of [a, b]."""

    def uniform(self, a, b):
        return (a + b) / 2


def test_the_schedule_is_the_standard_one():
    assert [d.total_seconds() for d in RETRY_SCHEDULE] == EXPECTED


def test_each_retry_waits_its_scheduled_delay_then_the_schedule_is_spent():
    waits = [retry_delay(attempt, Midpoint()) for attempt in range(1, 11)]
    assert [w.total_seconds() for w in waits[:9]] == EXPECTED[1:]
    assert waits[9] is None


def test_jitter_stays_within_10_percent_and_varies():
    rng = random.Random(7)
    delays = {retry_delay(3, rng).total_seconds() for _ in range(200)}
    assert min(delays) >= 1800 * 0.9 and max(delays) <= 1800 * 1.1
    assert len(delays) > 100


@pytest.mark.parametrize("code", [200, 201, 204, 299])
def test_2xx_is_delivered(code):
    assert next_step(1, code, None, None, NOW, Midpoint()).status == "delivered"


@pytest.mark.parametrize("code", [301, 302, 400, 401, 404, 409, 500, 502, 504])
def test_other_codes_are_retried_on_schedule(code):
    step = next_step(2, code, None, None, NOW, Midpoint())
    assert (step.status, step.next_attempt_at, step.reason) == (
        "pending", NOW + timedelta(minutes=5), f"http_{code}")
    assert not step.disable_endpoint


def test_no_answer_is_retried_and_named_by_its_error_class():
    step = next_step(1, None, "ReadTimeout", None, NOW, Midpoint())
    assert (step.status, step.reason) == ("pending", "ReadTimeout")


def test_410_abandons_and_disables_the_endpoint():
    step = next_step(1, 410, None, None, NOW, Midpoint())
    assert (step.status, step.reason, step.disable_endpoint) == ("abandoned", "gone", True)


def test_the_tenth_failure_exhausts():
    step = next_step(10, 500, None, None, NOW, Midpoint())
    assert (step.status, step.next_attempt_at, step.reason) == ("exhausted", None, "http_500")


@pytest.mark.parametrize("code", [429, 503])
def test_retry_after_on_429_and_503_is_honoured_when_later_than_the_schedule(code):
    step = next_step(1, code, None, timedelta(minutes=2), NOW, Midpoint())
    assert step.next_attempt_at == NOW + timedelta(minutes=2)
    sooner = next_step(3, code, None, timedelta(minutes=2), NOW, Midpoint())
    assert sooner.next_attempt_at == NOW + timedelta(minutes=30)


def test_retry_after_on_other_codes_is_ignored():
    step = next_step(1, 500, None, timedelta(hours=1), NOW, Midpoint())
    assert step.next_attempt_at == NOW + timedelta(seconds=5)


def test_retry_after_is_capped():
    step = next_step(1, 429, None, timedelta(days=30), NOW, Midpoint())
    assert step.next_attempt_at == NOW + MAX_RETRY_AFTER


@pytest.mark.parametrize("value, expected", [
    ("120", timedelta(seconds=120)), (" 0 ", timedelta(0)),
    ("Tue, 05 Jan 2027 12:02:00 GMT", timedelta(minutes=2)),
    ("Tuesday, 05-Jan-27 12:02:00 GMT", timedelta(minutes=2)),
    ("Tue Jan  5 12:02:00 2027", timedelta(minutes=2)),
    ("Tue, 05 Jan 2027 11:00:00 GMT", timedelta(0)),
    ("9" * 30, MAX_RETRY_AFTER),
    (None, None), ("", None), ("soon", None), ("-5", None), ("1.5", None), ("\u0663", None),
])
def test_retry_after_is_read_as_seconds_or_an_http_date(value, expected):
    assert parse_retry_after(value, NOW) == expected
