"""Where a weekly work schedule collides with a treatment program, and the smallest fix.

Everything happens on one minute-of-week timeline (Mon 00:00 is 0, Sun 23:59 is 10079,
and it wraps from Sunday back to Monday), so overnight shifts and the week wrap need no
special cases.

The rules, kept simple enough to explain to an employee and a manager:

- **Travel.** Each session blocks the time from `start - travel` to `end + travel`: the
  employee must be able to leave work `travel` minutes before the session starts and
  cannot be back at work until `travel` minutes after it ends. The same buffer is the
  minimum rest after a session; there is no separate rest rule.
- **Conflict.** A shift conflicts with a session when it shares at least one minute with
  the blocked time. The kind is `overlap` when the shift shares time with the session
  itself, else `travel` (no overlap, but not enough time to get there or back).
  `minutes_short` is how many minutes of the shift fall in the blocked time.
- **Smallest change.** For a conflicting shift, keep the longest stretch of it that is
  clear of every blocked time: an earlier end (`leave_at`), a later start (`start_at`),
  or both when blocked time cuts into each end. A split shift (work, leave, come back)
  is never suggested: it means two commutes and is rarely workable. Ties go to the
  change touching fewer ends, then to the earlier stretch (so leaving early wins over
  starting late). When no minute of the shift is clear, the shift is taken off.
- Adjusting a shift only ever shortens it, so applying the suggestion removes every
  conflict and never adds work time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import time
from enum import StrEnum

from shared.weekly import WEEKDAYS

DAY = 24 * 60
WEEK = 7 * DAY
MAX_TRAVEL_MINUTES = 240


def _minute_of_day(value: time) -> int:
    if value.second or value.microsecond:
        raise ValueError("Schedule times are whole minutes.")
    return value.hour * 60 + value.minute


def _clock(minute_of_week: int) -> time:
    minute = minute_of_week % DAY
    return time(minute // 60, minute % 60)


def _weekday(minute_of_week: int) -> str:
    return WEEKDAYS[(minute_of_week // DAY) % 7]


@dataclass(frozen=True)
class Shift:
    """A weekly work shift; `end <= start` means it ends the next day (24 h when equal)."""

    weekday: str
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.weekday not in WEEKDAYS:
            raise ValueError(f"Unknown weekday {self.weekday!r}.")
        for value in (self.start, self.end):
            _minute_of_day(value)

    @property
    def begins(self) -> int:
        """Minute of the week the shift starts."""
        return WEEKDAYS.index(self.weekday) * DAY + _minute_of_day(self.start)

    @property
    def minutes(self) -> int:
        return (_minute_of_day(self.end) - _minute_of_day(self.start)) % DAY or DAY


@dataclass(frozen=True)
class Session:
    """A weekly program session, within one day."""

    weekday: str
    start: time
    end: time

    def __post_init__(self) -> None:
        if self.weekday not in WEEKDAYS:
            raise ValueError(f"Unknown weekday {self.weekday!r}.")
        if _minute_of_day(self.end) <= _minute_of_day(self.start):
            raise ValueError("A session ends after it starts, on the same day.")

    @property
    def begins(self) -> int:
        return WEEKDAYS.index(self.weekday) * DAY + _minute_of_day(self.start)

    @property
    def ends(self) -> int:
        return WEEKDAYS.index(self.weekday) * DAY + _minute_of_day(self.end)


class ConflictKind(StrEnum):
    OVERLAP = "overlap"  # the shift shares time with the session itself
    TRAVEL = "travel"  # no overlap, but not enough time to get there or back


@dataclass(frozen=True)
class Conflict:
    shift: Shift
    session: Session
    kind: ConflictKind
    minutes_short: int


@dataclass(frozen=True)
class ShiftChange:
    """One shift's change: a later start, an earlier end, both, or the shift off."""

    shift: Shift
    start_at: time | None
    leave_at: time | None
    new_shift: Shift | None  # None: the shift is off
    minutes_lost: int

    @property
    def off(self) -> bool:
        return self.new_shift is None


@dataclass(frozen=True)
class Suggestion:
    changes: list[ShiftChange]
    minutes_lost_per_week: int
    text: str


@dataclass(frozen=True)
class ConflictReport:
    conflicts: list[Conflict]
    suggestion: Suggestion


def find_conflicts(work: Iterable[Shift], program: Iterable[Session],
                   travel_minutes: int = 0) -> ConflictReport:
    """Every conflict, ordered by shift (weekday, then time) and then by when the session's
    blocked time falls in the shift, and the smallest change that resolves them all."""
    if not 0 <= travel_minutes <= MAX_TRAVEL_MINUTES:
        raise ValueError(f"Travel is 0 to {MAX_TRAVEL_MINUTES} minutes.")
    sessions = sorted(program, key=lambda s: (s.begins, s.ends))
    conflicts: list[Conflict] = []
    changes: list[ShiftChange] = []
    for shift in sorted(work, key=lambda s: (s.begins, s.minutes)):
        spans = []
        for session in sessions:
            span = _within(shift, session.begins - travel_minutes, session.ends + travel_minutes)
            if span is not None:
                spans.append((span, session))
        spans.sort(key=lambda hit: hit[0])
        for (lo, hi), session in spans:
            kind = (ConflictKind.OVERLAP if _within(shift, session.begins, session.ends)
                    else ConflictKind.TRAVEL)
            conflicts.append(Conflict(shift, session, kind, hi - lo))
        if spans:
            changes.append(_smallest_change(shift, [span for span, _ in spans]))
    lost = sum(change.minutes_lost for change in changes)
    return ConflictReport(conflicts, Suggestion(changes, lost, describe(changes)))


def _within(shift: Shift, begins: int, ends: int) -> tuple[int, int] | None:
    """The part of `[begins, ends)` (minutes of the week) inside the shift, in minutes
    from the shift's start; None when they do not meet. A shift and a blocked time are
    both far shorter than a week, so at most one weekly copy of the blocked time meets it."""
    for wrap in (-WEEK, 0, WEEK):
        lo = max(0, begins + wrap - shift.begins)
        hi = min(shift.minutes, ends + wrap - shift.begins)
        if lo < hi:
            return lo, hi
    return None


def _smallest_change(shift: Shift, spans: list[tuple[int, int]]) -> ShiftChange:
    """Keep the longest clear stretch of the shift (see the module docstring)."""
    length = shift.minutes
    clear, cursor = [], 0
    for lo, hi in sorted(spans):
        if lo > cursor:
            clear.append((cursor, lo))
        cursor = max(cursor, hi)
    if cursor < length:
        clear.append((cursor, length))
    if not clear:
        return ShiftChange(shift, None, None, None, length)
    keep_from, keep_to = min(clear, key=lambda s: (s[0] - s[1], (s[0] > 0) + (s[1] < length),
                                                     s[0]))
    begins, ends = shift.begins + keep_from, shift.begins + keep_to
    new_shift = Shift(_weekday(begins), _clock(begins), _clock(ends))
    return ShiftChange(shift, start_at=_clock(begins) if keep_from > 0 else None,
                       leave_at=_clock(ends) if keep_to < length else None,
                       new_shift=new_shift, minutes_lost=length - (keep_to - keep_from))


def describe(changes: list[ShiftChange]) -> str:
    """One sentence per distinct change, naming the weekdays it applies to, e.g.
    "Leave at 17:15 on Mon, Wed and Thu." Weekdays are those the change happens on."""
    if not changes:
        return "No change needed."
    days: dict[str, list[str]] = {}
    for change in changes:
        sentence, weekday = _phrase(change)
        listed = days.setdefault(sentence, [])
        if weekday not in listed:
            listed.append(weekday)
    return " ".join(f"{sentence} on {_join(weekdays)}." for sentence, weekdays in days.items())


def _phrase(change: ShiftChange) -> tuple[str, str]:
    shift, new = change.shift, change.new_shift
    if new is None:
        return f"Take the {_hh_mm(shift.start)}-{_hh_mm(shift.end)} shift off", shift.weekday
    if change.start_at is not None and change.leave_at is not None:
        return (f"Start at {_hh_mm(change.start_at)} and leave at {_hh_mm(change.leave_at)}",
                new.weekday)
    if change.start_at is not None:
        return f"Start at {_hh_mm(change.start_at)}", new.weekday
    assert change.leave_at is not None
    return f"Leave at {_hh_mm(change.leave_at)}", _weekday(new.begins + new.minutes)


def _hh_mm(value: time) -> str:
    return value.strftime("%H:%M")


def _join(weekdays: list[str]) -> str:
    names = [day.capitalize() for day in weekdays]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
