"""HTTP schemas of the accommodation API: strict input (unknown fields are refused),
separate output. Weekly windows are "HH:MM" times on `mon`..`sun`."""

from __future__ import annotations

import itertools
from typing import Any

import marshmallow as ma
from marshmallow import validate

from accommodation.domain.model import AccommodationType, Action, Status
from accommodation.entrypoints.api.schedule_schemas import SessionIn
from shared.web.errors import ProblemSchema
from shared.web.pagination import PageArgsSchema, page_schema
from shared.weekly import WEEKDAYS

TEXT_LIMIT = 5000


class WindowIn(SessionIn):
    """A weekly window the employee is unavailable for work: same day, end after start."""


def no_overlaps(windows: list[dict[str, Any]]) -> None:
    spans = sorted((WEEKDAYS.index(w["weekday"]), w["start"], w["end"]) for w in windows)
    for (d1, _, e1), (d2, s2, _) in itertools.pairwise(spans):
        if d1 == d2 and s2 < e1:
            raise ma.ValidationError("Windows on the same day must not overlap.")


class ArrangementIn(ma.Schema):
    schedule = ma.fields.List(ma.fields.Nested(WindowIn), required=True,
                              validate=[validate.Length(0, 21), no_overlaps])
    start_date = ma.fields.Date(required=True)
    end_date = ma.fields.Date(load_default=None, allow_none=True)
    hours_per_week = ma.fields.Float(load_default=None, allow_none=True,
                                     validate=validate.Range(0, 80))

    @ma.validates_schema
    def ends_after_start(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("end_date") and data["end_date"] < data["start_date"]:
            raise ma.ValidationError("The end date is before the start date.", "end_date")


class EmployeeRef(ma.Schema):
    external_id = ma.fields.String(required=True, validate=validate.Length(1, 200))


class CreateAccommodationIn(ma.Schema):
    employee = ma.fields.Nested(EmployeeRef, required=True)
    type = ma.fields.String(required=True,
                            validate=validate.OneOf([t.value for t in AccommodationType]))
    requested = ma.fields.Nested(ArrangementIn, required=True)
    functional_limitations = ma.fields.String(validate=validate.Length(1, TEXT_LIMIT))
    medical_documentation = ma.fields.String(validate=validate.Length(1, TEXT_LIMIT))
    referral_id = ma.fields.String(validate=validate.Regexp(r"^ref_[a-z2-7]{26}$"))


class ActionIn(ma.Schema):
    action = ma.fields.String(required=True, validate=validate.OneOf([a.value for a in Action]))
    note = ma.fields.String(validate=validate.Length(1, 2000))
    reason = ma.fields.String(validate=validate.Length(1, 2000))
    granted = ma.fields.Nested(ArrangementIn)


class LinkIn(ma.Schema):
    employee = ma.fields.Nested(EmployeeRef, required=True)
    referral_id = ma.fields.String(validate=validate.Regexp(r"^ref_[a-z2-7]{26}$"))
    ttl_days = ma.fields.Integer(load_default=30, validate=validate.Range(1, 90), strict=True)


class LinkOut(ma.Schema):
    url = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(format="iso", required=True)


class ListArgs(PageArgsSchema):
    employee_external_id = ma.fields.String(validate=validate.Length(1, 200))
    status = ma.fields.String(validate=validate.OneOf(
        [s.value for s in Status] + ["pending", "approved", "implemented", "closed"]),
        metadata={"description": "A manager filters by the coarse statuses only."})
    overdue = ma.fields.Boolean()


class ArrangementWindowOut(ma.Schema):
    weekday = ma.fields.String(required=True)
    start = ma.fields.String(required=True)
    end = ma.fields.String(required=True)


class ArrangementOut(ma.Schema):
    schedule = ma.fields.List(ma.fields.Nested(ArrangementWindowOut), required=True)
    start_date = ma.fields.Date(required=True)
    end_date = ma.fields.Date(allow_none=True)
    hours_per_week = ma.fields.Float(allow_none=True)


class ImpactOut(ma.Schema):
    weekday = ma.fields.String(required=True)
    unavailable_from = ma.fields.String(required=True)
    unavailable_to = ma.fields.String(required=True)


class EffectiveOut(ma.Schema):
    start = ma.fields.Date(required=True)
    end = ma.fields.Date(allow_none=True)


class DecisionOut(ma.Schema):
    granted = ma.fields.Nested(ArrangementOut, allow_none=True)
    denial_reason = ma.fields.String(allow_none=True)


class HistoryOut(ma.Schema):
    action = ma.fields.String(required=True)
    from_ = ma.fields.String(data_key="from", attribute="from", required=True)
    to = ma.fields.String(required=True)
    actor = ma.fields.String(required=True)
    at = ma.fields.DateTime(format="iso", required=True)
    note = ma.fields.String(allow_none=True, metadata={"description": "specialist only"})


class AccommodationOut(ma.Schema):
    """A case as the caller's role may see it. A manager gets only `id`, a coarse
    `status` (pending | approved | implemented | closed), `schedule_impact` and
    `effective`; HR everything but the clinical fields and the notes; a specialist
    everything (each such read is audited). Lists never carry clinical fields or history."""

    id = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    schedule_impact = ma.fields.List(ma.fields.Nested(ImpactOut), required=True)
    effective = ma.fields.Nested(EffectiveOut, allow_none=True, required=True)
    employee = ma.fields.Nested(EmployeeRef)
    type = ma.fields.String()
    requested = ma.fields.Nested(ArrangementOut)
    interim = ma.fields.Nested(ArrangementOut, allow_none=True)
    decision = ma.fields.Nested(DecisionOut)
    referral_id = ma.fields.String(allow_none=True)
    submitted_at = ma.fields.DateTime(format="iso")
    submitted_by = ma.fields.String()
    acknowledge_due = ma.fields.Date()
    decision_due = ma.fields.Date()
    acknowledged_at = ma.fields.DateTime(format="iso", allow_none=True)
    decided_at = ma.fields.DateTime(format="iso", allow_none=True)
    documentation_requested = ma.fields.Boolean()
    reconsidered = ma.fields.Boolean()
    overdue = ma.fields.Boolean()
    allowed_actions = ma.fields.List(ma.fields.String())
    history = ma.fields.List(ma.fields.Nested(HistoryOut))
    functional_limitations = ma.fields.String(allow_none=True,
                                              metadata={"description": "specialist only"})
    medical_documentation = ma.fields.String(allow_none=True,
                                             metadata={"description": "specialist only"})


AccommodationPage = page_schema(AccommodationOut, "AccommodationPage")




class ActionNotAllowedProblem(ProblemSchema):
    """409 problem+json when an action is not possible in the case's current status."""

    allowed_actions = ma.fields.List(ma.fields.String(validate=validate.OneOf(
        [a.value for a in Action])), required=True, metadata={
            "description": "The actions the caller's role may take now (may be empty)."})
