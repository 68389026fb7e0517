"""`make demo`: the whole Bridgeline story against the services, printing step by step
what each party sees (HR, the employee, the provider, the specialist, the manager, the
employer). The steps are `tests/support/story.py`, the same ones the e2e test runs.

It uses the services if they already answer on their ports (a `make run` in another
terminal); otherwise it starts `bridgeline up` itself in the background (its output goes
to `$BRIDGELINE_VAR_DIR/demo-up.log`), runs the story, and stops them again. Settings
come from the environment exactly as for `make run` (ports, databases, broker, keys).
The local webhook receivers listen on 127.0.0.1 over http, which only a dev environment
(`BRIDGELINE_ENV=dev`, the default) accepts as a webhook URL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.config import Settings, var_dir  # noqa: E402
from tests.support.story import Narrator, Story  # noqa: E402

SERVICES = ("referral", "accommodation", "attestation")
START_TIMEOUT = 90.0


def base_urls() -> dict[str, str]:
    return {s: f"http://127.0.0.1:{Settings.from_env(s).port}" for s in SERVICES}


def ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def cli(*args: str) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "shared.cli", *args],  # noqa: S603 (ours)
                         capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"bridgeline {' '.join(args[:2])} failed:\n{out.stderr.strip()}")
    return out.stdout.strip().splitlines()


def start_services(urls: dict[str, str]) -> subprocess.Popen[bytes]:
    log_path = var_dir(dict(os.environ)) / "demo-up.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    print(f"Starting the services (`bridgeline up`, log in {log_path}) ...")
    with log_path.open("ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "shared.cli", "up"], cwd=ROOT,
                                   stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not all(ready(url) for url in urls.values()):
        if process.poll() is not None:
            raise SystemExit(f"`bridgeline up` exited ({process.returncode}); see {log_path}")
        if time.monotonic() > deadline:
            stop_services(process)
            raise SystemExit(f"the services were not ready within {START_TIMEOUT:g} s; "
                             f"see {log_path}")
        time.sleep(0.5)
    return process


def stop_services(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def main() -> int:
    urls = base_urls()
    started = None
    up = [s for s, url in urls.items() if ready(url)]
    if len(up) == len(SERVICES):
        print("Using the running services: " + ", ".join(f"{s} {u}" for s, u in urls.items()))
    elif up:
        raise SystemExit(f"only {', '.join(up)} answer on their ports; stop the other "
                         "processes or start all of them with `make run`")
    else:
        started = start_services(urls)
    cli("signing-keys", "init", "--if-missing")  # as `make setup` does; harmless if present
    print("\nThe Bridgeline story: who sees what, step by step")
    try:
        Story(urls, cli, narrator=Narrator(), timeout=90).run()
    except AssertionError as failed:
        print(f"\nThe story stopped: {failed}", file=sys.stderr)
        return 1
    finally:
        if started is not None:
            stop_services(started)
    print("\nDone: every party saw only what the employee agreed to share.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
