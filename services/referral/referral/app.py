"""The WSGI entry point: `gunicorn 'referral.app:create_app()'`."""

from __future__ import annotations

from flask import Flask

from referral.bootstrap import bootstrap
from referral.entrypoints import errors, pages
from referral.entrypoints.api import provider_webhooks, referrals
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.web import pages as shared_pages
from shared.web.app_factory import create_service_app

DESCRIPTION = (
    "HR referrals, "
    "the employee's referral link and consent, provider enrollment updates."
)


def create_app(runtime: ServiceRuntime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    configure_logging(runtime.settings.service, runtime.settings.log_level,
                      runtime.settings.log_flush_seconds)
    app = create_service_app(runtime, title="Bridgeline referral API", description=DESCRIPTION,
                             blueprints=[referrals.blp, provider_webhooks.blp])
    app.register_blueprint(pages.blp)
    app.register_blueprint(shared_pages.assets)
    errors.register(app)
    return app
