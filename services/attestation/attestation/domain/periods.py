"""Attestation periods: ISO weeks, Monday to Sunday, and how long an attestation is good.

A week is attested once it is over, that is from the Monday after its Sunday on.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

DEFAULT_VALIDITY_DAYS = 10


class Period(NamedTuple):
    """Both ends included."""

    start: date
    end: date

    def includes(self, day: date) -> bool:
        return self.start <= day <= self.end


def week_of(day: date) -> Period:
    """The Monday-to-Sunday week holding `day`."""
    monday = day - timedelta(days=day.weekday())
    return Period(monday, monday + timedelta(days=6))


def completed_weeks(since: date, today: date) -> list[Period]:
    """Every week from the one holding `since` whose Sunday is before `today`, oldest first."""
    weeks: list[Period] = []
    week = week_of(since)
    while week.end < today:
        weeks.append(week)
        week = week_of(week.end + timedelta(days=1))
    return weeks


def expires_at(period_end: date, *, days: int = DEFAULT_VALIDITY_DAYS) -> datetime:
    """When an attestation of a period ending on `period_end` lapses: the end of that day
    (midnight UTC after it) plus `days`. A week ending Sunday 2027-01-10 is attested
    until 2027-01-21T00:00:00Z, i.e. through the 10th day after the period, inclusive."""
    end_of_day = datetime.combine(period_end + timedelta(days=1), time(0), tzinfo=UTC)
    return end_of_day + timedelta(days=days)
