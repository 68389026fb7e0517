"""BatchingStreamHandler: lines are written in batches, never lost, never reordered,
and a warning is written at once."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.logs import MAX_BATCH_BYTES, PIPE_BUF, BatchingStreamHandler, JsonFormatter

ROOT = Path(__file__).resolve().parents[3]


class CountingStream(io.StringIO):
    """A stream that counts its writes (each one a write(2) on a real stream)."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.chunks: list[str] = []

    def write(self, text: str) -> int:
        self.writes += 1
        self.chunks.append(text)
        return super().write(text)


@pytest.fixture
def logger():
    stream = CountingStream()
    handler = BatchingStreamHandler(stream, interval=30.0)  # only explicit triggers
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    log = logging.getLogger(f"test.batching.{id(stream)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    yield log, handler, stream
    log.removeHandler(handler)
    handler.close()


def test_info_lines_wait_and_are_written_together_in_order(logger):
    log, handler, stream = logger
    for n in range(5):
        log.info("line %d", n)
    assert stream.getvalue() == ""
    handler.flush()
    assert stream.getvalue().splitlines() == [f"INFO line {n}" for n in range(5)]
    assert stream.writes == 1


def test_a_warning_is_written_at_once_after_the_lines_before_it(logger):
    log, _, stream = logger
    log.info("before")
    log.warning("trouble")
    assert stream.getvalue().splitlines() == ["INFO before", "WARNING trouble"]
    log.error("worse")
    assert stream.getvalue().splitlines()[-1] == "ERROR worse"


def test_a_full_batch_is_written_without_waiting_in_whole_lines_of_a_pipes_atomic_size(logger):
    log, _, stream = logger
    line = "x" * 1000
    for _ in range(MAX_BATCH_BYTES // 1000 + 1):
        log.info(line)
    assert len(stream.getvalue()) >= MAX_BATCH_BYTES
    # Several processes may share one pipe: no write may splice a line or pass PIPE_BUF.
    assert 1 < stream.writes < MAX_BATCH_BYTES // 1000
    for chunk in stream.chunks:
        assert len(chunk.encode()) <= PIPE_BUF and chunk.endswith("\n")
        assert set(chunk.splitlines()) == {"INFO " + line}


def test_a_line_longer_than_pipe_buf_goes_alone(logger):
    log, handler, stream = logger
    log.info("short")
    log.info("y" * (PIPE_BUF + 10))
    log.info("short again")
    handler.flush()
    assert stream.chunks == ["INFO short\n", "INFO " + "y" * (PIPE_BUF + 10) + "\n",
                             "INFO short again\n"]


def test_the_writer_thread_writes_a_waiting_line_within_the_interval():
    stream = CountingStream()
    handler = BatchingStreamHandler(stream, interval=0.05)
    handler.setFormatter(logging.Formatter("%(message)s"))
    record = logging.makeLogRecord({"msg": "waiting", "levelno": logging.INFO})
    try:
        handler.handle(record)
        deadline = time.monotonic() + 5
        while stream.getvalue() == "" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stream.getvalue() == "waiting\n"
    finally:
        handler.close()


def test_interval_zero_writes_each_line_as_it_comes():
    stream = CountingStream()
    handler = BatchingStreamHandler(stream, interval=0)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.handle(logging.makeLogRecord({"msg": "one", "levelno": logging.INFO}))
    assert stream.getvalue() == "one\n"
    handler.close()


def test_close_writes_what_is_left_and_later_lines_at_once(logger):
    log, handler, stream = logger
    log.info("last words")
    handler.close()
    assert stream.getvalue() == "INFO last words\n"
    log.info("said at exit")  # e.g. by an atexit hook after logging.shutdown()
    assert stream.getvalue().splitlines()[-1] == "INFO said at exit"


def test_a_stream_that_fails_never_raises_into_the_caller(logger, monkeypatch):
    log, handler, stream = logger
    reported = []
    monkeypatch.setattr(handler, "handleError", reported.append)

    def broken(_text):
        raise OSError("disk full")

    monkeypatch.setattr(stream, "write", broken)
    log.info("lost")
    log.warning("also lost")  # the write happens here, and fails
    assert len(reported) == 1
    monkeypatch.undo()
    log.warning("back")
    assert stream.getvalue() == "WARNING back\n"


def test_a_forked_child_forgets_the_lines_it_inherited(logger):
    log, handler, stream = logger
    log.info("the parent's")
    handler._forget_after_fork()  # what runs in a child right after fork
    log.warning("the child's")
    assert stream.getvalue() == "WARNING the child's\n"


def test_no_writer_thread_outlives_its_handler_even_after_a_fork_reset():
    # Once a writer looped on a replaced event with no interval left: a busy thread
    # that slowed everything else in the process.
    handler = BatchingStreamHandler(io.StringIO(), interval=0.01)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.emit(logging.makeLogRecord({"msg": "starts the writer", "levelno": logging.INFO}))
    (writer,) = [t for t in threading.enumerate() if _loops_on(t, handler)]
    handler._forget_after_fork()
    handler.close()
    writer.join(5)
    assert not writer.is_alive()


def _loops_on(thread, handler):
    """Whether `thread` is the writer of `handler` (its target's bound self)."""
    target = getattr(thread, "_target", None)
    return getattr(target, "__self__", None) is handler


SCRIPT = """
import logging, os, sys
from shared.logs import configure_logging
configure_logging("svc", "INFO", {interval})
log = logging.getLogger("t")
log.info("parent before fork")
pid = os.fork()
if pid == 0:
    log.info("child")
    logging.shutdown()
    os._exit(0)
os.waitpid(pid, 0)
log.info("parent after fork")
{ending}
"""


@pytest.mark.parametrize(("ending", "code"), [("", 0), ("raise SystemExit(3)", 3)])
def test_a_process_writes_every_line_once_at_exit_and_a_fork_duplicates_none(ending, code):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(interval=30.0, ending=ending)], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=60)
    assert done.returncode == code, done.stderr[-2000:]
    messages = [json.loads(line)["msg"] for line in done.stderr.splitlines()]
    assert sorted(messages) == ["child", "parent after fork", "parent before fork"]
    assert messages[0] == "parent before fork"  # written before the fork, by the parent


def test_lines_keep_the_json_format(logger):
    _, handler, stream = logger
    handler.setFormatter(JsonFormatter("referral"))
    handler.handle(logging.makeLogRecord({"msg": "request", "levelno": logging.INFO,
                                          "levelname": "INFO", "name": "bridgeline.access",
                                          "fields": {"route": "/v1/me", "status": 200}}))
    handler.flush()
    entry = json.loads(stream.getvalue())
    assert entry["route"] == "/v1/me" and entry["service"] == "referral"
