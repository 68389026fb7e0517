"""Fixtures shared by every test tier.

Integration tests use the real PostgreSQL and RabbitMQ of this machine. Each test run
gets fresh databases and uniquely named exchanges and queues, and removes them afterwards.
Set PG_ADMIN_URL / AMQP_URL to point elsewhere.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from shared.db import make_engine

PG_ADMIN_URL = os.environ.get("PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
AMQP_URL = os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
RUN_ID = uuid.uuid4().hex[:10]


@pytest.fixture(autouse=True)
def _log_lines_written_within_their_test() -> Iterator[None]:
    """Log lines are written in batches (shared.logs): write a test's own at its
    teardown, while its output is still captured, not at the end of the run."""
    yield
    for handler in logging.getLogger().handlers:
        handler.flush()


@pytest.fixture(scope="session")
def run_id() -> str:
    """Unique per test run: use it in database, exchange and queue names."""
    return RUN_ID


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL


def _admin_engine() -> Engine:
    return make_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test; dropped afterwards."""
    name = f"bl_test_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    admin = _admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def unique_name() -> str:
    """A name for exchanges and queues that no other test or run uses."""
    return f"bl.test.{RUN_ID}.{uuid.uuid4().hex[:8]}"


# -- a wired service, on SQLite files under tmp_path -----------------------------------------
SERVICES = ("referral", "accommodation", "attestation")


class Platform:
    """Settings, migrated databases, a keyring and a directory for in-process tests."""

    def __init__(self, tmp_path, env_extra=None):
        from shared.config import Settings
        from shared.crypto import Keyring
        from shared.db.migrate import upgrade_directory, upgrade_service
        from shared.directory import Directory
        from shared.services import migration_versions

        self.env = {"BRIDGELINE_VAR_DIR": str(tmp_path), "AMQP_URL": AMQP_URL,
                    **(env_extra or {})}
        self.settings = {name: Settings.from_env(name, self.env) for name in SERVICES}
        any_settings = self.settings["referral"]
        Keyring.generate(any_settings.keyring_path)
        upgrade_directory(any_settings.directory_database_url)
        for name in SERVICES:
            upgrade_service(self.settings[name].database_url, migration_versions(name))
        self.directory = Directory(make_engine(any_settings.directory_database_url))
        self._runtimes = []

    def runtime(self, service, broker_up=True):
        import importlib

        bootstrap = importlib.import_module(f"{service}.bootstrap")
        probe = None if broker_up is None else (lambda: broker_up)
        runtime = bootstrap.bootstrap(self.settings[service], broker_probe=probe)
        self._runtimes.append(runtime)
        return runtime

    def app(self, service, broker_up=True):
        import importlib

        app_module = importlib.import_module(f"{service}.app")
        app = app_module.create_app(self.runtime(service, broker_up))
        app.testing = True
        return app

    def client_token(self, role, tenant=None):
        kwargs = {}
        if role == "provider":
            kwargs["provider_id"] = tenant or self.directory.create_provider("Evening IOP").id
        elif role != "admin":
            kwargs["employer_id"] = tenant or self.directory.create_employer("Acme").id
        _, token = self.directory.create_client(role, **kwargs)
        return str(token)

    def close(self):
        for runtime in self._runtimes:
            runtime.dispose()
        self.directory.engine.dispose()


@pytest.fixture
def platform(tmp_path):
    p = Platform(tmp_path)
    yield p
    p.close()
