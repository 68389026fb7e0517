"""Real processes: `bridgeline up` with its gunicorn services and workers, on PostgreSQL
(one fresh database per service for the run, through DATABASE_URL) and the real broker.
The `Stack` itself lives in `tests/support/stack.py` (the fault tests use it too)."""

from __future__ import annotations

import pytest

from tests.support.stack import PG_SERVER, SERVICES, Stack, free_port, wait_for

__all__ = ["PG_SERVER", "SERVICES", "Stack", "free_port", "stack", "wait_for"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, run_id, amqp_url):
    s = Stack(tmp_path_factory.mktemp("stack"), run_id, amqp_url)
    try:
        s.start()
        yield s
    finally:
        try:
            s.stop()
        finally:
            try:
                s.drop_databases()
            finally:
                s.delete_topology(amqp_url)
