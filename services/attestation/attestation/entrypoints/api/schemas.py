"""HTTP schemas of the HR API and the JWKS: strict input, separate output."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import validate

from attestation.domain.claims import CLAIM_SCOPES
from shared.web.pagination import PageArgsSchema, page_schema

REFERRAL_ID = validate.Regexp(r"^ref_[a-z2-7]{26}$", error="Not a referral id.")
MAX_REPORT_DAYS = 3 * 366


class AttestationListArgs(PageArgsSchema):
    employee_external_id = ma.fields.String(validate=validate.Length(1, 200))
    referral_id = ma.fields.String(validate=REFERRAL_ID)


class EmployeeOut(ma.Schema):
    external_id = ma.fields.String(allow_none=True, required=True)


class PeriodOut(ma.Schema):
    start = ma.fields.String(required=True, metadata={"format": "date"})
    end = ma.fields.String(required=True, metadata={"format": "date"})


class AttestationOut(ma.Schema):
    id = ma.fields.String(required=True)
    referral_id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf(["weekly", "final"]))
    employee = ma.fields.Nested(EmployeeOut, required=True)
    period = ma.fields.Nested(PeriodOut, required=True)
    claims = ma.fields.Dict(required=True, metadata={
        "description": "Only the claims the consent allows, from the closed set "
                       f"{', '.join(CLAIM_SCOPES)}."})
    issued_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    expires_at = ma.fields.String(required=True, metadata={"format": "date-time"})
    expired = ma.fields.Boolean(required=True, metadata={
        "description": "Past `expires_at`: still listed, no longer to be relied on."})
    notice = ma.fields.String(required=True, metadata={
        "description": "The redisclosure notice (42 CFR 2.32), the same on every one."})
    consent_id = ma.fields.String(required=True)
    further_information = ma.fields.String(
        validate=validate.OneOf(["authorised", "not_authorised"]),
        metadata={"description": "Whether the employee's consent still authorises new "
                                 "attestations for this referral (revoked or expired: not)."})
    jws = ma.fields.String(required=True, metadata={
        "description": "Compact JWS (Ed25519) of the claims with iss, sub, jti, iat, exp, "
                       "consent_id, period and notice; verify with /.well-known/jwks.json."})


AttestationPage = page_schema(AttestationOut, "AttestationPage")


class UtilizationArgs(ma.Schema):
    from_ = ma.fields.Date(required=True, data_key="from",
                           metadata={"description": "First day (referrals created on it)."})
    to = ma.fields.Date(required=True, metadata={"description": "Last day, included."})

    @ma.validates_schema
    def a_window(self, data: dict[str, Any], **_: Any) -> None:
        start, end = data.get("from_"), data.get("to")
        if start and end and end < start:
            raise ma.ValidationError("`to` is on or after `from`.", "to")
        if start and end and (end - start).days > MAX_REPORT_DAYS:
            raise ma.ValidationError("At most three years at a time.", "to")


class UtilizationOut(ma.Schema):
    from_ = ma.fields.String(required=True, data_key="from", metadata={"format": "date"})
    to = ma.fields.String(required=True, metadata={"format": "date"})
    min_cell = ma.fields.Integer(required=True, metadata={
        "description": "Counts from 1 to min_cell - 1 are suppressed (count null)."})
    by_kind = ma.fields.Dict(required=True)
    by_month = ma.fields.Dict(required=True)


class JwksOut(ma.Schema):
    keys = ma.fields.List(ma.fields.Dict(), required=True)
