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
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}) or {})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exc_type"] = record.exc_info[0].__name__
            entry["stack"] = _frames(record.exc_info[2])
        return json.dumps(entry, default=str)


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
        self._batch.append(line)
        self._batch_bytes += len(line)
        if (self.interval <= 0 or record.levelno >= self.flush_level
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
