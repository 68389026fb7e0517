"""Settings read from the environment, once, at the composition root.

Nothing here connects to anything: services and commands build their engines and
connections from these values in their own `bootstrap()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

SERVICE_PORTS = {"referral": 8081, "accommodation": 8082, "attestation": 8083}
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def var_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("BRIDGELINE_VAR_DIR", "var")).resolve()


def database_url(name: str, env: Mapping[str, str] | None = None) -> str:
    """The database URL for one service ("referral", ...) or for the shared "directory".

    `<NAME>_DATABASE_URL` wins. Otherwise `DATABASE_URL` names a server and a database
    name prefix: `postgresql://host/bridgeline` gives `bridgeline_referral`, and so on,
    so one variable switches every service to PostgreSQL without them sharing tables.
    Without either, each gets its own SQLite file under the var directory.
    """
    env = os.environ if env is None else env
    explicit = env.get(f"{name.upper()}_DATABASE_URL")
    if explicit:
        return explicit
    base = env.get("DATABASE_URL")
    if base:
        parts = urlsplit(base)
        prefix = parts.path.lstrip("/") or "bridgeline"
        return urlunsplit(parts._replace(path=f"/{prefix}_{name}"))
    return f"sqlite:///{var_dir(env) / (name + '.db')}"


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


N = TypeVar("N", int, float)


def _bounded(env: Mapping[str, str], name: str, default: N, parse: Callable[[str], N],
             minimum: N, maximum: N | None = None) -> N:
    """A number setting (`parse` is int or float) from `minimum` up to `maximum`, if any.
    Anything else is refused rather than quietly moved into range: a budget of 0 must not
    read as "no limit"."""
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number: N | None = parse(value)
    except ValueError:
        number = None
    # Written so that NaN, which compares false with everything, is refused too.
    if number is None or not (minimum <= number and (maximum is None or number <= maximum)):
        what = "an integer" if parse is int else "seconds"
        bounds = (f"of at least {minimum}" if maximum is None
                  else f"from {minimum:g} to {maximum:g}")
        raise ValueError(f"{name} must be {what} {bounds}, not {value!r}")
    return number


def _seconds_list(env: Mapping[str, str], name: str) -> tuple[float, ...]:
    """Comma-separated non-negative seconds ("0,1,1,1"); empty when unset."""
    value = env.get(name, "").strip()
    if not value:
        return ()
    seconds = tuple(float(part) for part in value.split(","))
    if any(not 0 <= s <= 86400 for s in seconds):
        raise ValueError(f"{name} holds seconds between 0 and 86400, not {value!r}")
    return seconds


@dataclass(frozen=True)
class Settings:
    """Everything a service process needs to know about its surroundings."""

    service: str
    database_url: str
    directory_database_url: str
    amqp_url: str = DEFAULT_AMQP_URL
    exchange: str = "bridgeline.events"
    port: int = 8080
    public_base_url: str = "http://localhost:8080"
    environment: str = "dev"
    var_dir: Path = field(default_factory=lambda: Path("var").resolve())
    keyring_path: Path = field(default_factory=lambda: Path("var/keys/keyring.json").resolve())
    max_content_length: int = 1024 * 1024
    auth_cache_seconds: float = 10.0
    log_level: str = "INFO"
    # Log lines below WARNING wait at most this long to be written, in one write per
    # batch (shared.logs.BatchingStreamHandler); 0 writes each line as it comes.
    log_flush_seconds: float = 0.25
    metrics_token: str | None = None
    # Outbound webhooks: the wait before each attempt, in seconds (`WEBHOOK_RETRY_SCHEDULE`,
    # e.g. "0,1,1,1" in tests); empty means the Standard Webhooks schedule (RETRY_SCHEDULE).
    webhook_retry_schedule: tuple[float, ...] = ()
    # Employee link pages (shared.web.link_guard): failed link lookups (unknown or expired
    # token) one client network may make per window before its link requests get 429.
    link_guess_budget: int = 20
    link_guess_window_seconds: int = 900
    # Reverse proxies in front of the services whose X-Forwarded-For is trusted; 0 trusts
    # none and takes the client address from the connection.
    trusted_proxy_hops: int = 0
    # The service's own variables (`<SERVICE>_*`), e.g. ACCOMMODATION_HOLIDAYS: each
    # service's config module reads what it knows from here.
    service_env: dict[str, str] = field(default_factory=dict)

    @property
    def is_dev(self) -> bool:
        return self.environment == "dev"

    @classmethod
    def from_env(cls, service: str, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        prefix = service.upper()
        port = int(env.get(f"{prefix}_PORT", SERVICE_PORTS.get(service, 8080)))
        vdir = var_dir(env)
        return cls(
            service=service,
            database_url=database_url(service, env),
            directory_database_url=database_url("directory", env),
            amqp_url=env.get("AMQP_URL", DEFAULT_AMQP_URL),
            exchange=env.get("BRIDGELINE_EXCHANGE", "bridgeline.events"),
            port=port,
            public_base_url=env.get(f"{prefix}_PUBLIC_URL", f"http://localhost:{port}").rstrip("/"),
            environment=env.get("BRIDGELINE_ENV", "dev"),
            var_dir=vdir,
            keyring_path=Path(env.get("BRIDGELINE_KEYRING", str(vdir / "keys" / "keyring.json"))),
            max_content_length=int(env.get("MAX_CONTENT_LENGTH", 1024 * 1024)),
            auth_cache_seconds=min(float(env.get("AUTH_CACHE_SECONDS", 10)), 30.0),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            log_flush_seconds=_bounded(env, "LOG_FLUSH_SECONDS", 0.25, float, 0.0, 5.0),
            metrics_token=env.get("METRICS_TOKEN") or None,
            webhook_retry_schedule=_seconds_list(env, "WEBHOOK_RETRY_SCHEDULE"),
            link_guess_budget=_bounded(env, "LINK_GUESS_BUDGET", 20, int, 1),
            link_guess_window_seconds=_bounded(env, "LINK_GUESS_WINDOW_SECONDS", 900, int, 1),
            trusted_proxy_hops=_bounded(env, "TRUSTED_PROXY_HOPS", 0, int, 0),
            service_env={k: v for k, v in env.items() if k.startswith(f"{prefix}_")},
        )
