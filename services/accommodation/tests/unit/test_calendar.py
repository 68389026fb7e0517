"""Business days and the process timers: weekends, holidays, year end, overdue cases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from accommodation.domain.calendar import BusinessCalendar, is_overdue, parse_holidays
from accommodation.domain.model import (
    Accommodation,
    AccommodationType,
    Arrangement,
    Status,
    Window,
)

PLAIN = BusinessCalendar()
YEAR_END = BusinessCalendar(frozenset({date(2026, 12, 25), date(2027, 1, 1)}))
MON, FRI, SAT = date(2027, 1, 4), date(2027, 1, 8), date(2027, 1, 9)


@pytest.mark.parametrize(("start", "n", "expected"), [
    (MON, 0, MON),                                  # day 0 is the start itself
    (MON, 1, date(2027, 1, 5)),
    (MON, 4, FRI),
    (MON, 5, date(2027, 1, 11)),                    # over a weekend
    (FRI, 1, date(2027, 1, 11)),                    # Friday -> Monday
    (SAT, 1, date(2027, 1, 11)),                    # a weekend start counts from Monday
    (SAT, 5, date(2027, 1, 15)),
    (MON, 15, date(2027, 1, 25)),
])
def test_add_business_days_skips_weekends(start: date, n: int, expected: date) -> None:
    assert PLAIN.add_business_days(start, n) == expected


def test_add_business_days_skips_holidays_over_the_year_end() -> None:
    assert YEAR_END.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    # Wed 30 Dec: Thu 31 (1), Fri 1 Jan holiday, Mon 4 (2) .. Thu 7 (5)
    assert YEAR_END.add_business_days(date(2026, 12, 30), 5) == date(2027, 1, 7)
    assert PLAIN.add_business_days(date(2026, 12, 30), 5) == date(2027, 1, 6)


def test_a_holiday_on_a_weekend_changes_nothing() -> None:
    assert BusinessCalendar(frozenset({SAT})).add_business_days(FRI, 1) == date(2027, 1, 11)
    assert BusinessCalendar(frozenset({SAT})).business_days_between(FRI, date(2027, 1, 11)) == 1


def test_negative_business_days_are_refused() -> None:
    with pytest.raises(ValueError):
        PLAIN.add_business_days(MON, -1)


def test_due_dates_for_a_friday_submission() -> None:
    assert PLAIN.due_dates(FRI, False) == (date(2027, 1, 15), date(2027, 1, 29))
    assert PLAIN.due_dates(FRI, True) == (date(2027, 1, 15), date(2027, 2, 5))


def test_due_dates_over_the_year_end() -> None:
    # Mon 21 Dec 2026 with Fri 25 Dec and Fri 1 Jan off: 22, 23, 24, 28, 29 -> Tue 29 Dec;
    # then 30, 31, 4, 5, 6, 7, 8, 11, 12, 13 -> Wed 13 Jan
    assert YEAR_END.due_dates(date(2026, 12, 21), False) == (date(2026, 12, 29),
                                                             date(2027, 1, 13))


@pytest.mark.parametrize(("a", "b", "expected"), [
    (MON, MON, 0),
    (FRI, date(2027, 1, 11), 1),
    (FRI, SAT, 0),
    (MON, date(2027, 1, 18), 10),
    (date(2027, 1, 11), FRI, -1),                   # backwards is negative
    (date(2026, 12, 24), date(2027, 1, 4), 7),      # 25, 28, 29, 30, 31, 1, 4
])
def test_business_days_between(a: date, b: date, expected: int) -> None:
    assert PLAIN.business_days_between(a, b) == expected


def test_business_days_between_counts_holidays_out() -> None:
    assert YEAR_END.business_days_between(date(2026, 12, 24), date(2027, 1, 4)) == 5


@pytest.mark.parametrize("calendar", [PLAIN, YEAR_END])
def test_business_days_between_inverts_add_business_days(calendar: BusinessCalendar) -> None:
    for offset in range(14):
        start = date(2026, 12, 14) + timedelta(days=offset)
        for n in range(0, 45, 3):
            assert calendar.business_days_between(start, calendar.add_business_days(start, n)) == n


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-12-25,2027-01-01", {date(2026, 12, 25), date(2027, 1, 1)}),
    (" 2026-12-25 , 2027-01-01 ,", {date(2026, 12, 25), date(2027, 1, 1)}),
    ("", set()),
    ("2026-12-25,2026-12-25", {date(2026, 12, 25)}),
])
def test_parse_holidays(text: str, expected: set[date]) -> None:
    assert parse_holidays(text) == frozenset(expected)


def test_parse_holidays_names_the_bad_entry() -> None:
    with pytest.raises(ValueError, match="25/12/2026"):
        parse_holidays("2027-01-01,25/12/2026")


def case_in(status: Status) -> Accommodation:
    return Accommodation(
        id="acc_1", employer_id="emp_1", employee_subject="sub_1", external_id="E-1",
        type=AccommodationType.SCHEDULE_CHANGE,
        requested=Arrangement((Window("tue", time(16), time(20)),), MON),
        submitted_at=datetime(2027, 1, 4, 9, tzinfo=UTC), submitted_by="cli_hr",
        acknowledge_due=date(2027, 1, 11), decision_due=date(2027, 1, 25), status=status)


@pytest.mark.parametrize(("status", "today", "overdue"), [
    (Status.SUBMITTED, date(2027, 1, 11), False),       # due today: not yet overdue
    (Status.SUBMITTED, date(2027, 1, 12), True),        # not acknowledged in time
    (Status.IN_REVIEW, date(2027, 1, 12), False),       # acknowledged; decision not yet due
    (Status.IN_REVIEW, date(2027, 1, 25), False),
    (Status.IN_REVIEW, date(2027, 1, 26), True),        # no decision in time
    (Status.INFO_REQUESTED, date(2027, 1, 26), True),
    (Status.SUBMITTED, date(2027, 1, 26), True),
    (Status.APPROVED, date(2027, 2, 26), False),
    (Status.APPROVED_MODIFIED, date(2027, 2, 26), False),
    (Status.DENIED, date(2027, 2, 26), False),
    (Status.IMPLEMENTED, date(2027, 2, 26), False),
    (Status.REVIEW_DUE, date(2027, 2, 26), False),
    (Status.CLOSED, date(2027, 2, 26), False),
    (Status.WITHDRAWN, date(2027, 2, 26), False),
])
def test_is_overdue(status: Status, today: date, overdue: bool) -> None:
    assert is_overdue(case_in(status), today, PLAIN) is overdue


def test_overdue_follows_the_moved_decision_due_date() -> None:
    case = replace(case_in(Status.INFO_REQUESTED), decision_due=date(2027, 2, 1))
    assert not is_overdue(case, date(2027, 1, 26))
    assert is_overdue(case, date(2027, 2, 2))
