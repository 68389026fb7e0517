"""Every bench script runs its quickest form and prints its table (needs the machine's
PostgreSQL and RabbitMQ, like the integration tests; about a minute in all)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"

# script -> (arguments for a tiny run, lines its table and summary must contain)
RUNS = {
    "crypto_bench.py": (["--quick"], ["bytes", "ratio", "encrypt+decrypt of one"]),
    "messaging_bench.py": (["--quick"], ["medians in messages/s", "outbox relay",
                                         "consumer with inbox"]),
    "attendance_bench.py": (["--quick", "--batches", "1", "--size", "50", "--history", "100"],
                            ["records/s", "plain Core insert", "webhook, new records",
                             "resend, same webhook-id", "attendance webhook ingest"]),
    "events_bench.py": (["--quick", "--contend", "1"], [
        "event latency at 200 events/s", "1 busy-loop process(es) competing for the CPU",
        "bare pika publish", "outbox", "event latency p95:"]),
    "scaleout_bench.py": (["--quick"], ["relays + consumers", "2 relays + 2 consumers vs 1 + 1",
                                        "duplicates: 0, skipped: 0"]),
    "http_bench.py": (["--quick"], ["baseline req/s", "GET /v1/referrals/{id}",
                                    "floor: bare Flask + one PostgreSQL read",
                                    "POST /v1/referrals", "event pipeline running",
                                    "http throughput:"]),
    "memory_bench.py": (["--quick"], ["after start MB", "gunicorn worker",
                                      "sum of its 3 processes", "resident memory:"]),
}


def test_every_bench_script_is_covered():
    assert sorted(p.name for p in BENCH.glob("*_bench.py")) == sorted(RUNS)


@pytest.mark.parametrize("script", sorted(RUNS))
def test_bench_script_runs_quick_and_prints_its_table(script):
    arguments, expected = RUNS[script]
    done = subprocess.run([sys.executable, str(BENCH / script), *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    for text in expected:
        assert text in done.stdout, done.stdout


@pytest.fixture(scope="module")
def events_bench():
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(BENCH))  # as when run: its sibling modules importable
        yield importlib.import_module("events_bench")


@pytest.mark.parametrize(("behind_ms", "held"), [(120.0, True), (500.0, True), (501.0, False)])
def test_events_table_says_when_a_producer_could_not_hold_the_rate(events_bench, behind_ms,
                                                                   held):
    path = {"p50": 2.0, "p95": 5.0, "p99": 6.0, "max": 7.0, "missing": 0, "behind": 1.0,
            "checkpoints": 0, "to_handler_p50": 1.5, "to_handler_p95": 4.0}
    rounds = [{"plain": dict(path), "outbox": dict(path, p95=9.0)},
              {"plain": dict(path, behind=behind_ms), "outbox": dict(path, p95=11.0)}]
    lines = events_bench.table(rounds, 1200, 200.0)
    assert ("rate not held" not in "\n".join(lines)) is held
    assert lines[-1].endswith("+5.0 ms over (aim: under +50 ms)")
    if not held:
        assert any(line.startswith(f"rate not held: a producer fell {behind_ms:.0f} ms")
                   for line in lines)
