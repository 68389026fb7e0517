import json
import logging

import pytest
from openapi_spec_validator import validate

SERVICES = ("referral", "accommodation", "attestation")


@pytest.mark.parametrize("service", SERVICES)
def test_health_and_readiness(platform, service):
    client = platform.app(service).test_client()
    assert client.get("/healthz").get_json() == {"status": "ok", "service": service}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.get_json()["checks"] == {"database": "ok", "directory": "ok", "broker": "ok"}


@pytest.mark.parametrize("service", SERVICES)
def test_readiness_is_a_503_problem_when_the_broker_is_down(platform, service):
    client = platform.app(service, broker_up=False).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["checks"]["broker"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert response.headers["Retry-After"] == "5"
    assert client.get("/healthz").status_code == 200


def test_readiness_probes_a_real_unreachable_broker(platform):
    """The real probe, pointed at a port nothing listens on."""
    from shared.web.health import BrokerProbe

    probe = BrokerProbe("amqp://guest:guest@127.0.0.1:1/%2F", timeout=1)
    assert probe() is False


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_is_valid_3_1_and_documents_problems(platform, service):
    client = platform.app(service).test_client()
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    me = spec["paths"]["/v1/me"]["get"]
    assert me["security"] == [{"bearerAuth": []}]
    default_error = spec["components"]["responses"]["DEFAULT_ERROR"]
    assert list(default_error["content"]) == ["application/problem+json"]


@pytest.mark.parametrize("service", SERVICES)
def test_docs_page_is_self_contained(platform, service):
    response = platform.app(service).test_client().get("/docs")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "/v1/me" in html and "<script" not in html and "http://" not in html.replace(
        "http://localhost", "")
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_metrics_count_requests_by_route(platform):
    client = platform.app("attestation").test_client()
    client.get("/healthz")
    client.get("/v1/nothing")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'bridgeline_http_requests_total{method="GET",route="/healthz",service="attestation",status="200"} 1.0' in text
    assert 'route="unmatched",service="attestation",status="404"' in text


def test_access_log_has_the_route_template_never_the_path_or_body(platform, caplog):
    from shared.logs import JsonFormatter

    app = platform.app("referral")
    app.add_url_rule("/probe/<token>", "probe", lambda token: "ok")
    token = "tok-Zanzibar-Quokka-4471"
    with caplog.at_level(logging.INFO, logger="bridgeline.access"):
        app.test_client().get(f"/probe/{token}?email=someone@example.org")
        app.test_client().post("/v1/me", json={"name": "Quokka Zanzibar"})
    lines = [JsonFormatter("referral").format(r) for r in caplog.records
             if r.name == "bridgeline.access"]
    assert len(lines) == 2
    text = "\n".join(lines)
    assert "Zanzibar" not in text and "someone@example.org" not in text
    first = json.loads(lines[0])
    assert first["route"] == "/probe/<token>" and first["status"] == 200
    assert len(first["request_id"]) == 32


def test_request_ids_are_echoed_when_sane_and_replaced_when_not(platform):
    client = platform.app("referral").test_client()
    assert client.get("/healthz", headers={"X-Request-Id": "abc-123_XYZ.9"}).headers[
        "X-Request-Id"] == "abc-123_XYZ.9"
    replaced = client.get("/healthz", headers={"X-Request-Id": "<script>"}).headers["X-Request-Id"]
    assert replaced != "<script>" and len(replaced) == 32
    # `$` would have let a trailing newline through, and setting the header then fails
    newline = client.get("/healthz", environ_overrides={"HTTP_X_REQUEST_ID": "abc-123_XYZ.9\n"})
    assert newline.status_code == 200 and len(newline.headers["X-Request-Id"]) == 32


def test_api_responses_are_not_cached_or_sniffed(platform):
    response = platform.app("referral").test_client().get("/healthz")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_generated_request_ids_are_distinct_even_across_forked_workers():
    import os

    from shared.web.app_factory import REQUEST_ID, _new_request_id

    ids = {_new_request_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(REQUEST_ID.fullmatch(i) and len(i) == 32 for i in ids)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a gunicorn worker is a fork of its master
        os.write(write, _new_request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    childs = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert len(childs) == 32 and childs != _new_request_id()
