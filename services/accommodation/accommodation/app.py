"""The WSGI entry point: `gunicorn 'accommodation.app:create_app()'`."""

from __future__ import annotations

from flask import Flask

from accommodation.bootstrap import bootstrap
from accommodation.entrypoints import errors, pages
from accommodation.entrypoints.api import accommodations, schedule
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.web import pages as shared_pages
from shared.web.app_factory import create_service_app

DESCRIPTION = (
    "Workplace accommodation requests (the ADA interactive process), "
    "role-filtered views, schedule conflicts."
)


def create_app(runtime: ServiceRuntime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    configure_logging(runtime.settings.service, runtime.settings.log_level,
                      runtime.settings.log_flush_seconds)
    app = create_service_app(runtime, title="Bridgeline accommodation API",
                             description=DESCRIPTION,
                             blueprints=[accommodations.blp, schedule.blp])
    errors.register(app)
    app.register_blueprint(pages.blp)
    app.register_blueprint(shared_pages.assets)
    return app
