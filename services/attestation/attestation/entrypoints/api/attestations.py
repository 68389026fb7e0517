"""`/v1/attestations`: what HR receives, only what the employee's consent allows. Every
attestation a client is shown is a disclosure, recorded the first time that client sees
it (audit log and `disclosure.recorded`)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from attestation.entrypoints.api.schemas import (
    AttestationListArgs,
    AttestationOut,
    AttestationPage,
)
from attestation.service_layer.handlers import AttestationServices
from shared.web.auth import current_principal, requires_roles, tenant_id

blp = Blueprint("attestations", __name__, url_prefix="/v1/attestations",
                description="Signed, consent-filtered attestations of an employer's referrals.")


def services() -> AttestationServices:
    return current_app.extensions["bridgeline"].domain


@blp.route("")
class Attestations(MethodView):
    @requires_roles("hr")
    @blp.arguments(AttestationListArgs, location="query")
    @blp.response(200, AttestationPage)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the employer's attestations, newest first"""
        items, next_cursor = services().list_for_hr(
            tenant_id(), current_principal().client_id,
            external_id=args.get("employee_external_id"), referral_id=args.get("referral_id"),
            limit=args["limit"], cursor=args["cursor"])
        return {"data": items, "next_cursor": next_cursor}


@blp.route("/<string:attestation_id>")
class AttestationById(MethodView):
    @requires_roles("hr")
    @blp.response(200, AttestationOut)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self, attestation_id: str) -> dict[str, Any]:
        """One attestation"""
        return services().get_for_hr(tenant_id(), current_principal().client_id,
                                     attestation_id)
