"""The employee's request form, read and checked at the edge: the kind of change, the
weekly windows they cannot work (rows of day, from and to), the dates, the weekly hours
and how their condition affects their work. `read` returns the values to show again and
the messages per field (keyed by the id of the input they belong to), worded for the
employee, so a bad post re-renders the form (422) instead of failing."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from datetime import date, time

from werkzeug.datastructures import MultiDict

from accommodation.domain.model import AccommodationType, Arrangement
from accommodation.entrypoints.pages.wording import WEEKDAY_WORDS
from shared.weekly import WEEKDAYS, Window

MAX_ROWS = 21
TEXT_LIMIT = 5000
MAX_HOURS = 80
TYPES = tuple(t.value for t in AccommodationType)
TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
HOURS = re.compile(r"^[0-9]{1,3}([.,][0-9]{1,2})?$")
DATE_MESSAGE = "Enter the date as year-month-day, for example 2027-03-31."

Errors = dict[str, list[str]]


@dataclass
class WindowRow:
    """One row of the form as typed: a weekday and "HH:MM" times, possibly empty."""

    weekday: str = ""
    start: str = ""
    end: str = ""

    def is_empty(self) -> bool:
        return not (self.weekday or self.start or self.end)


@dataclass
class RequestForm:
    type: str = ""
    windows: list[WindowRow] = field(default_factory=lambda: [WindowRow()])
    start_date: str = ""
    end_date: str = ""
    hours_per_week: str = ""
    functional_limitations: str = ""

    def complete_windows(self) -> list[Window]:
        """The rows that make a valid window (what the manager would see, so far)."""
        return [w for w in (_window(row) for row in self.windows) if w is not None]

    def arrangement(self) -> Arrangement:
        """The request; call only when `read` found no errors."""
        return Arrangement(
            schedule=tuple(self.complete_windows()), start_date=date.fromisoformat(
                self.start_date),
            end_date=date.fromisoformat(self.end_date) if self.end_date else None,
            hours_per_week=_hours(self.hours_per_week))


def from_suggestion(suggestion: Arrangement | None) -> RequestForm:
    """The form as first shown: empty, or filled in with the program's suggestion."""
    if suggestion is None:
        return RequestForm()
    return RequestForm(
        type=AccommodationType.SCHEDULE_CHANGE.value,
        windows=[WindowRow(w.weekday, f"{w.start:%H:%M}", f"{w.end:%H:%M}")
                 for w in suggestion.schedule[:MAX_ROWS]] or [WindowRow()],
        start_date=suggestion.start_date.isoformat(),
        end_date=suggestion.end_date.isoformat() if suggestion.end_date else "",
        hours_per_week="" if suggestion.hours_per_week is None
        else f"{suggestion.hours_per_week:g}")


def read(form: MultiDict[str, str], *, adding_row: bool = False) -> tuple[RequestForm, Errors]:
    """The posted form; with `adding_row`, one more empty row and no checks yet."""
    rows = _row_count(form.get("rows", ""))
    values = RequestForm(
        type=form.get("type", "").strip(),
        windows=[WindowRow(*(form.get(f"windows-{i}-{part}", "").strip()[:10]
                             for part in ("weekday", "start", "end"))) for i in range(rows)],
        start_date=form.get("start_date", "").strip()[:10],
        end_date=form.get("end_date", "").strip()[:10],
        hours_per_week=form.get("hours_per_week", "").strip()[:10],
        functional_limitations=form.get("functional_limitations", "").replace(
            "\r\n", "\n").strip())
    if adding_row:
        if len(values.windows) < MAX_ROWS:
            values.windows.append(WindowRow())
        return values, {}
    errors: Errors = {}
    if values.type not in TYPES:
        errors["type"] = ["Choose the kind of change you need."]
    _check_windows(values, errors)
    _check_dates(values, errors)
    if values.hours_per_week and _hours(values.hours_per_week) is None:
        errors["hours_per_week"] = [
            f"Enter a number of hours from 0 to {MAX_HOURS}, like 32 or 32.5, or leave it empty."]
    if len(values.functional_limitations) > TEXT_LIMIT:
        errors["functional_limitations"] = [
            f"Use at most {TEXT_LIMIT} characters: this has "
            f"{len(values.functional_limitations)}. Keep what matters most for your work."]
    return values, errors


def labels(values: RequestForm) -> dict[str, str]:
    """What the error summary calls each field."""
    named = {"type": "Kind of change", "windows": "Times you cannot work",
             "start_date": "Start date", "end_date": "End date",
             "hours_per_week": "Hours per week",
             "functional_limitations": "How your condition affects your work"}
    for i in range(len(values.windows)):
        for part, word in (("weekday", "day"), ("start", "from"), ("end", "to")):
            named[f"windows-{i}-{part}"] = f"Time {i + 1}, {word}"
    return named


def _check_windows(values: RequestForm, errors: Errors) -> None:
    for i, row in enumerate(values.windows):
        if row.is_empty():
            continue
        if row.weekday not in WEEKDAYS:
            errors[f"windows-{i}-weekday"] = ["Choose a day of the week."]
        for part in ("start", "end"):
            if not TIME.match(getattr(row, part)):
                errors[f"windows-{i}-{part}"] = [
                    "Enter the time as hours and minutes, for example 17:15."]
        if (f"windows-{i}-start" not in errors and f"windows-{i}-end" not in errors
                and row.end <= row.start):
            errors[f"windows-{i}-end"] = [
                "The end time must be after the start time. For a time that goes past "
                "midnight, use two rows: one until 23:59, and one from 00:00 the next day."]
    numbered = sorted(((WEEKDAYS.index(w.weekday), w.start, w.end, i)
                       for i, row in enumerate(values.windows)
                       if (w := _window(row)) is not None))
    for (d1, s1, e1, _), (d2, s2, _, i2) in itertools.pairwise(numbered):
        if d1 == d2 and s2 < e1 and f"windows-{i2}-start" not in errors:
            errors[f"windows-{i2}-start"] = [
                f"This overlaps another time on {WEEKDAY_WORDS[WEEKDAYS[d1]]} "
                f"({s1:%H:%M} to {e1:%H:%M}). Put them together in one row."]
    if (values.type == AccommodationType.SCHEDULE_CHANGE.value
            and all(row.is_empty() for row in values.windows)):
        errors["windows"] = ["Enter at least one day and time you cannot work, or choose "
                             "another kind of change."]


def _check_dates(values: RequestForm, errors: Errors) -> None:
    start = parse_date(values.start_date)
    end = parse_date(values.end_date)
    if not values.start_date:
        errors["start_date"] = ["Enter the date the change should start."]
    elif start is None:
        errors["start_date"] = [DATE_MESSAGE]
    if values.end_date and end is None:
        errors["end_date"] = [DATE_MESSAGE]
    elif start and end and end < start:
        errors["end_date"] = ["The end date must be on or after the start date."]


def _window(row: WindowRow) -> Window | None:
    if row.weekday not in WEEKDAYS or not (TIME.match(row.start) and TIME.match(row.end)):
        return None
    start, end = time.fromisoformat(row.start), time.fromisoformat(row.end)
    return Window(row.weekday, start, end) if end > start else None


def parse_date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def _hours(text: str) -> float | None:
    if not HOURS.match(text):
        return None
    hours = float(text.replace(",", "."))
    return hours if 0 <= hours <= MAX_HOURS else None


def _row_count(text: str) -> int:
    return max(1, min(MAX_ROWS, int(text))) if text.isdigit() and len(text) <= 3 else 1
