"""The employee's accommodation link (HTML, no login): `/a/<token>`.

A plain HTML form that works without JavaScript (adding a row of weekly windows is a
submit button the server answers with one more row). Every page gets the strict CSP of
`shared.web.pages`, and the form post carries a CSRF token bound to its link.
"""

from flask import Blueprint

blp = Blueprint("pages", __name__, template_folder="templates")

# The views register themselves on `blp`.
from accommodation.entrypoints.pages import link, rendering  # noqa: E402

__all__ = ["blp", "link", "rendering"]
