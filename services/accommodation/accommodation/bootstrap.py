"""The composition root of the accommodation service: the one place that connects things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accommodation.config import load_settings
from shared.config import Settings
from shared.runtime import ServiceRuntime, build_runtime
from shared.worker import BackgroundTask, platform_tasks

# Event type -> handler(session, event). Filled as the service learns to react to events.
EVENT_HANDLERS: dict[str, Callable[..., None]] = {}


def bootstrap(settings: Settings | None = None, *, cipher: Any = None,
              broker_probe: Callable[[], bool] | None = None) -> ServiceRuntime:
    return build_runtime(settings or load_settings(), cipher=cipher, broker_probe=broker_probe)


def worker_tasks(runtime: ServiceRuntime) -> list[BackgroundTask]:
    """The background loops `bridgeline worker --service accommodation` runs."""
    return platform_tasks(runtime, EVENT_HANDLERS)
