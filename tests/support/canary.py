"""Canary scans over a whole running Bridgeline: every table of every database, every
message that crossed the broker, every log line (issue 7, "A canary test").

    canaries = CanarySet({"name": "Ottoline Ægirsdóttir-Wyvernshaw", ...},
                         fragments=("Wyvernshaw", ...))
    with Tap(amqp_url, exchange) as tap:        # before anything is published
        ...                                     # the story
    report = ScanReport()
    scan_postgres(admin_url, prefix, canaries, report)   # or scan_sqlite_dir(var, ...)
    scan_messages(tap.messages, canaries, report)
    scan_log_files([path, ...], canaries, report)
    assert not report.leaks, report.describe_leaks()

A canary is looked for in every form a careless encoding could give it, case-insensitively
where the form allows: as is, JSON-escaped (`\\u00c6`), URL-encoded, HTML-escaped, as hex
of its UTF-8 bytes, and as base64 (standard and URL-safe, at each of the three byte
alignments, so a canary inside a longer base64 value is found too). Byte values (bytea,
BLOB, raw files) are read as UTF-8 and as Latin-1. A canary may be stored or carried only
encrypted (`enc:…` tokens: random-looking hex) or as a blind index (an HMAC): neither
contains any of these forms.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pika
from sqlalchemy import text

from shared.db import make_engine
from shared.messaging.topology import Topology


# -- the canaries and their forms -----------------------------------------------------------
def _base64_forms(raw: bytes) -> list[str]:
    """The base64 text that `raw` turns into wherever it sits in a longer value: for each
    alignment (0, 1 or 2 bytes before it in its 3-byte group), the characters that depend
    on `raw` alone."""
    forms = []
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw).decode("ascii")
        start = (pad * 8 + 5) // 6          # first character free of the padding's bits
        end = ((pad + len(raw)) * 8) // 6   # last character made of `raw`'s bits only
        forms.append(encoded[start:end])
    return forms


@dataclass(frozen=True)
class Needle:
    label: str          # which canary, e.g. "name" or "name/fragment:Wyvernshaw"
    form: str           # "raw", "json", "url", "html", "hex", "base64", "base64url"
    text: str
    case_sensitive: bool


def needles_for(label: str, value: str) -> list[Needle]:
    raw = value.encode("utf-8")
    folded = [("raw", value), ("json", json.dumps(value)[1:-1]),
              ("url", quote(value, safe="")), ("url", quote_plus(value)),
              ("html", html.escape(value)),
              ("html", html.escape(value).encode("ascii", "xmlcharrefreplace").decode()),
              ("hex", raw.hex())]
    exact = [("base64", f) for f in _base64_forms(raw)]
    exact += [("base64url", f.replace("+", "-").replace("/", "_")) for f in _base64_forms(raw)]
    out: dict[tuple[str, bool], Needle] = {}
    for form, needle in folded:
        out.setdefault((needle.casefold(), False), Needle(label, form, needle.casefold(), False))
    for form, needle in exact:
        if len(needle) >= 8:  # shorter would be a coincidence waiting to happen
            out.setdefault((needle, True), Needle(label, form, needle, True))
    return list(out.values())


class CanarySet:
    """Distinctive values by label, and fragments of them that would betray a partial
    leak (a surname alone, the local part of an email)."""

    def __init__(self, values: Mapping[str, str], fragments: Iterable[str] = ()) -> None:
        self.values = dict(values)
        self.fragments = tuple(fragments)
        self.needles = [n for label, value in self.values.items()
                        for n in needles_for(label, value)]
        self.needles += [n for fragment in self.fragments
                         for n in needles_for(f"fragment:{fragment}", fragment)]

    def found_in(self, text_: str, forms: frozenset[str] | None = None) -> list[str]:
        """`label (form)` of every canary in `text_`, each once; only the given `forms`
        (e.g. {"raw"} for large binary files, where the rest would cost too much)."""
        folded = text_.casefold()
        hits = {f"{n.label} ({n.form})" for n in self.needles
                if (forms is None or n.form in forms)
                and n.text in (text_ if n.case_sensitive else folded)}
        return sorted(hits)

    def found_in_bytes(self, data: bytes, forms: frozenset[str] | None = None) -> list[str]:
        return sorted(set(self.found_in(data.decode("utf-8", "replace"), forms)
                          + self.found_in(data.decode("latin-1"), forms)))


def render(value: Any) -> str:
    """A stored value as text, however the driver hands it over."""
    if value is None:
        return ""
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes | bytearray):
        data = bytes(value)
        return data.decode("utf-8", "replace") + "\x1f" + data.decode("latin-1")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str) + "\x1f" + repr(value)
    return str(value)


# -- what a scan saw and found ---------------------------------------------------------------
@dataclass
class Leak:
    where: str
    found: list[str]
    excerpt: str


@dataclass
class ScanReport:
    databases: list[str] = field(default_factory=list)
    tables: int = 0
    rows: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)
    files: int = 0
    file_bytes: int = 0
    messages: int = 0
    message_types: dict[str, int] = field(default_factory=dict)
    event_ids: set[str] = field(default_factory=set)
    log_lines: int = 0
    leaks: list[Leak] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def leak(self, where: str, found: list[str], excerpt: str) -> None:
        self.leaks.append(Leak(where, found, excerpt[:300]))

    def describe_leaks(self) -> str:
        return "\n".join(f"LEAK in {leak.where}: {', '.join(leak.found)}\n    {leak.excerpt!r}"
                         for leak in self.leaks[:50]) + (
            f"\n... and {len(self.leaks) - 50} more" if len(self.leaks) > 50 else "")

    def summary(self) -> str:
        return (f"{len(self.databases)} databases, {self.tables} tables, {self.rows} rows"
                + (f", {self.files} files ({self.file_bytes} bytes) raw" if self.files else "")
                + f"; {self.messages} messages ({len(self.event_ids)} distinct event ids) "
                + json.dumps(dict(sorted(self.message_types.items())))
                + f"; {self.log_lines} log lines; {len(self.leaks)} leaks"
                + (f"; skipped: {', '.join(self.skipped)}" if self.skipped else ""))


def _scan_rows(where: str, columns: list[str], rows: Iterable[Any], canaries: CanarySet,
               report: ScanReport) -> int:
    count = 0
    for row in rows:
        count += 1
        line = "\x1e".join(render(v) for v in row)
        found = canaries.found_in(line)
        if found:
            cells = [c for c, v in zip(columns, row, strict=True)
                     if canaries.found_in(render(v))]
            report.leak(f"{where} column(s) {', '.join(cells)}", found, line)
    return count


# -- (a) databases ---------------------------------------------------------------------------
def postgres_databases(admin_url: str, prefix: str) -> list[str]:
    """The names of the databases that start with `prefix` (a literal prefix, not a LIKE
    pattern: our prefixes are full of underscores)."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            names = conn.execute(text("SELECT datname FROM pg_database")).scalars().all()
    finally:
        admin.dispose()
    return sorted(n for n in names if n.startswith(prefix))


def scan_postgres_database(url: str, canaries: CanarySet, report: ScanReport) -> None:
    """Every column of every row of every table in every schema but PostgreSQL's own."""
    engine = make_engine(url)
    name = url.rsplit("/", 1)[-1]
    report.databases.append(name)
    try:
        with engine.connect() as conn:
            tables = conn.execute(text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN "
                "('pg_catalog', 'information_schema') ORDER BY 1, 2")).all()
            assert tables, f"{name}: no tables: the scan would prove nothing"
            for schema, table in tables:
                result = conn.exec_driver_sql(f'SELECT * FROM "{schema}"."{table}"')
                columns = list(result.keys())
                where = f"postgres {name}.{schema}.{table}"
                n = _scan_rows(where, columns, result, canaries, report)
                report.tables += 1
                report.rows += n
                report.rows_by_table[where] = n
    finally:
        engine.dispose()


def scan_postgres(admin_url: str, prefix: str, canaries: CanarySet,
                  report: ScanReport) -> list[str]:
    """Every database whose name starts with `prefix`; returns their names."""
    names = postgres_databases(admin_url, prefix)
    base = admin_url.rsplit("/", 1)[0]
    for name in names:
        scan_postgres_database(f"{base}/{name}", canaries, report)
    return names


RAW_FORMS = frozenset({"raw", "json"})  # what a database stores a text value as


def scan_postgres_storage(admin_url: str, names: list[str], since: float,
                          canaries: CanarySet, report: ScanReport) -> str | None:
    """The raw files of the databases `names` (after a CHECKPOINT: dead row versions and
    free space included) and the WAL segments written since `since` (a time.time()),
    when the server's data directory is on this machine and readable; otherwise the
    reason it was skipped. Only the forms a text value is stored in are looked for (a
    value long enough to be TOAST-compressed would escape this scan, not the logical one)."""
    admin = make_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            try:
                conn.execute(text("CHECKPOINT"))
            except Exception as error:
                report.skipped.append(f"CHECKPOINT ({type(error).__name__})")
            data_dir = Path(conn.execute(text("SHOW data_directory")).scalar_one())
            oids = conn.execute(text("SELECT oid FROM pg_database WHERE datname = ANY(:n)"),
                                {"n": names}).scalars().all()
    finally:
        admin.dispose()
    try:
        base = [data_dir / "base" / str(oid) for oid in oids]
        files = [f for d in base for f in sorted(d.rglob("*")) if f.is_file()]
        files += [f for f in sorted((data_dir / "pg_wal").iterdir())
                  if f.is_file() and f.stat().st_mtime >= since]
        assert files
    except (OSError, AssertionError) as error:
        reason = f"PostgreSQL's files in {data_dir}: {type(error).__name__}"
        report.skipped.append(reason)
        return reason
    vanished = 0
    for path in files:
        try:
            scan_file_raw(path, f"postgres file {path.relative_to(data_dir)}", canaries,
                          report, RAW_FORMS)
        except FileNotFoundError:  # a WAL segment recycled, a relation rewritten meanwhile
            vanished += 1
    if vanished:
        report.skipped.append(f"{vanished} of PostgreSQL's files vanished while scanned")
    return None


class FileTail:
    """The lines appended to some files from now on (a server log others write too)."""

    def __init__(self, paths: Iterable[Path]) -> None:
        self.offsets = {p: p.stat().st_size for p in paths}

    def lines(self) -> dict[Path, list[str]]:
        out = {}
        for path, offset in self.offsets.items():
            with path.open("rb") as f:
                f.seek(offset)
                out[path] = f.read().decode("utf-8", "replace").splitlines()
        return out


def scan_sqlite_file(path: Path, canaries: CanarySet, report: ScanReport) -> None:
    """Every column of every row of every table (sqlite_master's own included)."""
    report.databases.append(path.name)
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    conn.text_factory = bytes  # whatever the bytes are, scan them (decoded both ways)
    try:
        tables = [r[0].decode() for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        assert tables, f"{path}: no tables: the scan would prove nothing"
        for table in ("sqlite_master", *tables):
            cursor = conn.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            where = f"sqlite {path.name}:{table}"
            n = _scan_rows(where, columns, cursor, canaries, report)
            report.tables += 1
            report.rows += n
            report.rows_by_table[where] = n
    finally:
        conn.close()


def scan_file_raw(path: Path, where: str, canaries: CanarySet, report: ScanReport,
                  forms: frozenset[str] | None = None) -> None:
    """The raw bytes of one file."""
    data = path.read_bytes()
    report.files += 1
    report.file_bytes += len(data)
    found = canaries.found_in_bytes(data, forms)
    if found:
        lowered = data.decode("latin-1").lower()  # same length as `data`
        at = min((i for i in (lowered.find(n.text) for n in canaries.needles) if i >= 0),
                 default=0)
        report.leak(f"{where} (raw bytes)", found, lowered[max(0, at - 60):at + 120])


def scan_files_raw(root: Path, canaries: CanarySet, report: ScanReport,
                   label: str = "file", forms: frozenset[str] | None = None) -> int:
    """The raw bytes of every file under `root` (database files, their -wal and -shm,
    journals, keys): free pages and WAL frames keep what a table no longer shows."""
    paths = sorted(p for p in root.rglob("*") if p.is_file())
    for path in paths:
        scan_file_raw(path, f"{label} {path.relative_to(root)}", canaries, report, forms)
    return len(paths)


def scan_sqlite_dir(root: Path, canaries: CanarySet, report: ScanReport) -> list[Path]:
    """Every `*.db` under `root`, table by table, and every file under it raw."""
    paths = sorted(root.rglob("*.db"))
    for path in paths:
        scan_sqlite_file(path, canaries, report)
    scan_files_raw(root, canaries, report)
    return paths


# -- (b) the broker --------------------------------------------------------------------------
@dataclass(frozen=True)
class TappedMessage:
    exchange: str
    routing_key: str
    properties: pika.BasicProperties
    body: bytes


class Tap:
    """An exclusive, auto-deleted queue with a unique name, bound to `#` on `exchange`
    (declared here as `Topology` declares it, so the tap can be in place before any
    service starts). A thread consumes it for as long as the tap is open, so the
    connection keeps its heartbeats and nothing piles up; `messages` is complete once
    `close()` returned. Also a context manager."""

    def __init__(self, amqp_url: str, exchange: str) -> None:
        self.amqp_url = amqp_url
        self.exchange = exchange
        self.queue = f"{exchange}.canary-tap.{uuid.uuid4().hex[:8]}"
        self.messages: list[TappedMessage] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="canary-tap", daemon=True)

    def open(self) -> Tap:
        self._thread.start()
        if not self._ready.wait(30):
            raise AssertionError("the tap queue was not bound within 30 s")
        if self._error is not None:
            raise self._error
        return self

    def close(self) -> list[TappedMessage]:
        self._stop.set()
        self._thread.join(30)
        if self._error is not None:
            raise self._error
        return self.messages

    def __enter__(self) -> Tap:
        return self.open()

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        try:
            parameters = pika.URLParameters(self.amqp_url)
            parameters.client_properties = {"connection_name": "bridgeline-canary-tap"}
            connection = pika.BlockingConnection(parameters)
            try:
                channel = connection.channel()
                Topology(self.exchange).declare_exchange(channel)
                channel.queue_declare(self.queue, exclusive=True, auto_delete=True)
                channel.queue_bind(self.queue, self.exchange, routing_key="#")
                channel.basic_consume(self.queue, self._on_message)
                self._ready.set()
                while not self._stop.is_set():
                    connection.process_data_events(time_limit=0.2)
                # whatever is still in the queue: take it before the queue goes away
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and self._pending(channel):
                    connection.process_data_events(time_limit=0.2)
            finally:
                connection.close()  # exclusive + auto-delete: the queue is gone with it
        except BaseException as error:  # reported to the test by open()/close()
            self._error = error
            self._ready.set()

    def _pending(self, channel: Any) -> int:
        return channel.queue_declare(self.queue, passive=True).method.message_count

    def _on_message(self, channel: Any, method: Any, properties: pika.BasicProperties,
                    body: bytes) -> None:
        self.messages.append(TappedMessage(method.exchange, method.routing_key, properties,
                                           body))
        channel.basic_ack(method.delivery_tag)


def scan_messages(messages: Iterable[TappedMessage], canaries: CanarySet,
                  report: ScanReport, label: str = "message") -> None:
    """Body, headers and every property of each message."""
    for m in messages:
        report.messages += 1
        report.message_types[m.routing_key] = report.message_types.get(m.routing_key, 0) + 1
        with contextlib.suppress(ValueError, KeyError, TypeError):  # not a CloudEvent
            report.event_ids.add(str(json.loads(m.body)["id"]))
        found = sorted(set(canaries.found_in_bytes(m.body)
                           + canaries.found_in(render(m.properties.headers))
                           + canaries.found_in(repr(m.properties))
                           + canaries.found_in(m.routing_key)))
        if found:
            report.leak(f"{label} {m.routing_key} on {m.exchange}", found,
                        m.body.decode("utf-8", "replace") + " " + repr(m.properties))


# -- (c) logs --------------------------------------------------------------------------------
def scan_log_lines(where: str, lines: Iterable[str], canaries: CanarySet,
                   report: ScanReport) -> int:
    count = 0
    for number, line in enumerate(lines, 1):
        count += 1
        found = canaries.found_in(line)
        if found:
            report.leak(f"{where} line {number}", found, line)
    report.log_lines += count
    return count


def scan_log_files(paths: Iterable[Path], canaries: CanarySet, report: ScanReport) -> int:
    """Each file's lines, decoded leniently (a process may write anything)."""
    total = 0
    for path in paths:
        data = path.read_bytes()
        total += scan_log_lines(str(path.name), data.decode("utf-8", "replace").splitlines(),
                                canaries, report)
        found = canaries.found_in_bytes(data)  # forms a line split could hide
        if found and not any(leak.where.startswith(path.name) for leak in report.leaks):
            report.leak(f"{path.name} (raw bytes)", found, "")
    return total
