"""Every error a service returns is RFC 9457 `application/problem+json`.

One place turns the three sources of errors into problems: our own `Problem`, werkzeug's
HTTP errors (404, 405, 413, webargs' 400/422), and unexpected exceptions (500, logged by
type and stack only, never by message).
"""

from __future__ import annotations

import http
import json
import logging
from typing import Any

import marshmallow as ma
from flask import Flask, Response, g, request
from flask_smorest import Api
from flask_smorest.spec import prepare_response
from sqlalchemy.exc import DataError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from shared.crypto.errors import UnencodableText
from shared.db.outage import database_unavailable
from shared.web.problems import PROBLEM_MEDIA_TYPE, Problem

log = logging.getLogger("bridgeline.web")
UNREADABLE_INPUT = (RecursionError, UnicodeEncodeError, UnencodableText, DataError)

DETAILS = {
    400: "The request could not be read.",
    404: "There is nothing at this address.",
    405: "This address does not accept that method.",
    413: "The request body is larger than this service accepts.",
    415: "Send the body as application/json.",
    422: "The request body or parameters did not validate; see `errors`.",
    500: "Something went wrong on our side. It has been logged; the request id identifies it.",
}
DATABASE_AWAY = "A database this service needs is not reachable right now. Try again shortly."
RETRY_AFTER_SECONDS = "5"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only)."""

    type = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String()
    instance = ma.fields.String()
    errors = ma.fields.Dict(metadata={"description": "Field messages (422)."})
    request_id = ma.fields.String()


def render_problem(problem: Problem) -> Response:
    body = problem.to_dict()
    body.setdefault("request_id", g.get("request_id"))
    response = Response(json.dumps(body), status=problem.status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def problem_from_http(error: HTTPException) -> Problem:
    status = error.code or 500
    data: dict[str, Any] = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers: dict[str, str] = {}
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    detail = DETAILS.get(status, error.description)
    if status == 400 and messages == {"json": ["Invalid JSON body."]}:
        return Problem(400, "Malformed JSON", detail="The request body is not valid JSON.")
    return Problem(status, error.name, detail=detail, errors=_field_errors(messages),
                   headers=headers)


def _field_errors(messages: Any) -> dict[str, Any] | None:
    """webargs groups messages by location; a single location is flattened away."""
    if not isinstance(messages, dict) or not messages:
        return None
    if len(messages) == 1:
        (only,) = messages.values()
        return only if isinstance(only, dict) else {"_": only}
    return messages


class ProblemApi(Api):
    """flask-smorest's Api, documenting and rendering errors as problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> Response:
        if (error.code or 500) >= 500:
            original = getattr(error, "original_exception", None) or error
            log.error("unhandled error", exc_info=(type(original), original,
                                                   original.__traceback__))
        return render_problem(problem_from_http(error))

    def _register_responses(self) -> None:
        """flask-smorest's lazily registered error responses, as problem+json."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Default error response", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_MEDIA_TYPE)
        self.spec.components.response("DEFAULT_ERROR", default, lazy=True)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(Problem, render_problem)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response:
        if isinstance(error, HTTPException):
            return render_problem(problem_from_http(error))
        if database_unavailable(error):
            # Not a bug: PostgreSQL restarting, a network cut. The same request will
            # work once it is back; readiness says 503 meanwhile too.
            log.warning("database unavailable", extra={"fields": {
                "request_id": g.get("request_id"), "route": _route(),
                "exc_type": type(error).__name__}})
            return render_problem(Problem(503, "Service Unavailable", detail=DATABASE_AWAY,
                                          headers={"Retry-After": RETRY_AFTER_SECONDS}))
        if isinstance(error, UNREADABLE_INPUT):
            # Input no schema can hold: JSON nested past the recursion limit, a lone
            # surrogate that cannot be encoded, a NUL byte PostgreSQL refuses to store.
            return render_problem(Problem(400, "Unreadable Request", detail=(
                "The request holds characters or nesting this service cannot store.")))
        log.error("unhandled error", exc_info=(type(error), error, error.__traceback__),
                  extra={"fields": {"request_id": g.get("request_id"), "route": _route()}})
        return render_problem(Problem(500, detail=DETAILS[500]))


def _route() -> str:
    return request.url_rule.rule if request.url_rule else "unmatched"
