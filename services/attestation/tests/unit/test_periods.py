import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from attestation.domain.periods import Period, completed_weeks, expires_at, week_of


@pytest.mark.parametrize(("day", "start", "end"), [
    (date(2027, 1, 6), date(2027, 1, 4), date(2027, 1, 10)),      # a Wednesday
    (date(2027, 1, 4), date(2027, 1, 4), date(2027, 1, 10)),      # the Monday itself
    (date(2027, 1, 10), date(2027, 1, 4), date(2027, 1, 10)),     # the Sunday itself
    (date(2027, 2, 1), date(2027, 2, 1), date(2027, 2, 7)),
    (date(2027, 3, 1), date(2027, 3, 1), date(2027, 3, 7)),
    (date(2027, 2, 28), date(2027, 2, 22), date(2027, 2, 28)),
    (date(2026, 12, 31), date(2026, 12, 28), date(2027, 1, 3)),   # across the year
    (date(2027, 1, 2), date(2026, 12, 28), date(2027, 1, 3)),
    (date(2028, 2, 29), date(2028, 2, 28), date(2028, 3, 5)),     # leap day, across months
])
def test_week_of_is_monday_to_sunday(day, start, end):
    week = week_of(day)
    assert week == Period(start, end)
    assert week.start.weekday() == 0 and week.end.weekday() == 6
    assert week.includes(day)


def test_completed_weeks_need_their_sunday_before_today():
    since = date(2026, 12, 23)  # a Wednesday
    assert completed_weeks(since, date(2026, 12, 27)) == []            # that Sunday: not over
    assert completed_weeks(since, date(2026, 12, 28)) == [Period(date(2026, 12, 21),
                                                                 date(2026, 12, 27))]
    weeks = completed_weeks(since, date(2027, 1, 12))
    assert weeks == [Period(date(2026, 12, 21), date(2026, 12, 27)),
                     Period(date(2026, 12, 28), date(2027, 1, 3)),
                     Period(date(2027, 1, 4), date(2027, 1, 10))]
    assert completed_weeks(date(2027, 1, 12), date(2027, 1, 12)) == []


def test_completed_weeks_are_contiguous_over_a_long_span():
    weeks = completed_weeks(date(2026, 11, 3), date(2027, 3, 15))
    assert all(b.start == a.end + timedelta(days=1) for a, b in itertools.pairwise(weeks))
    assert weeks[-1].end == date(2027, 3, 14)


def test_an_attestation_expires_ten_days_after_the_end_of_its_period():
    assert expires_at(date(2027, 1, 10)) == datetime(2027, 1, 21, tzinfo=UTC)
    assert expires_at(date(2026, 12, 27)) == datetime(2027, 1, 7, tzinfo=UTC)
    assert expires_at(date(2027, 1, 10), days=3) == datetime(2027, 1, 14, tzinfo=UTC)
