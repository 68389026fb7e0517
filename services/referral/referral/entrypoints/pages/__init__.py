"""The employee's pages (HTML, no login): referral link, manage link, self-referral.

Plain HTML forms that work without JavaScript; one small static script makes the consent
preview live. Every page gets a strict CSP (no inline script or style, no third party),
and every form post carries a CSRF token bound to its link (see `csrf`).
"""

from flask import Blueprint

blp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
                static_url_path="/assets/pages")

# The views register themselves on `blp`.
from referral.entrypoints.pages import (  # noqa: E402
    manage,
    referral_link,
    rendering,
    self_referral,
)

__all__ = ["blp", "manage", "referral_link", "rendering", "self_referral"]
