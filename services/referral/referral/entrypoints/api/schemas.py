"""HTTP schemas of the HR API: strict input (unknown fields are refused), separate output."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from referral.domain.model import Kind
from referral.domain.projections import HR_STATUSES
from shared.web.pagination import PageArgsSchema, page_schema

PROVIDER_ID = validate.Regexp(r"^prv_[a-z2-7]{26}$", error="Not a provider id.")
PHONE = validate.Regexp(r"^\+?[0-9][0-9 ()./-]{4,29}$", error="Not a phone number.")


class EmployeeIn(ma.Schema):
    external_id = ma.fields.String(required=True, validate=[
        validate.Length(1, 200), validate.Regexp(r"\S", error="An id cannot be blank.")])
    name = ma.fields.String(required=True, validate=[
        validate.Length(1, 200), validate.Regexp(r"\S", error="A name cannot be blank.")])
    email = ma.fields.Email(required=True, validate=validate.Length(3, 254))
    phone = ma.fields.String(validate=PHONE)


class CreateReferralIn(ma.Schema):
    employee = ma.fields.Nested(EmployeeIn, required=True)
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in Kind]))
    provider_id = ma.fields.String(required=True, validate=PROVIDER_ID)
    purpose = ma.fields.String(validate=validate.Length(1, 500))
    link_ttl_days = ma.fields.Integer(load_default=14, validate=validate.Range(1, 30),
                                      strict=True)


class EmployeeOut(ma.Schema):
    external_id = ma.fields.String(allow_none=True)


class LinkOut(ma.Schema):
    url = ma.fields.String(metadata={"description": "Only in the response that created it."})
    expires_at = ma.fields.DateTime(format="iso", required=True)


class ConsentOut(ma.Schema):
    status = ma.fields.String(required=True, validate=validate.OneOf(
        ["none", "granted", "revoked", "expired"]))
    scopes = ma.fields.List(ma.fields.String(), required=True)
    expires_at = ma.fields.Date(allow_none=True, required=True)


class ReferralOut(ma.Schema):
    id = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(HR_STATUSES))
    employee = ma.fields.Nested(EmployeeOut, required=True)
    provider_id = ma.fields.String(required=True)
    purpose = ma.fields.String(allow_none=True)
    link = ma.fields.Nested(LinkOut, required=True)
    consent = ma.fields.Nested(ConsentOut, required=True)
    created_at = ma.fields.DateTime(format="iso", required=True)


class ReferralListArgs(PageArgsSchema):
    employee_external_id = ma.fields.String(validate=validate.Length(1, 200))
    status = ma.fields.String(validate=validate.OneOf(HR_STATUSES))


ReferralPage = page_schema(ReferralOut, "ReferralPage")
