"""`POST /v1/webhooks/providers/{provider_id}/attendance`: attendance from providers.

As for the referral service's provider webhooks, the Standard Webhooks signature made
with the provider's secret is the authentication, verified over the raw body before
anything in it is read. An unknown provider, one without an endpoint and a wrong
signature all get the same 401. A resent `webhook-id` answers what the first delivery
was answered, and changes nothing.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from attestation.entrypoints.api.attendance_schemas import (
    AttendanceReportedData,
    AttendanceReportedWebhook,
    AttendanceResultOut,
)
from attestation.service_layer.attendance import AttendanceBatch, AttendanceIn
from attestation.service_layer.handlers import AttestationServices
from shared.ids import is_id
from shared.web.problems import Problem
from shared.webhooks import InboundWebhook, verified_webhook

blp = Blueprint("attendance_webhooks", __name__, url_prefix="/v1/webhooks/providers",
                description="Signed attendance reports from providers (Standard Webhooks).")

EVENT_TYPE = "attendance.reported"
_HEADERS = [
    ("webhook-id", "The message id; a resend carries the same id and is applied once."),
    ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes from our clock."),
    ("webhook-signature", "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`, made with "
                          "the provider's `whsec_` secret."),
]
API_DOC: dict[str, Any] = {
    "security": [],
    "parameters": [{"in": "header", "name": name, "required": True, "description": text,
                    "schema": {"type": "string"}} for name, text in _HEADERS],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": AttendanceReportedWebhook}}},
}


def services() -> AttestationServices:
    return current_app.extensions["bridgeline"].domain


@blp.route("/<string:provider_id>/attendance")
class AttendanceWebhook(MethodView):
    @blp.doc(**API_DOC)
    @blp.response(200, AttendanceResultOut, description=(
        "Stored, record by record (see `rejected`); or stored before (a resent "
        "`webhook-id`), in which case the first answer is repeated and nothing changed."))
    @blp.alt_response(400, response="BAD_REQUEST",
                      description="Malformed webhook headers or a body that is not JSON.")
    @blp.alt_response(401, response="UNAUTHORIZED",
                      description="No valid signature from this provider (also: an unknown "
                                  "provider, or a timestamp more than 5 minutes off).")
    @blp.alt_response(413, response="REQUEST_ENTITY_TOO_LARGE")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="Another type, or `data` that does not validate (unknown "
                                  "fields, more than 1,000 records; see `errors`); nothing "
                                  "was stored.")
    def post(self, provider_id: str) -> dict[str, Any]:
        """Report attendance: 1 to 1,000 session records

        Statuses: `attended`, `absent_excused`, `absent_unexcused`, `cancelled_by_program`.
        Unknown fields are refused (422).
        """
        domain = services()
        known = is_id(provider_id, "prv") and domain.parties.provider_exists(provider_id)
        webhook = verified_webhook(
            request, domain.parties.provider_secrets(provider_id) if known else [])
        return domain.ingest_attendance(attendance_batch(provider_id, webhook))


def attendance_batch(provider_id: str, webhook: InboundWebhook) -> AttendanceBatch:
    """The batch a verified webhook carries; Problem 422 when it is not valid."""
    if webhook.type != EVENT_TYPE:
        raise Problem(422, "Unknown Webhook Type", errors={"type": [f"Expected {EVENT_TYPE}."]},
                      detail="This endpoint does not accept this type; see `errors`.")
    try:
        data = AttendanceReportedData().load(webhook.data)
    except ma.ValidationError as exc:
        raise Problem(422, "Invalid Webhook Payload", errors={"data": exc.messages},
                      detail="`data` does not validate; see `errors`.") from None
    return AttendanceBatch(provider_id, webhook.id, [
        AttendanceIn(r["id"], r["referral_id"], r["date"], r["status"])
        for r in data["records"]])
