"""DirectLogger: the access line skips `logging`'s machinery only while nothing but the
one batching JSON handler would see it, and then writes exactly the line `logging` would."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from shared.logs import BatchingStreamHandler, DirectLogger, JsonFormatter

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")
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
    assert all(TIMESTAMP.fullmatch(json.loads(raw)["ts"])
               for raw in stream.getvalue().splitlines())
    assert list(via_direct) == list(via_logging)  # same keys, same order
    stamps = [datetime.fromisoformat(entry.pop("ts")) for entry in (via_direct, via_logging)]
    assert all(TIMESTAMP.fullmatch(stamp.isoformat(timespec="milliseconds"))
               and stamp.utcoffset() == timedelta(0) for stamp in stamps)
    assert abs(stamps[0] - stamps[1]) < timedelta(seconds=1)
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
    return _noting_filter(logger, seen)


def _filter_on_the_handler(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    return _noting_filter(logging.getLogger().handlers[0], seen)


def _hooked_call_handlers(logger: logging.Logger, seen: list[str]) -> Callable[[], None]:
    """As error-reporting SDKs hook logging: on the class, to see every record."""
    original = logging.Logger.callHandlers

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        seen.append(record.getMessage())
        original(self, record)
    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]

    def undo() -> None:
        logging.Logger.callHandlers = original  # type: ignore[method-assign]
    return undo


def _noting_filter(target: logging.Filterer, seen: list[str]) -> Callable[[], None]:
    def note(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return True
    target.addFilter(note)
    return lambda: target.removeFilter(note)


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
    _hooked_call_handlers,
])
def test_any_other_configuration_sends_the_line_through_logging(configure, monkeypatch):
    with as_configured("bridgeline.test.direct.access") as (direct, stream):
        seen: list[str] = []
        undo = configure(direct.logger, seen)
        try:
            direct.info("request", FIELDS)
        finally:
            undo()
        assert seen == ["request"]
        monkeypatch.setattr(direct.logger, "makeRecord", _fail)
        direct.info("request", FIELDS)  # back as configured: direct again, no record
        logging.getLogger().handlers[0].flush()
        assert [e["msg"] for e in lines(stream)][-1:] == ["request"]


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


@pytest.mark.parametrize("where", ["root", "parent"])
def test_a_filter_on_an_ancestor_sends_the_line_through_logging(where, monkeypatch):
    """`logging` itself applies only the logger's own filters to its records; the direct
    path is just as careful with anything added on the way."""
    with as_configured("bridgeline.test.direct.access") as (direct, _):
        made: list[str] = []
        make_record = direct.logger.makeRecord

        def noting(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make_record(*args, **kwargs)
            made.append(record.getMessage())
            return record
        monkeypatch.setattr(direct.logger, "makeRecord", noting)
        ancestor = logging.getLogger() if where == "root" else logging.getLogger(
            direct.logger.name.rpartition(".")[0])
        undo = _noting_filter(ancestor, [])
        try:
            direct.info("request", FIELDS)
        finally:
            undo()
        assert made == ["request"]
        direct.info("request", FIELDS)
        assert made == ["request"]  # direct again


def test_a_logger_of_another_class_gets_its_lines_through_logging():
    seen: list[str] = []

    class Noting(logging.Logger):
        def handle(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())
            super().handle(record)

    original = logging.getLoggerClass()
    logging.setLoggerClass(Noting)
    try:
        name = "bridgeline.test.direct.other_class"
        with as_configured(name) as (direct, _):
            direct.info("request", FIELDS)
    finally:
        logging.setLoggerClass(original)
        logging.Logger.manager.loggerDict.pop(name, None)
    assert seen == ["request"]


def test_a_handler_above_info_gets_no_direct_line():
    with as_configured() as (direct, stream):
        handler = logging.getLogger().handlers[0]
        handler.setLevel(logging.WARNING)
        direct.info("request", FIELDS)
        handler.flush()
        assert stream.getvalue() == ""
