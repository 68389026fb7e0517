"""The referral app served for real and Debian's headless Chromium driven by Playwright,
with axe-core on every page (the machinery is `tests/support/browser.py`, shared with the
other services' browser tests). `deploy/scripts/ensure-browser.sh` installs both (`make
test` runs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.support.browser import chromium, new_context, serve, watch_console


@pytest.fixture
def served(platform) -> Iterator[SimpleNamespace]:
    """The referral app on http://127.0.0.1:<port>, its links pointing at that address."""
    with serve(platform, "referral") as app:
        yield app


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module: Playwright's sync API allows one running instance, and
    the other services' browser tests launch their own."""
    with chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    """A phone-sized page with JavaScript; console errors (CSP violations) are collected."""
    context = new_context(browser, javascript=True)
    yield watch_console(context.new_page())
    context.close()


@pytest.fixture
def page_without_js(browser):
    context = new_context(browser, javascript=False)
    yield context.new_page()
    context.close()
