"""Structured JSON logs, one object a line, for services, workers and commands.

What may be logged is decided by the call site, which passes operational values only
(ids, routes, statuses, durations) as `extra={"fields": {...}}`. Request bodies, query
strings, headers and exception messages (which can quote values) are never logged;
for exceptions we log the type and the stack frames, not the message.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

_configured = False


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


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger to one JSON stream on stderr (idempotent per process)."""
    global _configured
    root = logging.getLogger()
    root.setLevel(level)
    if _configured:
        return
    handler = logging.StreamHandler(sys.stderr)
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
