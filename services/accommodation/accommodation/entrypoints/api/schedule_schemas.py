"""HTTP schemas of `POST /v1/schedule/conflicts`: strict input (unknown fields are refused),
separate output. Times are "HH:MM" (24-hour), weekdays `mon` to `sun`."""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import marshmallow as ma
from marshmallow import validate

from accommodation.domain.conflicts import MAX_TRAVEL_MINUTES, WEEKDAYS, Session

HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
MAX_WINDOWS = 50


class ClockTime(ma.fields.Time):
    """A time of day as exactly "HH:MM" (24-hour), in and out."""

    default_error_messages = {"invalid": "A time as HH:MM (24-hour), 00:00 to 23:59."}

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"pattern": HH_MM.pattern, "example": "18:00", **kwargs.pop("metadata", {})}
        super().__init__(format="%H:%M", metadata=metadata, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str) or not HH_MM.match(value):
            raise self.make_error("invalid")
        return time.fromisoformat(value)


WEEKDAY = validate.OneOf(WEEKDAYS, error="One of mon, tue, wed, thu, fri, sat, sun.")


class ShiftIn(ma.Schema):
    weekday = ma.fields.String(required=True, validate=WEEKDAY)
    start = ClockTime(required=True)
    end = ClockTime(required=True, metadata={
        "description": "At or before `start`: the shift ends the next day (equal: 24 hours)."})


class SessionIn(ma.Schema):
    weekday = ma.fields.String(required=True, validate=WEEKDAY)
    start = ClockTime(required=True)
    end = ClockTime(required=True, metadata={"description": "After `start`, the same day."})

    @ma.validates_schema
    def ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ma.ValidationError("A program window ends after it starts, the same day.",
                                     "end")


class ScheduleConflictsIn(ma.Schema):
    work_schedule = ma.fields.List(
        ma.fields.Nested(ShiftIn), required=True, validate=validate.Length(max=MAX_WINDOWS),
        metadata={"description": "The weekly work shifts."})
    program_schedule = ma.fields.List(
        ma.fields.Nested(SessionIn), required=True, validate=validate.Length(max=MAX_WINDOWS),
        metadata={"description": "The program's weekly sessions; they may not overlap."})
    travel_minutes = ma.fields.Integer(
        load_default=0, strict=True, validate=validate.Range(0, MAX_TRAVEL_MINUTES),
        metadata={"description": "Minutes from work to the program, and back."})

    @ma.validates_schema
    def sessions_do_not_overlap(self, data: dict[str, Any], **_: Any) -> None:
        sessions = [Session(**window) for window in data.get("program_schedule", [])]
        errors: dict[int, list[str]] = {}
        for later, session in enumerate(sessions):
            for earlier, other in enumerate(sessions[:later]):
                if session.begins < other.ends and other.begins < session.ends:
                    errors[later] = [f"Overlaps program window {earlier}."]
                    break
        if errors:
            raise ma.ValidationError(errors, "program_schedule")


class WindowOut(ma.Schema):
    weekday = ma.fields.String(required=True)
    start = ClockTime(required=True)
    end = ClockTime(required=True)


class ConflictOut(ma.Schema):
    shift = ma.fields.Nested(WindowOut, required=True)
    session = ma.fields.Nested(WindowOut, required=True)
    kind = ma.fields.String(required=True, metadata={
        "description": "`overlap`: the shift shares time with the session; `travel`: it "
                       "does not, but leaves too little time to travel there or back."})
    minutes_short = ma.fields.Integer(required=True, metadata={
        "description": "Minutes of the shift inside the session or its travel time."})


class ShiftChangeOut(ma.Schema):
    shift = ma.fields.Nested(WindowOut, required=True, metadata={"description": "As sent."})
    start_at = ClockTime(allow_none=True, required=True,
                         metadata={"description": "A later start, or null."})
    leave_at = ClockTime(allow_none=True, required=True,
                         metadata={"description": "An earlier end, or null."})
    off = ma.fields.Boolean(required=True, metadata={"description": "No part of it fits."})
    new_shift = ma.fields.Nested(WindowOut, allow_none=True, required=True,
                                 metadata={"description": "The shift after the change."})
    minutes_lost = ma.fields.Integer(required=True)


class SuggestionOut(ma.Schema):
    changes = ma.fields.List(ma.fields.Nested(ShiftChangeOut), required=True)
    minutes_lost_per_week = ma.fields.Integer(required=True)
    text = ma.fields.String(required=True, metadata={
        "example": "Leave at 17:15 on Mon, Wed and Thu."})


class ScheduleConflictsOut(ma.Schema):
    conflicts = ma.fields.List(ma.fields.Nested(ConflictOut), required=True)
    suggestion = ma.fields.Nested(SuggestionOut, required=True)
