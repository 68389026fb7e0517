"""HTTP schemas of the provider webhooks: the `data` of each update type, strict (an
unknown field is refused, so free-text clinical notes never reach a table).

The envelope (`type`, `timestamp`, `data`) is checked by `shared.webhooks` together with
the signature; these schemas check `data` once the type is known. The `*Webhook`
schemas exist to document the whole body in OpenAPI.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import marshmallow as ma
from marshmallow import validate

from shared.weekly import WEEKDAYS

REFERRAL_ID = validate.Regexp(r"^ref_[a-z2-7]{26}$", error="Not a referral id.")
HH_MM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
MAX_WINDOWS = 21  # three a day, every day: more than any weekly program needs


class ClockTime(ma.fields.Time):
    """A time of day as exactly "HH:MM" (24-hour), loaded as a `datetime.time`."""

    default_error_messages = {"invalid": "A time as HH:MM (24-hour)."}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"pattern": HH_MM.pattern, "example": "18:00"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> time:
        if not isinstance(value, str) or not HH_MM.match(value):
            raise self.make_error("invalid")
        return time.fromisoformat(value)


class WindowIn(ma.Schema):
    weekday = ma.fields.String(required=True, validate=validate.OneOf(WEEKDAYS))
    start = ClockTime(required=True)
    end = ClockTime(required=True)

    @ma.validates_schema
    def ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ma.ValidationError("A window ends after it starts.", "end")


class IntakeScheduledData(ma.Schema):
    referral_id = ma.fields.String(required=True, validate=REFERRAL_ID)
    date = ma.fields.Date(required=True, metadata={"description": "The intake appointment."})


class EnrollmentStartedData(ma.Schema):
    referral_id = ma.fields.String(required=True, validate=REFERRAL_ID)
    schedule = ma.fields.List(ma.fields.Nested(WindowIn), required=True,
                              validate=validate.Length(1, MAX_WINDOWS),
                              metadata={"description": "The program's weekly windows."})
    start_date = ma.fields.Date(required=True)
    expected_end_date = ma.fields.Date(required=True)
    level_of_care = ma.fields.String(
        required=True, validate=validate.Length(1, 100),
        metadata={"description": "Clinical: stored encrypted, never shown to the employer."})

    @ma.validates_schema
    def ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("start_date"), data.get("expected_end_date")
        if start and end and end < start:
            raise ma.ValidationError("The expected end is on or after the start date.",
                                     "expected_end_date")


class EnrollmentCompletedData(ma.Schema):
    referral_id = ma.fields.String(required=True, validate=REFERRAL_ID)
    date = ma.fields.Date(required=True, metadata={"description": "The day the program ended."})
    return_to_work_date = ma.fields.Date(allow_none=True)


class EnrollmentDiscontinuedData(ma.Schema):
    referral_id = ma.fields.String(required=True, validate=REFERRAL_ID)
    date = ma.fields.Date(required=True, metadata={"description": "The day the program ended."})


DATA_SCHEMAS: dict[str, type[ma.Schema]] = {
    "intake.scheduled": IntakeScheduledData,
    "enrollment.started": EnrollmentStartedData,
    "enrollment.completed": EnrollmentCompletedData,
    "enrollment.discontinued": EnrollmentDiscontinuedData,
}


# -- documentation only: the whole body of each type --------------------------------------
def _envelope(event_type: str, data_schema: type[ma.Schema]) -> type[ma.Schema]:
    name = "".join(part.title() for part in re.split(r"[._]", event_type)) + "Webhook"
    fields = {
        "type": ma.fields.String(required=True, validate=validate.OneOf([event_type])),
        "timestamp": ma.fields.DateTime(format="iso", required=True,
                                        metadata={"description": "When it happened (RFC 3339)."}),
        "data": ma.fields.Nested(data_schema, required=True),
    }
    return type(name, (ma.Schema,), fields)


WEBHOOK_BODIES = [_envelope(event_type, schema) for event_type, schema in DATA_SCHEMAS.items()]
