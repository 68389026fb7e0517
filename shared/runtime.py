"""What a service process holds once it is wired: settings, engines, the directory,
the authenticator, the field cipher and the readiness probes. Built by a service's
`bootstrap()`; nothing here runs at import time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings
from shared.db import make_engine, session_factory
from shared.directory.service import Directory
from shared.web.auth import Authenticator
from shared.web.health import BrokerProbe, database_probe
from shared.web.link_guard import GuessLimiter


@dataclass
class ServiceRuntime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    directory: Directory
    authenticator: Authenticator
    cipher: Any
    readiness: dict[str, Callable[[], bool]] = field(default_factory=dict)
    # The service's own use cases (e.g. `ReferralServices`), set by its bootstrap().
    domain: Any = None
    # Set by the bootstrap of a service with link pages (shared.web.link_guard).
    link_guard: GuessLimiter | None = None

    def dispose(self) -> None:
        self.engine.dispose()
        self.directory.engine.dispose()


def build_runtime(settings: Settings, *, cipher: Any = None,
                  broker_probe: Callable[[], bool] | None = None) -> ServiceRuntime:
    engine = make_engine(settings.database_url)
    directory = Directory(make_engine(settings.directory_database_url))
    if cipher is None:
        from shared.crypto import build_field_cipher

        cipher = build_field_cipher(settings, engine=directory.engine)
    return ServiceRuntime(
        settings=settings,
        engine=engine,
        sessions=session_factory(engine),
        directory=directory,
        authenticator=Authenticator(directory, settings.auth_cache_seconds),
        cipher=cipher,
        readiness={
            "database": database_probe(engine),
            "directory": database_probe(directory.engine),
            "broker": broker_probe or BrokerProbe(settings.amqp_url),
        },
    )
