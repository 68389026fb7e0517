"""Every bench script runs its quickest form and prints its table (needs the machine's
PostgreSQL and RabbitMQ, like the integration tests; about a minute in all)."""

from __future__ import annotations

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
    "events_bench.py": (["--quick"], ["event latency at 200 events/s", "bare pika publish",
                                      "outbox", "event latency p95:"]),
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
