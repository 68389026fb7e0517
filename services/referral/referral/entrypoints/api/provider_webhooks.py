"""`POST /v1/webhooks/providers/{provider_id}`: enrollment updates from providers.

There is no bearer token: the Standard Webhooks signature, made with the secret of the
provider's endpoint, is the authentication. The raw body is verified before anything
in it is read, so the body is parsed here, not with `@blp.arguments`.

An unknown provider, a provider without an endpoint and a wrong signature all get the
same 401 (verification runs against no secret at all), so provider ids cannot be
probed. A resent `webhook-id` answers 204 again and changes nothing.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, current_app, request
from flask.views import MethodView
from flask_smorest import Blueprint

from referral.domain.commands import ApplyProviderUpdate
from referral.domain.model import Window
from referral.entrypoints.api.provider_schemas import DATA_SCHEMAS, WEBHOOK_BODIES
from referral.service_layer.handlers import ReferralServices
from shared.ids import is_id
from shared.web.problems import Problem
from shared.webhooks import InboundWebhook, verified_webhook

blp = Blueprint("provider_webhooks", __name__, url_prefix="/v1/webhooks/providers",
                description="Signed enrollment updates from providers (Standard Webhooks).")

_HEADERS = [
    ("webhook-id", "The message id; a resend carries the same id and is applied once."),
    ("webhook-timestamp", "Unix seconds; refused when more than 5 minutes from our clock."),
    ("webhook-signature", "`v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>`, made with "
                          "the provider's `whsec_` secret (several, space separated, during "
                          "a rotation)."),
]
API_DOC: dict[str, Any] = {
    "security": [],
    "parameters": [{"in": "header", "name": name, "required": True, "description": text,
                    "schema": {"type": "string"}} for name, text in _HEADERS],
    "requestBody": {"required": True, "content": {"application/json": {
        "schema": {"oneOf": WEBHOOK_BODIES}}}},
}


def services() -> ReferralServices:
    return current_app.extensions["bridgeline"].domain


@blp.route("/<string:provider_id>")
class ProviderWebhook(MethodView):
    @blp.doc(**API_DOC)
    @blp.response(204, description="Stored; or stored before (a resent `webhook-id`), "
                                   "in which case nothing changed.")
    @blp.alt_response(400, response="BAD_REQUEST",
                      description="Malformed webhook headers or a body that is not JSON.")
    @blp.alt_response(401, response="UNAUTHORIZED",
                      description="No valid signature from this provider (also: an unknown "
                                  "provider, or a timestamp more than 5 minutes off).")
    @blp.alt_response(404, response="NOT_FOUND",
                      description="No referral with this id is routed to this provider.")
    @blp.alt_response(409, response="CONFLICT",
                      description="The referral's state does not allow this update "
                                  "(say, completed before it started); nothing was stored.")
    @blp.alt_response(415, response="UNSUPPORTED_MEDIA_TYPE",
                      description="The body is not sent as `application/json`.")
    @blp.alt_response(422, response="UNPROCESSABLE_ENTITY",
                      description="An unknown type, or `data` that does not validate "
                                  "(see `errors`); nothing was stored.")
    def post(self, provider_id: str) -> Response:
        """Apply a signed enrollment update from a provider

        Types: `intake.scheduled`, `enrollment.started`, `enrollment.completed`,
        `enrollment.discontinued`. Unknown fields are refused (422).
        """
        domain = services()
        names: Any = domain.names  # DirectoryParties: names, secrets, endpoints
        known = is_id(provider_id, "prv") and names.provider_name(provider_id) is not None
        webhook = verified_webhook(request, names.provider_secrets(provider_id) if known else [])
        domain.apply_provider_update(update_command(provider_id, webhook))
        return Response(status=204)


def update_command(provider_id: str, webhook: InboundWebhook) -> ApplyProviderUpdate:
    """The command a verified webhook asks for; Problem 422 when its data is not valid."""
    schema = DATA_SCHEMAS.get(webhook.type)
    if schema is None:
        raise Problem(422, "Unknown Webhook Type", errors={"type": [
            f"Expected one of {', '.join(DATA_SCHEMAS)}."]},
            detail="This endpoint does not accept this type; see `errors`.")
    try:
        data = schema().load(webhook.data)
    except ma.ValidationError as exc:
        raise Problem(422, "Invalid Webhook Payload", errors={"data": exc.messages},
                      detail="`data` does not validate for this type; see `errors`.") from None
    return ApplyProviderUpdate(
        provider_id=provider_id, webhook_id=webhook.id, update_type=webhook.type,
        referral_id=data["referral_id"], on_date=data.get("date"),
        schedule=[Window(w["weekday"], w["start"], w["end"]) for w in data.get("schedule", [])],
        start_date=data.get("start_date"), expected_end_date=data.get("expected_end_date"),
        level_of_care=data.get("level_of_care"),
        return_to_work_date=data.get("return_to_work_date"))
