"""Where each service lives, found by convention (no service module is imported here).

`services/<name>/<name>/` is the package, `services/<name>/migrations/versions/` its
alembic versions; the package's `app.create_app` is the WSGI factory and its
`bootstrap.worker_tasks` lists its background loops.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

SERVICE_NAMES = ("referral", "accommodation", "attestation")


def service_root(name: str) -> Path:
    if name not in SERVICE_NAMES:
        raise ValueError(f"unknown service {name!r}; expected one of {', '.join(SERVICE_NAMES)}")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the {name} service package is not installed")
    return Path(spec.origin).resolve().parents[1]


def migration_versions(name: str) -> Path:
    return service_root(name) / "migrations" / "versions"
