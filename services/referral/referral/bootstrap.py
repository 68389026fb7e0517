"""The composition root of the referral service: the one place that connects things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from referral.config import load_settings
from referral.entrypoints.consumer import event_handlers
from referral.service_layer.handlers import ReferralServices
from shared.config import Settings
from shared.crypto import build_blind_index
from shared.directory.endpoints import WebhookEndpoints
from shared.directory.parties import DirectoryParties
from shared.runtime import ServiceRuntime, build_runtime
from shared.web.link_guard import SWEEP_INTERVAL_SECONDS, GuessLimiter
from shared.worker import BackgroundTask, periodic, platform_tasks

EXPIRY_INTERVAL_SECONDS = 30.0


def bootstrap(settings: Settings | None = None, *, cipher: Any = None,
              broker_probe: Callable[[], bool] | None = None) -> ServiceRuntime:
    settings = settings or load_settings()
    runtime = build_runtime(settings, cipher=cipher, broker_probe=broker_probe)
    endpoints = WebhookEndpoints(runtime.directory.engine, runtime.cipher,
                                 allow_insecure_urls=settings.is_dev)
    blind_index = build_blind_index(settings)
    runtime.domain = ReferralServices(
        engine=runtime.engine, cipher=runtime.cipher, blind_index=blind_index,
        names=DirectoryParties(runtime.directory, endpoints))
    runtime.link_guard = GuessLimiter.from_settings(settings, runtime.engine, blind_index)
    return runtime


def worker_tasks(runtime: ServiceRuntime) -> list[BackgroundTask]:
    """The background loops `bridgeline worker --service referral` runs."""
    services: ReferralServices = runtime.domain
    return [*platform_tasks(runtime, event_handlers(services)),
            periodic("expiry", services.expire_due, EXPIRY_INTERVAL_SECONDS),
            periodic("link-guard", runtime.link_guard.prune, SWEEP_INTERVAL_SECONDS)]

