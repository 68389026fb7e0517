"""`/v1/referrals`: HR creates referrals and sees them only through `project_for_hr`."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from referral.domain.commands import CreateReferral
from referral.domain.model import Contact, Kind, Referral
from referral.domain.projections import HrRecord, project_for_hr
from referral.entrypoints.api.schemas import (
    CreateReferralIn,
    ReferralListArgs,
    ReferralOut,
    ReferralPage,
)
from referral.service_layer.handlers import ReferralServices
from shared.web.auth import requires_roles, tenant_id
from shared.web.idempotency import idempotent
from shared.web.problems import Problem
from shared.web.wire import iso, wire_json

blp = Blueprint("referrals", __name__, url_prefix="/v1/referrals",
                description="Referrals an employer makes, as HR may see them.")
# Instances, not classes: given a class, webargs builds (and deep-copies) a new schema
# for every request.
CREATE_REFERRAL_IN = CreateReferralIn()
REFERRAL_LIST_ARGS = ReferralListArgs()


def services() -> ReferralServices:
    return current_app.extensions["bridgeline"].domain  # type: ignore[no-any-return]


def hr_view(referral: Referral | HrRecord, link_url: str | None = None) -> dict[str, Any]:
    """HR's view of a referral in ReferralOut's wire form (the views return it with
    `wire_json`; tests hold it to the schema)."""
    view = project_for_hr(referral, services().clock())
    if view is None:  # a self-referral: never shown to an employer
        raise Problem(404, "Not Found", detail="No such referral.")
    link: dict[str, Any] = {"expires_at": iso(view.link_expires_at)}
    if link_url:
        link["url"] = link_url
    return {
        "id": view.id, "kind": view.kind.value, "status": view.status,
        "employee": {"external_id": view.external_id}, "provider_id": view.provider_id,
        "purpose": view.purpose, "link": link, "created_at": iso(view.created_at),
        "consent": {"status": view.consent.status, "scopes": list(view.consent.scopes),
                    "expires_at": iso(view.consent.expires_at)},
    }


@blp.route("")
class Referrals(MethodView):
    @requires_roles("hr")
    @idempotent
    @blp.arguments(CREATE_REFERRAL_IN)
    @blp.response(201, ReferralOut)
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY")
    def post(self, body: dict[str, Any]) -> Response:
        """Refer an employee to a provider; the response holds the link, once"""
        employee = body["employee"]
        referral, token = services().create_referral(CreateReferral(
            employer_id=tenant_id(), provider_id=body["provider_id"], kind=Kind(body["kind"]),
            external_id=employee["external_id"],
            contact=Contact(employee["name"], employee["email"], employee.get("phone")),
            purpose=body.get("purpose"), link_ttl_days=body["link_ttl_days"]))
        base = current_app.extensions["bridgeline"].settings.public_base_url.rstrip("/")
        return wire_json(hr_view(referral, f"{base}/r/{token}"), 201)

    @requires_roles("hr")
    @blp.arguments(REFERRAL_LIST_ARGS, location="query")
    @blp.response(200, ReferralPage)
    def get(self, args: dict[str, Any]) -> Response:
        """List the employer's referrals, newest first"""
        items, next_cursor = services().list_for_hr(
            tenant_id(), external_id=args.get("employee_external_id"),
            status=args.get("status"), limit=args["limit"], cursor=args["cursor"])
        return wire_json({"data": [hr_view(r) for r in items], "next_cursor": next_cursor})


@blp.route("/<string:referral_id>")
class ReferralById(MethodView):
    @requires_roles("hr")
    @blp.response(200, ReferralOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, referral_id: str) -> Response:
        """One referral, as HR may see it"""
        return wire_json(hr_view(services().hr_record(tenant_id(), referral_id)))
