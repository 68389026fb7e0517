"""From the outside, as an integrator sees it: three services up, one credential that
works everywhere, revocation within 30 s, readiness, and a clean stop."""

import time

import pytest
import requests

from tests.e2e.conftest import SERVICES, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def test_every_service_is_ready_and_documents_itself(stack):
    for service in SERVICES:
        assert requests.get(stack.url(service, "/readyz"), timeout=5).json()["checks"] == {
            "database": "ok", "directory": "ok", "broker": "ok"}
        spec = requests.get(stack.url(service, "/openapi.json"), timeout=5).json()
        assert spec["openapi"] == "3.1.0"


def test_a_cli_token_works_everywhere_and_revocation_bites_within_30_seconds(stack):
    employer_id = stack.cli("employers", "create", "--name", "Acme")[-1]
    token = stack.cli("clients", "create", "--employer", employer_id, "--role", "hr")[-1]
    auth = {"Authorization": f"Bearer {token}"}
    for service in SERVICES:
        me = requests.get(stack.url(service, "/v1/me"), headers=auth, timeout=5)
        assert me.status_code == 200
        assert me.json()["employer_id"] == employer_id
    stack.cli("clients", "revoke", token.split(".")[1])
    revoked_at = time.monotonic()

    def refused_everywhere():
        return all(requests.get(stack.url(s, "/v1/me"), headers=auth, timeout=5).status_code == 401
                   for s in SERVICES)

    wait_for(refused_everywhere, timeout=30, interval=0.5)
    assert time.monotonic() - revoked_at < 30
    problem = requests.get(stack.url("referral", "/v1/me"), headers=auth, timeout=5)
    assert problem.headers["Content-Type"] == "application/problem+json"


def test_readiness_follows_the_broker(stack, amqp_url):
    """A service whose broker goes away answers 503 on /readyz (and 200 on /healthz),
    and is ready again when the broker returns, without a restart."""
    import subprocess
    import sys

    from tests.e2e.conftest import free_port
    from tests.support.tcp_proxy import TcpProxy

    proxy = TcpProxy("127.0.0.1", 5672).start()
    port = free_port()
    env = {**stack.env, "AMQP_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}/%2F"}
    web = subprocess.Popen([sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}",
                            "referral.app:create_app()"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def readyz():
        try:
            return requests.get(base + "/readyz", timeout=5)
        except requests.RequestException:
            return None

    try:
        wait_for(lambda: (r := readyz()) is not None and r.status_code == 200, timeout=30)
        proxy.cut()
        # (a 5xx Response is falsy, so hand wait_for a list holding it)
        (down,) = wait_for(lambda: [r] if (r := readyz()) is not None and r.status_code == 503
                           else None, timeout=15)
        assert down.headers["Content-Type"] == "application/problem+json"
        assert down.json()["checks"]["broker"] == "unavailable"
        assert requests.get(base + "/healthz", timeout=5).status_code == 200
        proxy.restore()
        wait_for(lambda: (r := readyz()) is not None and r.status_code == 200, timeout=15)
    finally:
        web.terminate()
        web.wait(15)
        proxy.cut()


def test_zz_ctrl_c_stops_every_process_cleanly(stack):
    """Runs last in this module: Ctrl-C on `bridgeline up` stops all services."""
    assert stack.stop() == 0
    for service in SERVICES:
        with pytest.raises(requests.ConnectionError):
            requests.get(stack.url(service, "/healthz"), timeout=2)
