"""A self-contained API reference page at `/docs`, rendered on the server from the
OpenAPI document: no scripts, no third-party assets, works offline."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, render_template_string

HTTP_METHODS = ("get", "post", "put", "patch", "delete")

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ info.title }} API reference</title>
<style nonce="{{ nonce }}">
body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b}
code,pre{font-family:ui-monospace,monospace;background:#f3f3f3;padding:.1rem .3rem}
.op{border-top:1px solid #ccc;padding:.6rem 0}.m{font-weight:700;text-transform:uppercase;
display:inline-block;min-width:4.5rem}table{border-collapse:collapse}td,th{padding:.2rem .6rem;
text-align:left;border-bottom:1px solid #eee}
</style></head>
<body><main>
<h1>{{ info.title }} <small>{{ info.version }}</small></h1>
<p>{{ info.description or "" }}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {{ openapi }}).
Authenticate with <code>Authorization: Bearer &lt;token&gt;</code>; errors are
<code>application/problem+json</code> (RFC 9457).</p>
{% for tag, ops in groups %}
<section><h2>{{ tag }}</h2>
{% for op in ops %}<div class="op" id="{{ op.id }}">
<div><span class="m">{{ op.method }}</span> <code>{{ op.path }}</code>
{% if op.roles %} &middot; roles: {{ op.roles|join(", ") }}{% endif %}</div>
<div>{{ op.summary }}</div>
{% if op.description %}<p>{{ op.description }}</p>{% endif %}
{% if op.params %}<table><tr><th>parameter</th><th>in</th><th>required</th></tr>
{% for p in op.params %}<tr><td><code>{{ p.name }}</code></td><td>{{ p.in }}</td>
<td>{{ "yes" if p.required else "no" }}</td></tr>{% endfor %}</table>{% endif %}
<div>Responses: {{ op.responses|join(", ") }}</div>
</div>{% endfor %}</section>
{% endfor %}
</main></body></html>"""


def _operations(spec: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in HTTP_METHODS:
            op = item.get(method)
            if op is None:
                continue
            tag = (op.get("tags") or ["General"])[0]
            groups.setdefault(tag, []).append({
                "id": op.get("operationId") or f"{method}-{path}",
                "method": method, "path": path, "summary": op.get("summary", ""),
                "description": op.get("description", ""), "roles": op.get("x-roles", []),
                "params": op.get("parameters", []) + item.get("parameters", []),
                "responses": sorted(op.get("responses", {})),
            })
    return sorted(groups.items())


def render_docs(spec: dict[str, Any]) -> Response:
    nonce = secrets.token_urlsafe(16)
    html = render_template_string(TEMPLATE, info=spec.get("info", {}), groups=_operations(spec),
                                  openapi=spec.get("openapi"), nonce=nonce)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'")
    return response
