"""DirectLogger: the access line skips `logging`'s machinery only while nothing but the
one batching JSON handler would see it, and then writes exactly the line `logging` would."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from shared.logs import BatchingStreamHandler, DirectLogger, JsonFormatter

FIELDS = {"request_id": "req-12345678", "method": "GET", "route": "/v1/referrals/<id>",
          "status": 200, "duration_ms": 1.25, "client_id": None}


@contextmanager
def as_configured(name: str = "bridgeline.test.direct") -> Iterator[tuple[DirectLogger, io.StringIO]]:
    """Logging as `configure_logging` leaves it: one batching JSON handler on the root
    (set inside the test body: pytest adds its own capturing handlers around each phase)."""
    stream = io.StringIO()
    handler = BatchingStreamHandler(stream, interval=30.0)
    handler.setFormatter(JsonFormatter("referral"))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    try:
        yield DirectLogger(name), stream
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        handler.close()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_direct_line_is_the_line_logging_writes_and_skips_the_log_record(monkeypatch):
    with as_configured() as (direct, stream):
        direct.logger.info("request", extra={"fields": FIELDS})
        monkeypatch.setattr(direct.logger, "makeRecord", _fail)
        direct.info("request", FIELDS)
        logging.getLogger().handlers[0].flush()
    via_logging, via_direct = lines(stream)
    assert list(via_direct) == list(via_logging)  # same keys, same order
    assert via_direct.pop("ts")[:16] == via_logging.pop("ts")[:16]
    assert via_direct == via_logging == {"level": "info", "service": "referral",
                                         "logger": "bridgeline.test.direct",
                                         "msg": "request", **FIELDS}


def test_a_direct_line_waits_in_the_batch_and_a_warning_writes_it_first():
    with as_configured() as (direct, stream):
        direct.info("request", FIELDS)
        assert stream.getvalue() == ""
        direct.logger.warning("trouble")
        assert [e["msg"] for e in lines(stream)] == ["request", "trouble"]


def _fail(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the direct path made a LogRecord")


def _add_root_handler(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    handler = _Recording(seen)
    logging.getLogger().addHandler(handler)
    return lambda: logging.getLogger().removeHandler(handler)


def _add_handler_on_the_way(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    parent = logging.getLogger(logger.name.rpartition(".")[0])
    handler = _Recording(seen)
    parent.addHandler(handler)
    return lambda: parent.removeHandler(handler)


def _filter_on_the_logger(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    def note(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True
    logger.addFilter(note)
    return lambda: logger.removeFilter(note)


def _filter_on_the_handler(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    handler = logging.getLogger().handlers[0]

    def note(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True
    handler.addFilter(note)
    return lambda: handler.removeFilter(note)


def _another_record_factory(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    original = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = original(*args, **kwargs)
        seen.append(record.getMessage())
        return record
    logging.setLogRecordFactory(factory)
    return lambda: logging.setLogRecordFactory(original)


def _propagation_off(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    handler = _Recording(seen)
    logger.addHandler(handler)
    logger.propagate = False

    def undo() -> None:
        logger.propagate = True
        logger.removeHandler(handler)
    return undo


def _another_formatter(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    handler = logging.getLogger().handlers[0]
    formatter = handler.formatter

    class Noting(JsonFormatter):
        def format(self, record: logging.LogRecord) -> str:
            seen.append(record.getMessage())
            return super().format(record)
    handler.setFormatter(Noting("referral"))
    return lambda: handler.setFormatter(formatter)


class _Recording(logging.Handler):
    def __init__(self, seen: list[str]) -> None:
        super().__init__()
        self.seen = seen

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


@pytest.mark.parametrize("configure", [
    _add_root_handler, _add_handler_on_the_way, _filter_on_the_logger,
    _filter_on_the_handler, _another_record_factory, _propagation_off, _another_formatter,
])
def test_any_other_configuration_sends_the_line_through_logging(configure):
    with as_configured("bridgeline.test.direct.access") as (direct, _):
        seen: list[str] = []
        undo = configure(direct.logger, seen)
        try:
            direct.info("request", FIELDS)
        finally:
            undo()
        assert seen == ["request"]
        seen.clear()
        direct.info("request", FIELDS)  # back as configured: direct again
        assert seen == []


@pytest.mark.parametrize("silence", ["logger level", "root level", "disable", "disabled"])
def test_a_line_below_the_level_or_disabled_is_written_by_neither_path(silence, monkeypatch):
    with as_configured() as (direct, stream):
        root = logging.getLogger()
        if silence == "logger level":
            direct.logger.setLevel(logging.WARNING)
        elif silence == "root level":
            root.setLevel(logging.WARNING)
        elif silence == "disable":
            logging.disable(logging.INFO)
        else:
            monkeypatch.setattr(direct.logger, "disabled", True)
        try:
            direct.info("request", FIELDS)
            root.handlers[0].flush()
        finally:
            logging.disable(logging.NOTSET)
            direct.logger.setLevel(logging.NOTSET)
        assert stream.getvalue() == ""


def test_a_field_that_cannot_be_written_never_raises_into_the_caller(capsys):
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    with as_configured() as (direct, stream):
        direct.info("request", {"value": Unprintable()})
        direct.info("request", FIELDS)
        logging.getLogger().handlers[0].flush()
        assert [e["msg"] for e in lines(stream)] == ["request"]
    assert "RuntimeError" in capsys.readouterr().err  # reported as logging reports it
