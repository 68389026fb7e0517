"""Operational endpoints every service has: health, readiness, and who-am-I."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from shared.web.auth import current_principal, requires_roles
from shared.web.problems import Problem

blp = Blueprint("operations", __name__, description="Health, readiness and credentials.")


class HealthSchema(ma.Schema):
    status = ma.fields.String(required=True)
    service = ma.fields.String(required=True)


class ReadinessSchema(HealthSchema):
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String(), required=True)


class PrincipalSchema(ma.Schema):
    client_id = ma.fields.String(required=True)
    role = ma.fields.String(required=True)
    employer_id = ma.fields.String(allow_none=True)
    provider_id = ma.fields.String(allow_none=True)


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthSchema)
    def get(self) -> dict[str, Any]:
        """The process is up"""
        return {"status": "ok", "service": current_app.extensions["bridgeline"].settings.service}


@blp.route("/readyz")
class Readiness(MethodView):
    @blp.response(200, ReadinessSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def get(self) -> dict[str, Any]:
        """The database, the directory and the broker are reachable"""
        runtime = current_app.extensions["bridgeline"]
        checks = {name: ("ok" if probe() else "unavailable")
                  for name, probe in runtime.readiness.items()}
        if any(state != "ok" for state in checks.values()):
            down = ", ".join(name for name, state in checks.items() if state != "ok")
            raise Problem(503, "Service Unavailable", detail=f"Not reachable: {down}.",
                          checks=checks, headers={"Retry-After": "5"})
        return {"status": "ok", "service": runtime.settings.service, "checks": checks}


@blp.route("/v1/me")
class Me(MethodView):
    @requires_roles("hr", "specialist", "manager", "provider", "admin")
    @blp.response(200, PrincipalSchema)
    def get(self) -> dict[str, Any]:
        """The client the bearer token belongs to"""
        p = current_principal()
        return {"client_id": p.client_id, "role": p.role,
                "employer_id": p.employer_id, "provider_id": p.provider_id}
