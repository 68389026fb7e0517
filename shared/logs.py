"""Structured JSON logs, one object a line, for services, workers and commands.

What may be logged is decided by the call site, which passes operational values only
(ids, routes, statuses, durations) as `extra={"fields": {...}}`. Request bodies, query
strings, headers and exception messages (which can quote values) are never logged;
for exceptions we log the type and the stack frames, not the message.

Lines are written in batches (`BatchingStreamHandler`): one write a request cost a web
worker more CPU than the line itself, about a tenth of a small request under load.
A warning or error is written at once, with every line before it; other lines wait at
most `LOG_FLUSH_SECONDS` (0.25 s; 0 writes each line as it comes).
"""

from __future__ import annotations

import json
import logging
import os
import select
import sys
import threading
import traceback
import weakref
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TextIO

_configured = False
# A batch is written once it holds this much, whatever its age.
MAX_BATCH_BYTES = 64 * 1024
# What one write to a pipe keeps whole when several processes write to it (POSIX).
PIPE_BUF = getattr(select, "PIPE_BUF", 4096)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = self.entry(datetime.fromtimestamp(record.created, UTC), record.levelname,
                           record.name, record.getMessage(), getattr(record, "fields", None))
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["stack"] = _frames(record.exc_info[2])
        return _ENCODER.encode(entry)

    def line(self, at: datetime, level: str, logger: str, msg: str,
             fields: dict[str, Any] | None) -> str:
        """The line `format` writes for a record with these values and no exception."""
        return _ENCODER.encode(self.entry(at, level, logger, msg, fields))

    def entry(self, at: datetime, level: str, logger: str, msg: str,
              fields: dict[str, Any] | None) -> dict[str, Any]:
        entry: dict[str, Any] = {"ts": at.isoformat(timespec="milliseconds"),
                                 "level": level.lower(), "service": self.service,
                                 "logger": logger, "msg": msg}
        if fields:
            entry.update(fields)
        return entry


# One encoder for every line (json.dumps with `default` builds one a call); it holds no
# state between calls.
_ENCODER = json.JSONEncoder(default=str)


def _frames(tb: TracebackType | None) -> list[str]:
    return [f"{f.filename}:{f.lineno} {f.name}" for f in traceback.extract_tb(tb)][-12:]


class BatchingStreamHandler(logging.StreamHandler):
    """A StreamHandler that writes its lines in batches rather than one write each.

    - A record at `flush_level` (WARNING) or above is written at once, after every line
      still waiting, so the order holds and a problem is seen when it happens.
    - Other lines wait until the batch reaches MAX_BATCH_BYTES or is `interval` seconds
      old, when a background thread writes it; `flush()`, `close()` and
      `logging.shutdown()` at exit write what is left. A process killed with SIGKILL
      loses at most `interval` seconds of lines below `flush_level`.
    - Fork-safe: the batch is written before the process forks, and a child forgets
      whatever it inherited, so no line is written twice; a child starts its own
      writer thread.
    - Each write holds whole lines and at most PIPE_BUF bytes (a line longer than that
      goes alone), so processes sharing one pipe never splice each other's lines.
    - After `close()`, or when no writer thread can be started, lines are written as
      they come.
    - A write that fails is reported as StreamHandler reports it, and its lines are
      dropped; logging never raises into the caller.
    - `interval` 0: every line is written as it comes, as a StreamHandler does.
    """

    def __init__(self, stream: TextIO, interval: float = 0.25,
                 flush_level: int = logging.WARNING) -> None:
        super().__init__(stream)
        self.interval = interval
        self.flush_level = flush_level
        self._batch: list[str] = []
        self._batch_bytes = 0
        self._writer_started = False  # in this process (reset in a forked child)
        self._stopped = threading.Event()
        _batching.add(self)

    def emit(self, record: logging.LogRecord) -> None:  # called holding self.lock
        try:
            line = self.format(record) + self.terminator
        except Exception:  # logging must not raise; handleError reports it
            self.handleError(record)
            return
        self._add(line, record.levelno)

    def add_line(self, line: str, levelno: int) -> None:
        """A line already formatted (without its terminator), as `emit` adds a record's."""
        with self.lock:  # type: ignore[union-attr]
            self._add(line + self.terminator, levelno)

    def _add(self, line: str, levelno: int) -> None:  # holding self.lock
        self._batch.append(line)
        self._batch_bytes += len(line)
        if (self.interval <= 0 or levelno >= self.flush_level
                or self._batch_bytes >= MAX_BATCH_BYTES):
            self._write_batch()
        elif not self._writer_started:
            self._start_writer()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._write_batch()

    def close(self) -> None:
        self._stopped.set()
        with self.lock:  # type: ignore[union-attr]
            self.interval = 0  # a line logged later (at exit) is written at once
            self._write_batch()
        super().close()

    def _write_batch(self) -> None:
        # Take the batch first: a signal handler on this thread may log meanwhile (the
        # lock is reentrant), and its line must land in the next batch, not be lost.
        batch, self._batch, self._batch_bytes = self._batch, [], 0
        if not batch:
            return
        try:
            for chunk in _chunks(batch):
                self.stream.write(chunk)
                self.stream.flush()
        except Exception:  # as StreamHandler: report, never raise
            self.handleError(logging.makeLogRecord({"msg": "log write failed"}))

    def _start_writer(self) -> None:
        self._writer_started = True
        try:
            threading.Thread(target=self._write_periodically, name="log-writer",
                             daemon=True).start()
        except RuntimeError:  # no new threads (e.g. at interpreter shutdown)
            self.interval = 0
            self._write_batch()

    def _write_periodically(self) -> None:
        stopped = self._stopped  # a forked child gets a new event: this loop is the parent's
        while not stopped.wait(self.interval):
            if self.interval <= 0 or self._stopped is not stopped:
                return  # lines are written at once now, or this writer was forgotten
            self.flush()

    def _forget_after_fork(self) -> None:
        """In a new child: the parent writes its own lines; the child's writer thread
        is not running (the next line starts one)."""
        self._batch, self._batch_bytes, self._writer_started = [], 0, False
        self._stopped = threading.Event()


def _chunks(lines: list[str]) -> list[str]:
    """The lines joined into writes of at most PIPE_BUF bytes, whole lines only."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode("utf-8", "replace")) if not line.isascii() else len(line)
        if current and size + length > PIPE_BUF:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += length
    if current:
        chunks.append("".join(current))
    return chunks


_batching: weakref.WeakSet[BatchingStreamHandler] = weakref.WeakSet()


def _write_batches_before_fork() -> None:
    for handler in list(_batching):
        handler.flush()


def _forget_batches_in_child() -> None:
    for handler in list(_batching):
        handler._forget_after_fork()


os.register_at_fork(before=_write_batches_before_fork,
                    after_in_child=_forget_batches_in_child)


class DirectLogger:
    """A logger for a line logged on every request (the access log).

    While logging is as `configure_logging` leaves it, `info` formats the line itself and
    hands it to the batching handler: the same JSON line, without the LogRecord, the walk
    up the logger tree and the filter and lock calls around a handler that has no
    filters (in-process about 5 µs a line instead of 7; under load the access line
    through `logging` had cost about 0.04 ms of a GET's 0.7 ms of CPU, measured with
    bench/http_bench.py). Anything else configured sends the line through
    `logging` as any other: a handler or filter added anywhere on the way (as pytest's
    caplog does), a level raised, `logging.disable`, propagation off, another record
    factory or logger class, or `Logger.handle`, `Logger.callHandlers` or
    `Handler.handle` replaced (as error-reporting SDKs do to see every record). Methods
    replaced on a single handler or formatter object are not looked for.
    """

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)

    def info(self, msg: str, fields: dict[str, Any]) -> None:
        handler = self._direct_handler()
        if handler is not None:
            try:
                line = handler.formatter.line(  # type: ignore[union-attr]
                    datetime.now(UTC), "INFO", self.logger.name, msg, fields)
            except Exception:  # noqa: S110 - logging reports it below, and never raises
                pass
            else:
                handler.add_line(line, logging.INFO)
                return
        self.logger.info(msg, extra={"fields": fields})

    def _direct_handler(self) -> BatchingStreamHandler | None:
        """The one handler a line would reach, if nothing but it would see the record."""
        logger = self.logger
        # levels, logging.disable() and the logger's own `disabled`
        if not logger.isEnabledFor(logging.INFO) or type(logger) is not logging.Logger:
            return None
        if _ORIGINAL_HOOKS is None or _hooks() != _ORIGINAL_HOOKS \
                or logging.getLogRecordFactory() is not logging.LogRecord:
            return None
        root = logging.root
        handlers = root.handlers
        if len(handlers) != 1 or root.filters:
            return None
        handler = handlers[0]
        if type(handler) is not BatchingStreamHandler or handler.filters \
                or handler.level > logging.INFO or type(handler.formatter) is not JsonFormatter:
            return None
        node: logging.Logger | None = logger
        while node is not root and node is not None:
            if node.handlers or node.filters or not node.propagate:
                return None
            node = node.parent
        return handler


def _hooks() -> tuple[Any, ...]:
    """What a record goes through on its way to the handlers, as the classes have it now."""
    return logging.Logger.handle, logging.Logger.callHandlers, logging.Handler.handle


# The logging module's own, or None if something had replaced them before this import
# (then every line goes through `logging`).
_ORIGINAL_HOOKS = _hooks() if all(
    hook.__module__ == "logging" for hook in _hooks()) else None


def configure_logging(service: str, level: str = "INFO",
                      flush_seconds: float = 0.25) -> None:
    """Route every logger to one JSON stream on stderr (idempotent per process), written
    in batches of at most `flush_seconds` (see BatchingStreamHandler)."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    handler = BatchingStreamHandler(sys.stderr, interval=flush_seconds)
    handler.setFormatter(JsonFormatter(service))
    root.handlers[:] = [handler]
    # pika and werkzeug are chatty at INFO and werkzeug's access line carries the raw
    # path, which may hold a link token; our own access log replaces it.
    logging.getLogger("pika").setLevel(logging.WARNING)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    # pika's warning about a returned message quotes the start of its body; the relay
    # logs the event id and type instead.
    logging.getLogger("pika.adapters.blocking_connection").setLevel(logging.ERROR)
    # JsonFormatter writes none of the caller's file, line, thread or process, so the
    # logging module need not find them for every record (one access line per request;
    # see "Optimization" in the logging HOWTO).
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    _configured = True
