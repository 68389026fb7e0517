"""`bridgeline up`: the gunicorn command line it gives each service, from its options or
their environment variables, and a clean refusal of a bad value."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from shared import supervisor
from shared.db import POOL_CONNECTIONS, make_engine, single_statements
from shared.services import SERVICE_NAMES


class _Exited:
    """A process that has already exited, so `up` stops at its first look."""

    returncode = 0

    def __init__(self, argv: list[str], **_: Any) -> None:
        self.argv = argv

    def poll(self) -> int:
        return 0

    def send_signal(self, _sig: int) -> None:  # pragma: no cover - poll says it exited
        raise AssertionError("an exited process is not signalled")

    def wait(self, _timeout: float | None = None) -> int:
        return 0


@pytest.fixture()
def started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    argvs: list[list[str]] = []

    def popen(argv: list[str], **kwargs: Any) -> _Exited:
        argvs.append(argv)
        return _Exited(argv, **kwargs)

    monkeypatch.setattr(supervisor.subprocess, "Popen", popen)
    # `up` handles SIGINT and SIGTERM itself; the test process keeps its own handlers.
    monkeypatch.setattr(supervisor.signal, "signal", lambda *_: None)
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    return argvs


def _gunicorn_option(argvs: list[list[str]], option: str) -> set[str]:
    """The value of `option` on every gunicorn command line started."""
    values = {argv[argv.index(option) + 1] for argv in argvs if "gunicorn" in argv}
    assert len([a for a in argvs if "gunicorn" in a]) == len(SERVICE_NAMES)
    return values


def test_defaults_are_one_worker_of_four_threads(started: list[list[str]]) -> None:
    result = CliRunner().invoke(supervisor.up, [])
    assert result.exit_code == 0, result.output
    assert _gunicorn_option(started, "--workers") == {"1"}
    assert _gunicorn_option(started, "--threads") == {"4"}
    assert _gunicorn_option(started, "--worker-class") == {"gthread"}


def test_environment_sets_workers_and_threads(started: list[list[str]]) -> None:
    result = CliRunner().invoke(supervisor.up, [],
                                env={"WEB_CONCURRENCY": "3", "WEB_THREADS": "5"})
    assert result.exit_code == 0, result.output
    assert _gunicorn_option(started, "--workers") == {"3"}
    assert _gunicorn_option(started, "--threads") == {"5"}


def test_options_win_over_the_environment(started: list[list[str]]) -> None:
    result = CliRunner().invoke(supervisor.up, ["--web-workers", "2", "--web-threads", "8"],
                                env={"WEB_CONCURRENCY": "3", "WEB_THREADS": "5"})
    assert result.exit_code == 0, result.output
    assert _gunicorn_option(started, "--workers") == {"2"}
    assert _gunicorn_option(started, "--threads") == {"8"}


@pytest.mark.parametrize(("name", "value"), [
    ("WEB_THREADS", "0"), ("WEB_THREADS", "many"), ("WEB_THREADS", "16"),
    ("WEB_CONCURRENCY", "0"), ("WEB_CONCURRENCY", "-1"), ("WEB_CONCURRENCY", "2.0"),
])
def test_a_bad_value_is_refused_before_anything_starts(
        started: list[list[str]], name: str, value: str) -> None:
    result = CliRunner().invoke(supervisor.up, [], env={name: value})
    assert result.exit_code == 2
    assert "Invalid value" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert started == []


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/none",
                                 "sqlite:///unused.db"])
def test_threads_stop_where_a_pool_runs_out_of_connections(url: str, tmp_path: Any,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """`--web-threads` is bounded by what one engine's pool lends (nothing connects)."""
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    try:
        for pool in (engine.pool, single_statements(engine).pool):
            assert pool.size() + pool._max_overflow == POOL_CONNECTIONS  # type: ignore[attr-defined]
    finally:
        engine.dispose()
    assert supervisor.MAX_WEB_THREADS == POOL_CONNECTIONS
