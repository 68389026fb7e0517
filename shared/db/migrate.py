"""Run alembic migrations from code, for a service database or the directory database.

One `env.py` (beside this module) serves every database; what differs is the list of
version directories: a service database gets its own versions plus the shared
"mechanisms" branch, the directory database gets the directory's versions.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url

from shared.db import make_engine

HERE = Path(__file__).resolve().parent
MECHANISM_VERSIONS = HERE / "migrations" / "versions"
DIRECTORY_VERSIONS = HERE.parent / "directory" / "migrations" / "versions"


def alembic_config(url: str, version_dirs: list[Path]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE / "migrations"))
    cfg.set_main_option("version_locations", " ".join(str(p) for p in version_dirs))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["database_url"] = url
    return cfg


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database named in `url` when it does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql" or not parsed.database:
        return
    admin = make_engine(str(parsed.set(database="postgres").render_as_string(hide_password=False)),
                        isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            from sqlalchemy import text

            exists = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
            ).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        admin.dispose()


def upgrade_service(url: str, service_versions: Path) -> None:
    ensure_database(url)
    command.upgrade(alembic_config(url, [service_versions, MECHANISM_VERSIONS]), "heads")


def upgrade_directory(url: str) -> None:
    ensure_database(url)
    command.upgrade(alembic_config(url, [DIRECTORY_VERSIONS]), "heads")
