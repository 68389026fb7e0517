"""Business days and the interactive process's timers (the EEOC's own procedure):
acknowledge within 5 business days, decide within 15 (20 when documentation was requested).

Day 0 is the day the clock starts; the n-th business day after it is the due date, and the
case is overdue only from the day after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from accommodation.domain.model import Accommodation, Status
from accommodation.domain.process import PENDING

ACKNOWLEDGE_DAYS = 5
DECIDE_DAYS = 15
DECIDE_DAYS_WITH_DOCUMENTATION = 20
_SATURDAY = 5


@dataclass(frozen=True)
class BusinessCalendar:
    holidays: frozenset[date] = frozenset()

    def is_business_day(self, day: date) -> bool:
        return day.weekday() < _SATURDAY and day not in self.holidays

    def add_business_days(self, start: date, n: int) -> date:
        """The n-th business day after `start` (`start` itself when n is 0)."""
        if n < 0:
            raise ValueError("n must not be negative")
        day = start
        while n:
            day += timedelta(days=1)
            if self.is_business_day(day):
                n -= 1
        return day

    def business_days_between(self, a: date, b: date) -> int:
        """Business days d with a < d <= b (negative when b is before a), so that
        `business_days_between(a, add_business_days(a, n)) == n`."""
        if b < a:
            return -self.business_days_between(b, a)
        weeks, extra = divmod((b - a).days, 7)
        count = weeks * 5 + sum(
            1 for i in range(1, extra + 1) if (a + timedelta(days=i)).weekday() < _SATURDAY)
        return count - sum(1 for h in self.holidays if a < h <= b and h.weekday() < _SATURDAY)

    def due_dates(self, submitted_on: date, documentation_requested: bool) -> tuple[date, date]:
        """(acknowledge by, decide by) for a clock that started on `submitted_on`."""
        decide = DECIDE_DAYS_WITH_DOCUMENTATION if documentation_requested else DECIDE_DAYS
        return (self.add_business_days(submitted_on, ACKNOWLEDGE_DAYS),
                self.add_business_days(submitted_on, decide))


def is_overdue(case: Accommodation, today: date,
               calendar: BusinessCalendar | None = None) -> bool:
    """Still submitted after the acknowledge due date, or still pending (submitted,
    in_review, info_requested) after the decision due date. The due dates stored on the
    case decide (the process moves them), so `calendar` is not needed; it is accepted so
    callers may pass the service's calendar. The SQL twin is the repository's
    `overdue_condition`."""
    del calendar
    unacknowledged = case.status is Status.SUBMITTED and today > case.acknowledge_due
    undecided = case.status in PENDING and today > case.decision_due
    return unacknowledged or undecided


def parse_holidays(text: str) -> frozenset[date]:
    """ISO dates separated by commas (or whitespace): "2026-12-25,2027-01-01"."""
    days = set()
    for item in text.replace(",", " ").split():
        try:
            days.add(date.fromisoformat(item))
        except ValueError:
            raise ValueError(f"not an ISO date (YYYY-MM-DD) in the holiday list: {item!r}") \
                from None
    return frozenset(days)
