"""The `attendance.reported` webhook's `data`: strict (an unknown field is refused, so a
provider's free-text note never reaches a table), at most 1,000 records per call."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from attestation.domain.model import AttendanceStatus

MAX_RECORDS = 1000
REFERRAL_ID = validate.Regexp(r"^ref_[a-z2-7]{26}$", error="Not a referral id.")
# The provider's own record id: an identifier, never a place for words.
RECORD_ID = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                            error="1 to 64 letters, digits, '_', '.', ':' or '-'.")


class AttendanceRecordIn(ma.Schema):
    id = ma.fields.String(required=True, validate=RECORD_ID, metadata={
        "description": "The provider's id of this session record; resending it changes "
                       "nothing, sending it with other values is a correction."})
    referral_id = ma.fields.String(required=True, validate=REFERRAL_ID)
    date = ma.fields.Date(required=True)
    status = ma.fields.String(required=True,
                              validate=validate.OneOf([s.value for s in AttendanceStatus]))


class AttendanceReportedData(ma.Schema):
    records = ma.fields.List(ma.fields.Nested(AttendanceRecordIn), required=True,
                             validate=validate.Length(1, MAX_RECORDS))


class AttendanceReportedWebhook(ma.Schema):
    """The whole body (documentation; `shared.webhooks` checks the envelope)."""

    type = ma.fields.String(required=True, validate=validate.OneOf(["attendance.reported"]))
    timestamp = ma.fields.DateTime(format="iso", required=True)
    data = ma.fields.Nested(AttendanceReportedData, required=True)


class RejectedRecordOut(ma.Schema):
    id = ma.fields.String(required=True)
    error = ma.fields.String(required=True)


class AttendanceResultOut(ma.Schema):
    accepted = ma.fields.Integer(required=True, metadata={"description": "New records."})
    unchanged = ma.fields.Integer(required=True, metadata={
        "description": "Records resent exactly as stored."})
    corrected = ma.fields.Integer(required=True, metadata={
        "description": "Known ids with new values: stored as a new version."})
    rejected = ma.fields.List(ma.fields.Nested(RejectedRecordOut), required=True)
