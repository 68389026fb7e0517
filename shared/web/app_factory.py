"""The one Flask app factory every service uses.

A service brings its blueprints; the factory adds what all services share: problem+json
errors, request ids, a JSON access log (route template, never the raw path, which may
hold a link token), security headers, a body size limit, JSON-only API bodies,
metrics, OpenAPI 3.1 at `/openapi.json` and a reference page at `/docs`. Behind
`TRUSTED_PROXY_HOPS` reverse proxies, the client address is the one they forwarded.
"""

from __future__ import annotations

import hmac
import random
import re
import time
import weakref
from collections.abc import Callable, Iterable
from contextlib import suppress
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask, Request, Response, g, request
from flask_smorest import Blueprint
from werkzeug.datastructures import Headers
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.logs import DirectLogger
from shared.runtime import ServiceRuntime
from shared.web import ops
from shared.web.docs import render_docs
from shared.web.errors import ProblemApi, register_error_handlers
from shared.web.metrics import HttpMetrics
from shared.web.problems import Problem

# The blueprint name every service gives its employee pages (see _route_label).
PAGES_BLUEPRINT = "pages"

access_log = DirectLogger("bridgeline.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,128}")  # the whole value (fullmatch)
BODY_METHODS = {"POST", "PUT", "PATCH"}


class ServiceFlask(Flask):
    """Flask, remembering which of its hooks and views are plain `def`s: `ensure_sync`
    asks `inspect` about each one on every request (about six times a request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Weak: a function made for one request (`after_this_request`) goes with it.
        self._is_coroutine: weakref.WeakKeyDictionary[Callable[..., Any], bool] = \
            weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        target = getattr(func, "__func__", func)  # a bound method (MethodView): its function
        try:
            is_coroutine = self._is_coroutine[target]
        except KeyError:
            is_coroutine = iscoroutinefunction(func)
            with suppress(TypeError):  # not weakly referable: asked each time
                self._is_coroutine[target] = is_coroutine
        except TypeError:  # neither hashable nor weakly referable: as Flask does
            return super().ensure_sync(func)
        return self.async_to_sync(func) if is_coroutine else func


def create_service_app(runtime: ServiceRuntime, *, title: str, description: str,
                       blueprints: Iterable[Blueprint] = (),
                       json_prefixes: tuple[str, ...] = ("/v1/",)) -> Flask:
    settings = runtime.settings
    app = ServiceFlask(settings.service)
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_content_length,
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={"info": {"description": description},
                          "servers": [{"url": settings.public_base_url}]},
    )
    app.extensions["bridgeline"] = runtime
    if settings.trusted_proxy_hops:
        # Only X-Forwarded-For, and only the hops configured: a client's own header is
        # never believed (remote_addr is what the link guard counts by).
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.trusted_proxy_hops, x_proto=0, x_host=0,
            x_port=0, x_prefix=0)
    api = ProblemApi(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "bl1 client token"})
    register_error_handlers(app)
    for blp in (ops.blp, *blueprints):
        api.register_blueprint(blp)
    metrics = HttpMetrics(settings.service)
    _install_request_hooks(app, metrics, json_prefixes)
    app.add_url_rule("/metrics", "metrics", _guarded_metrics(metrics, settings.metrics_token))
    app.add_url_rule("/docs", "docs", lambda: render_docs(api.spec.to_dict()))
    return app


def _new_request_id() -> str:
    """32 hex digits, unique in practice (random's generator, reseeded in every forked
    worker): a request id correlates log lines, it guards nothing, so it need not cost
    the kernel call for secure randomness that `uuid4` makes on every request."""
    return f"{random.getrandbits(128):032x}"


def _route_label(req: Request) -> str:
    """The route template for logs and metrics. Employee pages share one label, so
    neither a metric nor a log line tells an accept from a decline or a self-referral."""
    if req.blueprint == PAGES_BLUEPRINT:
        return "pages"
    return req.url_rule.rule if req.url_rule else "unmatched"


def _guarded_metrics(metrics: HttpMetrics, token: str | None) -> Callable[[], Response]:
    """`/metrics`, behind `METRICS_TOKEN` when it is set (scrapers send it as a bearer)."""

    def render() -> Response:
        if token and not hmac.compare_digest(
                request.headers.get("Authorization", "").encode(), f"Bearer {token}".encode()):
            raise Problem(401, "Unauthorized", detail="Send the metrics token as a bearer.",
                          headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        return metrics.render()

    return render


def _install_request_hooks(app: Flask, metrics: HttpMetrics,
                           json_prefixes: tuple[str, ...]) -> None:
    # The hooks run on every request: they take the request and `g` out of their
    # context-local proxies once instead of on every attribute.
    @app.before_request
    def start() -> None:
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        ctx.started = time.perf_counter()
        incoming = req.environ.get("HTTP_X_REQUEST_ID", "")  # the header, as WSGI has it
        ctx.request_id = incoming if REQUEST_ID.fullmatch(incoming) else _new_request_id()
        # NUL cannot be stored by PostgreSQL: refuse it before any query sees it. Employee
        # pages check their tokens' shape themselves and answer with their own 404 page.
        if req.blueprint != PAGES_BLUEPRINT and (
                "\x00" in req.path or b"%00" in req.query_string):
            raise Problem(400, "Bad Request", detail="The address holds a NUL character.")
        length = req.content_length
        limit = app.config["MAX_CONTENT_LENGTH"]
        if length is not None and length > limit:
            raise Problem(413, "Content Too Large",
                          detail=f"The body is over this service's limit of {limit} bytes.")
        if (req.method in BODY_METHODS and req.path.startswith(json_prefixes)
                and (length or req.headers.get("Transfer-Encoding"))
                and not req.is_json):
            raise Problem(415, "Unsupported Media Type",
                          detail="Send the body as application/json.")

    @app.after_request
    def finish(response: Response) -> Response:
        req: Request = request._get_current_object()  # type: ignore[attr-defined]
        ctx = g._get_current_object()
        route = _route_label(req)
        now = time.perf_counter()
        elapsed = now - getattr(ctx, "started", now)
        principal = getattr(ctx, "principal", None)
        request_id = getattr(ctx, "request_id", None)
        _stamp_headers(response.headers, request_id or "")
        metrics.observe(req.method, route, response.status_code, elapsed)
        access_log.info("request", {
            "request_id": request_id, "method": req.method, "route": route,
            "status": response.status_code, "duration_ms": round(elapsed * 1000, 2),
            "client_id": principal.client_id if principal else None})
        return response


# Headers on every response: (name, value, whether it replaces one the view set).
_EVERY_RESPONSE = (("Cache-Control", "no-store", False),
                   ("X-Content-Type-Options", "nosniff", True),
                   ("Referrer-Policy", "no-referrer", True))


def _stamp_headers(headers: Headers, request_id: str) -> None:
    """The request id and the headers every response carries, after one look at those
    the view set (werkzeug's `set` searches them each time, and `setdefault` raises and
    catches a KeyError for a header that is missing, the usual case)."""
    present = {name.lower() for name, _ in headers}
    for name, value, replaces in (("X-Request-Id", request_id, True), *_EVERY_RESPONSE):
        if name.lower() not in present:
            headers.add(name, value)
        elif replaces:
            headers.set(name, value)
