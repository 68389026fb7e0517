"""The WSGI entry point: `gunicorn 'referral.app:create_app()'`."""

from __future__ import annotations

from flask import Flask

from referral.bootstrap import bootstrap
from shared.logs import configure_logging
from shared.runtime import ServiceRuntime
from shared.web.app_factory import create_service_app

DESCRIPTION = (
    "HR referrals, "
    "the employee's referral link and consent, provider enrollment updates."
)


def create_app(runtime: ServiceRuntime | None = None) -> Flask:
    runtime = runtime or bootstrap()
    configure_logging(runtime.settings.service, runtime.settings.log_level)
    return create_service_app(runtime, title="Bridgeline referral API",
                              description=DESCRIPTION)
