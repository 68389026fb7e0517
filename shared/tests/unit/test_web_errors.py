"""Every error of every service is RFC 9457 problem+json, whatever went wrong."""

import json
import logging

import marshmallow as ma
import psycopg
import psycopg.errors
import pytest
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy.exc import OperationalError, ProgrammingError

from shared.logs import JsonFormatter
from shared.web.app_factory import create_service_app
from shared.web.auth import requires_roles

SERVICES = ("referral", "accommodation", "attestation")
CANARY = "Zanzibar-Quokka-4471"

widgets = Blueprint("widgets", __name__, url_prefix="/v1/widgets")


class WidgetIn(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(max=20))
    count = ma.fields.Integer()


@widgets.route("")
class Widgets(MethodView):
    @requires_roles("hr")
    @widgets.arguments(WidgetIn)
    @widgets.response(201, WidgetIn)
    def post(self, data):
        """Create a widget"""
        return data


@widgets.route("/boom")
class Boom(MethodView):
    def get(self):
        """Fail unexpectedly"""
        raise RuntimeError(f"secret value {CANARY}")


@widgets.route("/database-away")
class DatabaseAway(MethodView):
    def get(self):
        """Meet an unreachable database"""
        orig = psycopg.OperationalError(f"connection to server failed {CANARY}")
        raise OperationalError("SELECT 1", {}, orig)


@widgets.route("/bad-query")
class BadQuery(MethodView):
    def get(self):
        """Run a statement the database refuses"""
        raise ProgrammingError("SELECT x", {}, psycopg.errors.UndefinedTable(CANARY))


@pytest.fixture
def widget_app(platform):
    app = create_service_app(platform.runtime("referral"), title="t", description="d",
                             blueprints=[widgets])
    app.testing = True
    return app


@pytest.fixture
def hr(platform):
    return {"Authorization": f"Bearer {platform.client_token('hr')}"}


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert body["title"]
    assert body["request_id"] == response.headers["X-Request-Id"]
    return body


BAD_BODIES = [
    # (description, kwargs for client.post, status, expected errors)
    ("malformed JSON", dict(data="{bad", content_type="application/json"), 400, None),
    ("wrong content type", dict(data="name=x", content_type="application/x-www-form-urlencoded"), 415, None),
    ("missing fields", dict(json={}), 422, {"name": ["Missing data for required field."]}),
    ("unknown fields", dict(json={"name": "x", "color": "red"}), 422, {"color": ["Unknown field."]}),
    ("wrong type", dict(json={"name": "x", "count": "many"}), 422, {"count": ["Not a valid integer."]}),
    ("too long", dict(json={"name": "x" * 21}), 422, {"name": ["Longer than maximum length 20."]}),
    ("not an object", dict(json=["name"]), 422, {"_schema": ["Invalid input type."]}),
    ("oversized body", dict(data="x" * (1024 * 1024 + 1), content_type="application/json"), 413, None),
]


@pytest.mark.parametrize("what,kwargs,status,errors", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies(widget_app, hr, what, kwargs, status, errors):
    body = assert_problem(widget_app.test_client().post("/v1/widgets", headers=hr, **kwargs), status)
    if errors is not None:
        assert body["errors"] == errors


def test_a_valid_body_passes(widget_app, hr):
    response = widget_app.test_client().post("/v1/widgets", headers=hr, json={"name": "ok"})
    assert response.status_code == 201
    assert response.get_json() == {"name": "ok"}


def test_unexpected_errors_are_500_problems_and_leak_nothing(widget_app, caplog):
    with caplog.at_level(logging.ERROR):
        response = widget_app.test_client().get("/v1/widgets/boom")
    body = assert_problem(response, 500)
    assert CANARY not in json.dumps(body)
    assert "Traceback" not in response.get_data(as_text=True)
    record = next(r for r in caplog.records if r.name == "bridgeline.web")
    line = JsonFormatter("referral").format(record)
    assert CANARY not in line
    assert json.loads(line)["exc_type"] == "RuntimeError"
    assert any("Boom.get" in frame or "get" in frame for frame in json.loads(line)["stack"])


def test_an_unreachable_database_is_a_503_problem_with_retry_after(widget_app, caplog):
    with caplog.at_level(logging.WARNING):
        response = widget_app.test_client().get("/v1/widgets/database-away")
    body = assert_problem(response, 503)
    assert body["title"] == "Service Unavailable"
    assert response.headers["Retry-After"] == "5"
    assert CANARY not in response.get_data(as_text=True)
    record = next(r for r in caplog.records if r.name == "bridgeline.web")
    line = JsonFormatter("referral").format(record)
    assert record.levelno == logging.WARNING and CANARY not in line
    assert json.loads(line)["exc_type"] == "OperationalError"


def test_a_statement_the_database_refuses_stays_a_500(widget_app):
    response = widget_app.test_client().get("/v1/widgets/bad-query")
    assert CANARY not in response.get_data(as_text=True)
    assert_problem(response, 500)


GENERIC = [
    ("unknown path", "get", "/v1/nothing-here", {}, 404),
    ("wrong method", "delete", "/healthz", {}, 405),
    ("no token", "get", "/v1/me", {}, 401),
    ("wrong scheme", "get", "/v1/me", {"Authorization": "Basic dXNlcjpwYXNz"}, 401),
    ("malformed token", "get", "/v1/me", {"Authorization": "Bearer not-a-token"}, 401),
    ("empty bearer", "get", "/v1/me", {"Authorization": "Bearer "}, 401),
    ("well-formed unknown token", "get", "/v1/me",
     {"Authorization": "Bearer bl1.cli_aaaaaaaaaaaaaaaaaaaaaaaaaa." + "A" * 43}, 401),
]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("what,method,path,headers,status", GENERIC, ids=[g[0] for g in GENERIC])
def test_every_service_answers_bad_requests_with_problems(platform, service, what, method, path,
                                                          headers, status):
    client = platform.app(service).test_client()
    response = getattr(client, method)(path, headers=headers)
    assert_problem(response, status)
    if status == 405:
        assert "GET" in response.headers["Allow"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_refuses_oversized_and_non_json_bodies(platform, service):
    client = platform.app(service).test_client()
    assert_problem(client.post("/v1/anything", data="x" * (2 * 1024 * 1024),
                               content_type="application/json"), 413)
    assert_problem(client.post("/v1/anything", data="<xml/>", content_type="application/xml"), 415)
