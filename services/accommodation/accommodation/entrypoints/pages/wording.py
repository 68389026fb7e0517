"""The plain words the accommodation pages use for types, weekdays, dates and statuses."""

from __future__ import annotations

from datetime import date

from accommodation.domain.model import AccommodationType, Status

TYPE_WORDS: dict[AccommodationType, tuple[str, str]] = {
    AccommodationType.SCHEDULE_CHANGE: (
        "A change to my work schedule", "Different hours or days, so you are free at set times."),
    AccommodationType.REDUCED_HOURS: (
        "Fewer working hours", "Working fewer hours each week for a while."),
    AccommodationType.REMOTE_WORK: (
        "Working from home", "Doing some or all of your work from home."),
    AccommodationType.INTERMITTENT_LEAVE: (
        "Time off now and then", "For appointments, or on days when you need it."),
    AccommodationType.LEAVE_OF_ABSENCE: (
        "Time away from work", "A continuous period off work, with a return date if you "
                               "know it."),
    AccommodationType.OTHER: (
        "Something else", "Describe what would help in the box about your work below."),
}

WEEKDAY_WORDS = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday",
                 "fri": "Friday", "sat": "Saturday", "sun": "Sunday"}

STATUS_WORDS: dict[Status, str] = {
    Status.SUBMITTED: "Sent. It is waiting for the accommodation specialist to review it.",
}


def long_date(value: date | None) -> str:
    return "" if value is None else f"{value:%A} {value.day} {value:%B %Y}"


def status_words(status: Status) -> str:
    return STATUS_WORDS.get(status, status.value.replace("_", " ").capitalize() + ".")
