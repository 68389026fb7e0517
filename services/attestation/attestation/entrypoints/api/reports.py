"""`/v1/reports/utilization`: aggregate counts, small cells suppressed (see
`attestation.domain.reports`)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from attestation.entrypoints.api.schemas import UtilizationArgs, UtilizationOut
from attestation.service_layer.handlers import AttestationServices
from shared.web.auth import requires_roles, tenant_id

blp = Blueprint("reports", __name__, url_prefix="/v1/reports",
                description="Utilization of the employer's referrals, never below 10.")


def services() -> AttestationServices:
    return current_app.extensions["bridgeline"].domain


@blp.route("/utilization")
class Utilization(MethodView):
    @requires_roles("hr")
    @blp.arguments(UtilizationArgs, location="query")
    @blp.response(200, UtilizationOut)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """Referrals by kind and outcome, and by month, with small-cell suppression"""
        report = services().utilization(tenant_id(), args["from_"], args["to"])
        return {"from_": args["from_"].isoformat(), "to": args["to"].isoformat(), **report}
