"""The HTTP load generator of the benches: wrk (`deploy/scripts/ensure-wrk.sh` installs
it), or, only when wrk is absent, a multi-threaded Python client with keep-alive
connections. Both send a rotation of request templates; `{n}` in a template's path,
headers or body becomes a token unique to the request (run prefix, thread, counter), so
every POST creates something new and no two share an Idempotency-Key.

    result = load(base_url, [Template("GET", "/v1/things/1")], seconds=5)
    result.rps, result.requests, result.bad            # bad = non-2xx/3xx + socket errors
    load(base_url, templates, limit=10_000)            # stop after 10,000 responses
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

CONNECTIONS = 8  # twice the services' threads per worker: every thread always has work


@dataclass(frozen=True)
class Template:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None


@dataclass(frozen=True)
class LoadResult:
    tool: str
    requests: int
    seconds: float
    bad: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


def load(base_url: str, templates: list[Template], *, seconds: float | None = None,
         limit: int | None = None, connections: int = CONNECTIONS) -> LoadResult:
    """Send the templates in rotation for `seconds`, or until `limit` responses."""
    if (seconds is None) == (limit is None):
        raise ValueError("give seconds or limit")
    if generator() == "wrk":
        return _wrk(base_url, templates, seconds, limit, connections)
    return _python(base_url, templates, seconds, limit, connections)


# -- wrk ---------------------------------------------------------------------------------------
def _lua(value: str) -> str:
    if not value.isascii():
        raise ValueError("templates are ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def lua_script(templates: list[Template], prefix: str, limit: int | None) -> str:
    """A wrk script sending `templates` in rotation, `{n}` made unique per request; with
    `limit`, each thread stops after that many responses and says so on stderr."""
    rows = []
    for t in templates:
        headers = ", ".join(f"[{_lua(k)}] = {_lua(v)}" for k, v in t.headers.items())
        body = "nil" if t.body is None else _lua(t.body)
        dynamic = "true" if any("{n}" in s for s in (t.path, t.body or "", *t.headers.values())) \
            else "false"
        rows.append(f"  {{method = {_lua(t.method)}, path = {_lua(t.path)}, "
                    f"headers = {{{headers}}}, body = {body}, dynamic = {dynamic}}},")
    script = [
        f"local prefix = {_lua(prefix)}",
        "local templates = {", *rows, "}",
        "local static = {}",
        "local counter = 0",
        "tid = 0",
        "local threads = 0",
        "function setup(thread)",
        "  threads = threads + 1",
        "  thread:set(\"tid\", threads)",
        "end",
        "local function fill(s, n)",
        "  return (string.gsub(s, \"{n}\", n))",
        "end",
        "function init(args)",
        "  for i, t in ipairs(templates) do",
        "    if not t.dynamic then static[i] = wrk.format(t.method, t.path, t.headers, t.body) end",
        "  end",
        "end",
        "function request()",
        "  counter = counter + 1",
        "  local i = (counter - 1) % #templates + 1",
        "  if static[i] then return static[i] end",
        "  local t = templates[i]",
        "  local n = prefix .. \"-\" .. tid .. \"-\" .. counter",
        "  local headers = {}",
        "  for k, v in pairs(t.headers) do headers[k] = fill(v, n) end",
        "  local body = t.body and fill(t.body, n) or nil",
        "  return wrk.format(t.method, fill(t.path, n), headers, body)",
        "end",
    ]
    if limit is not None:
        script += [
            f"local limit = {int(limit)}",
            "local answered = 0",
            "function response(status, headers, body)",
            "  answered = answered + 1",
            "  if answered == limit then",
            "    io.stderr:write(\"limit\\n\")",
            "    io.stderr:flush()",
            "    wrk.thread:stop()",
            "  end",
            "end",
        ]
    return "\n".join(script) + "\n"


_REQUESTS = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b", re.M)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


def parse_wrk(output: str) -> LoadResult:
    found = _REQUESTS.search(output)
    if not found:
        raise RuntimeError(f"no result in wrk's output:\n{output}")
    requests, amount, unit = int(found[1]), float(found[2]), found[3]
    bad = sum(int(x) for x in (_NON_2XX.findall(output)))
    socket_errors = _SOCKET.search(output)
    if socket_errors:
        bad += sum(int(x) for x in socket_errors.groups())
    return LoadResult("wrk", requests, amount * _UNIT[unit], bad)


def _wrk(base_url: str, templates: list[Template], seconds: float | None, limit: int | None,
         connections: int) -> LoadResult:
    # One wrk thread: on this 2-core machine the servers need the other core more.
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench.lua"
        script.write_text(lua_script(templates, uuid.uuid4().hex[:10], limit))
        # wrk takes whole seconds
        duration = f"{max(1, round(seconds))}s" if seconds is not None else "3600s"
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--timeout", "30s",
                "-s", str(script), base_url]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        if limit is not None:
            assert process.stderr is not None
            line = process.stderr.readline()  # "limit", once every response came back
            if line.strip() == "limit":
                process.send_signal(signal.SIGINT)  # wrk then stops and prints its summary
        out, err = process.communicate(timeout=(seconds or 3600) + 60)
        if process.returncode != 0:
            raise RuntimeError(f"wrk failed ({process.returncode}): {err}\n{out}")
        return parse_wrk(out)


# -- the Python fallback -----------------------------------------------------------------------
def _python(base_url: str, templates: list[Template], seconds: float | None,
            limit: int | None, connections: int) -> LoadResult:
    parts = urlsplit(base_url)
    prefix = uuid.uuid4().hex[:10]
    lock = threading.Lock()
    counts = {"sent": 0, "done": 0, "bad": 0}
    stop = threading.Event()

    def worker(tid: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = 0
        while not stop.is_set():
            with lock:
                if limit is not None and counts["sent"] >= limit:
                    return
                counts["sent"] += 1
                i = counts["sent"] - 1
            n += 1
            t = templates[i % len(templates)]
            token = f"{prefix}-{tid}-{n}"
            body = t.body.replace("{n}", token).encode() if t.body is not None else None
            headers = {k: v.replace("{n}", token) for k, v in t.headers.items()}
            try:
                conn.request(t.method, t.path.replace("{n}", token), body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status < 400
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                ok = False
            with lock:
                counts["done"] += 1
                counts["bad"] += 0 if ok else 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True)
               for i in range(connections)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    if seconds is not None:
        time.sleep(seconds)
        stop.set()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return LoadResult("python", counts["done"], elapsed, counts["bad"])
