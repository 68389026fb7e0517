"""How every employee page is rendered: the service and names it needs, the strict CSP,
the guard against guessed links (429 page), and the error pages (HTML, never
problem+json, never a stack trace)."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template

from referral.entrypoints.pages import blp, wording
from referral.service_layer.handlers import ReferralServices
from shared.web.link_guard import (
    TOO_MANY_MESSAGE,
    TOO_MANY_TITLE,
    guard_link_pages,
    too_many_message,
)
from shared.web.pages import CONTENT_SECURITY_POLICY, install_security_headers, public_url

__all__ = ["CONTENT_SECURITY_POLICY", "error_page", "page", "public_url", "services"]

ERROR_PAGES: dict[int, tuple[str, str]] = {
    403: ("This form could not be sent",
          "For your safety the form was refused: it did not come from this page. Go back to "
          "the link you were sent, reload the page and try again."),
    404: ("We could not find this page",
          "The link may be incomplete or mistyped. Open the link exactly as you received it. "
          "If it still does not work, ask the person who sent it for a new one."),
    409: ("This referral was already answered",
          "Someone already answered this referral with this link, so it cannot be used "
          "again. If you accepted it, use the manage link you were given to see its status "
          "or to revoke your consent."),
    410: ("This link has expired",
          "Referral links work for a limited time, and this one has expired. If you still "
          "want this referral, ask the person who sent it for a new link. Nothing was shared "
          "with your employer."),
    429: (TOO_MANY_TITLE, TOO_MANY_MESSAGE),
}


def services() -> ReferralServices:
    return current_app.extensions["bridgeline"].domain  # type: ignore[no-any-return]


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(f"pages/{template}", **context), status


def error_page(status: int, *, title: str | None = None, message: str | None = None,
               ) -> tuple[str, int]:
    default_title, default_message = ERROR_PAGES[status]
    return page("error.html", status, title=title or default_title,
                message=message or default_message)


def too_many_attempts(seconds: int) -> tuple[str, int]:
    """The 429 page of a network that tried too many links that do not work."""
    return error_page(429, message=too_many_message(seconds))


@blp.context_processor
def words() -> dict[str, Any]:
    return {"long_date": wording.long_date, "sentence": wording.sentence,
            "contact_words": wording.CONTACT_WORDS,
            "program_option_words": wording.PROGRAM_OPTION_WORDS}


install_security_headers(blp)
guard_link_pages(blp, too_many=too_many_attempts)
