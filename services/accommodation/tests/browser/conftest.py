"""The accommodation app served for real and Debian's headless Chromium driven by Playwright,
with axe-core on every page (the machinery is `tests/support/browser.py`, shared with the
other services' browser tests). `deploy/scripts/ensure-browser.sh` installs both (`make
test` runs it).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from tests.support.browser import browser, page, page_without_js, serve  # noqa: F401


@pytest.fixture
def served(platform) -> Iterator[SimpleNamespace]:
    """The accommodation app on http://127.0.0.1:<port>, its links pointing at that address."""
    with serve(platform, "accommodation") as app:
        yield app
