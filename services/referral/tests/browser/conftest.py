"""The referral app served for real (werkzeug, a thread, a free port on 127.0.0.1, the
`platform` fixture's SQLite) and Debian's headless Chromium driven by Playwright, with
axe-core on every page. `deploy/scripts/ensure-browser.sh` installs both (`make test` runs it).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from werkzeug.serving import make_server

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def _require_tools() -> None:
    missing = [str(p) for p in (CHROMIUM, AXE) if not p.exists()]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run deploy/scripts/ensure-browser.sh "
                    "(make test runs it)", pytrace=False)


@pytest.fixture
def served(platform) -> Iterator[SimpleNamespace]:
    """The referral app on http://127.0.0.1:<port>, its links pointing at that address."""
    holder: dict[str, object] = {}
    server = make_server("127.0.0.1", 0, lambda env, start: holder["app"](env, start),
                         threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    platform.settings["referral"] = dataclasses.replace(platform.settings["referral"],
                                                        public_base_url=base)
    app = platform.app("referral")
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield SimpleNamespace(base=base, app=app, client=app.test_client(),
                              services=app.extensions["bridgeline"].domain)
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    _require_tools()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            # root in a container has no user namespace for Chromium's sandbox
            args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


def _context(browser, *, javascript: bool):
    context = browser.new_context(java_script_enabled=javascript, locale="en-GB",
                                  viewport={"width": 390, "height": 844})
    # An init script is injected by the browser itself, so the pages' strict CSP stays on.
    context.add_init_script(path=str(AXE))
    return context


@pytest.fixture
def page(browser):
    """A phone-sized page with JavaScript; console errors (CSP violations) are collected."""
    context = _context(browser, javascript=True)
    tab = context.new_page()
    tab.console_errors = []
    tab.on("console", lambda m: m.type == "error" and not _expected(tab, m)
           and tab.console_errors.append(f"{m.text} ({m.location.get('url')})"))
    tab.on("pageerror", lambda error: tab.console_errors.append(str(error)))
    yield tab
    context.close()


def _expected(tab, message) -> bool:
    """Chromium logs an error for a page served with a 4xx status (the 404, 410 and 422
    pages are meant to be), and for the /favicon.ico it asks for on its own (none here)."""
    url = message.location.get("url", "")
    return url.endswith("/favicon.ico") or url == tab.url.split("#")[0]


@pytest.fixture
def page_without_js(browser):
    context = _context(browser, javascript=False)
    yield context.new_page()
    context.close()
