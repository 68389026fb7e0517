"""The WSGI entry point: `gunicorn 'attestation.app:create_app()'`."""

from __future__ import annotations

from flask import Flask

from attestation.bootstrap import bootstrap
from attestation.entrypoints import errors
from attestation.entrypoints.api import attendance_webhooks, attestations, jwks, reports
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.web.app_factory import create_service_app

DESCRIPTION = (
    "Provider attendance in; consent-filtered, "
    "signed attestations out; utilization reports."
)


def create_app(runtime: ServiceRuntime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    configure_logging(runtime.settings.service, runtime.settings.log_level,
                      runtime.settings.log_flush_seconds)
    app = create_service_app(runtime, title="Bridgeline attestation API",
                             description=DESCRIPTION,
                             blueprints=[attestations.blp, attendance_webhooks.blp,
                                         reports.blp, jwks.blp])
    errors.register(app)
    return app
