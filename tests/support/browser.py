"""What every service's browser tests share: a wired app served for real (werkzeug, a
thread, a free port on 127.0.0.1, the `platform` fixture's SQLite), Debian's headless
Chromium driven by Playwright, and axe-core injected into every page.
`deploy/scripts/ensure-browser.sh` installs Chromium and axe-core (`make test` runs it);
axe-core lives in the referral service's browser test folder, where that script puts it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / "services" / "referral" / "tests" / "browser" / "node_modules" / "axe-core" \
    / "axe.min.js"
AXE_OPTIONS = {"resultTypes": ["violations"]}


def require_tools() -> None:
    missing = [str(p) for p in (CHROMIUM, AXE) if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run deploy/scripts/ensure-browser.sh "
                    "(make test runs it)", pytrace=False)


@contextmanager
def serve(platform: Any, service: str) -> Iterator[SimpleNamespace]:
    """`service`'s app on http://127.0.0.1:<port>, its links pointing at that address."""
    holder: dict[str, Any] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start),
                         threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    platform.settings[service] = dataclasses.replace(platform.settings[service],
                                                     public_base_url=base)
    app = platform.app(service)
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(base=base, app=app, client=app.test_client(),
                              services=app.extensions["bridgeline"].domain)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def chromium() -> Iterator[Any]:
    require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            # root in a container has no user namespace for Chromium's sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


def new_context(browser: Any, *, javascript: bool) -> Any:
    """A phone-sized context with axe-core in every page."""
    context = browser.new_context(java_script_enabled=javascript, locale="en-GB",
                                  viewport={"width": 390, "height": 844})
    # An init script is injected by the browser itself, so the pages' strict CSP stays on.
    context.add_init_script(path=str(AXE))
    return context


def watch_console(tab: Any) -> Any:
    """Collect console errors (CSP violations, script errors) in `tab.console_errors`."""
    tab.console_errors = []
    tab.on("console", lambda m: m.type == "error" and not _expected(tab, m)
           and tab.console_errors.append(f"{m.text} ({m.location.get('url')})"))
    tab.on("pageerror", lambda error: tab.console_errors.append(str(error)))
    return tab


def _expected(tab: Any, message: Any) -> bool:
    """Chromium logs an error for a page served with a 4xx status (the 404, 409, 410 and
    422 pages are meant to be), and for the /favicon.ico it asks for on its own (none here)."""
    url = message.location.get("url", "")
    return url.endswith("/favicon.ico") or url == tab.url.split("#")[0]


def assert_accessible(tab: Any, what: str) -> None:
    """axe-core (WCAG 2.1 AA and best practices) finds nothing, and the console is clean."""
    violations = tab.evaluate(
        "async (options) => (await axe.run(document, options)).violations", AXE_OPTIONS)
    if violations:
        summary = [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                    "nodes": [n["html"] for n in v["nodes"]][:5]} for v in violations]
        print(f"axe violations on the {what}:\n{json.dumps(summary, indent=2)}")
    assert violations == [], f"{len(violations)} axe violation(s) on the {what}"
    assert getattr(tab, "console_errors", []) == [], tab.console_errors


def assert_accessible_when_locked_out(tab: Any, app: Any, link: str) -> None:
    """Use up this machine's budget of failed link lookups, then open `link`: the
    link guard's 429 page, with its heading, and no accessibility violation."""
    guard = app.extensions["bridgeline"].link_guard
    while guard.lockout("127.0.0.1") is None:
        guard.record_failure("127.0.0.1")
    response = tab.goto(link)
    assert response.status == 429
    tab.get_by_role("heading", name="Please wait before trying again").wait_for()
    assert_accessible(tab, "429 page")


# -- fixtures every service's browser conftest imports (only `served` differs) ---------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API allows one running instance, and
    the other services' browser tests launch their own."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A phone-sized page with JavaScript; console errors (CSP violations) are collected."""
    context = new_context(browser, javascript=True)
    yield watch_console(context.new_page())
    context.close()


@pytest.fixture
def page_without_js(browser: Any) -> Iterator[Any]:
    context = new_context(browser, javascript=False)
    yield context.new_page()
    context.close()
