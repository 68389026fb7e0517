"""The composition root of the attestation service: the one place that connects things."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from attestation.adapters.signing_source import SigningKeyFile
from attestation.config import (
    grace_days,
    issue_interval,
    load_settings,
    signing_keys_path,
    validity_days,
)
from attestation.entrypoints.consumer import event_handlers
from attestation.service_layer.handlers import AttestationServices
from shared.config import Settings
from shared.crypto import build_blind_index
from shared.directory.endpoints import WebhookEndpoints
from shared.directory.parties import DirectoryParties
from shared.runtime import ServiceRuntime, build_runtime
from shared.worker import BackgroundTask, periodic, platform_tasks


def bootstrap(settings: Settings | None = None, *, cipher: Any = None,
              broker_probe: Callable[[], bool] | None = None) -> ServiceRuntime:
    settings = settings or load_settings()
    runtime = build_runtime(settings, cipher=cipher, broker_probe=broker_probe)
    endpoints = WebhookEndpoints(runtime.directory.engine, runtime.cipher,
                                 allow_insecure_urls=settings.is_dev)
    runtime.domain = AttestationServices(
        engine=runtime.engine, cipher=runtime.cipher, blind_index=build_blind_index(settings),
        parties=DirectoryParties(runtime.directory, endpoints),
        # Loaded on first use and when the file changes: a rotation needs no restart.
        signing=SigningKeyFile(signing_keys_path(settings)),
        issuer=settings.public_base_url, validity_days=validity_days(settings),
        grace_days=grace_days(settings))
    return runtime


def worker_tasks(runtime: ServiceRuntime) -> list[BackgroundTask]:
    """The background loops `bridgeline worker --service attestation` runs."""
    services: AttestationServices = runtime.domain
    return [*platform_tasks(runtime, event_handlers(services)),
            periodic("issuing", services.issue_due, issue_interval(runtime.settings))]
