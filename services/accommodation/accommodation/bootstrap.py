"""The composition root of the accommodation service: the one place that connects things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accommodation.config import holidays_text, load_settings, travel_minutes
from accommodation.domain.calendar import BusinessCalendar, parse_holidays
from accommodation.entrypoints.consumer import event_handlers
from accommodation.service_layer.handlers import AccommodationServices
from shared.config import Settings
from shared.crypto import build_blind_index
from shared.runtime import ServiceRuntime, build_runtime
from shared.web.link_guard import SWEEP_INTERVAL_SECONDS, GuessLimiter
from shared.worker import BackgroundTask, periodic, platform_tasks

OVERDUE_INTERVAL_SECONDS = 300.0


def bootstrap(settings: Settings | None = None, *, cipher: Any = None,
              broker_probe: Callable[[], bool] | None = None) -> ServiceRuntime:
    settings = settings or load_settings()
    runtime = build_runtime(settings, cipher=cipher, broker_probe=broker_probe)
    blind_index = build_blind_index(settings)
    runtime.domain = AccommodationServices(
        engine=runtime.engine, cipher=runtime.cipher, blind_index=blind_index,
        calendar=BusinessCalendar(parse_holidays(holidays_text(settings))),
        travel_minutes=travel_minutes(settings))
    runtime.link_guard = GuessLimiter.from_settings(settings, runtime.engine, blind_index)
    return runtime


def worker_tasks(runtime: ServiceRuntime) -> list[BackgroundTask]:
    """The background loops `bridgeline worker --service accommodation` runs."""
    services: AccommodationServices = runtime.domain
    return [*platform_tasks(runtime, event_handlers(services)),
            periodic("overdue", services.announce_overdue, OVERDUE_INTERVAL_SECONDS),
            periodic("link-guard", runtime.link_guard.prune, SWEEP_INTERVAL_SECONDS)]

