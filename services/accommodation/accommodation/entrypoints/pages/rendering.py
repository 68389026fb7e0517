"""How every accommodation page is rendered: the service it needs, the strict CSP of
`shared.web.pages`, the guard against guessed links (429 page, `shared.web.link_guard`),
and the error pages (HTML, never problem+json, never a stack trace)."""

from __future__ import annotations

from typing import Any

from flask import current_app, render_template

from accommodation.entrypoints.pages import blp, wording
from accommodation.service_layer.handlers import AccommodationServices, LinkNotUsable
from shared.tokens import hash_token
from shared.web import pages as shared_pages
from shared.web.link_guard import (
    TOO_MANY_MESSAGE,
    TOO_MANY_TITLE,
    guard_link_pages,
    too_many_message,
)

Page = tuple[str, int]
REFUSALS = {"unknown": 404, "expired": 410, "used": 409}

ERROR_PAGES: dict[int, tuple[str, str]] = {
    403: ("This form could not be sent",
          "For your safety the form was refused: it did not come from this page. Go back to "
          "the link you were sent, reload the page and try again."),
    404: ("We could not find this page",
          "The link may be incomplete or mistyped. Open the link exactly as you received it. "
          "If it still does not work, ask the person who sent it for a new one."),
    409: ("This link was already used",
          "A request for an accommodation was already sent with this link, so it cannot be "
          "used again. The accommodation specialist has it. If you need to change or add "
          "something, contact your HR team or the specialist and ask for a new link."),
    410: ("This link has expired",
          "Accommodation links work for a limited time, and this one has expired. Nothing "
          "was sent. If you still want to ask for an accommodation, ask your HR team for a "
          "new link."),
    429: (TOO_MANY_TITLE, TOO_MANY_MESSAGE),
}


def services() -> AccommodationServices:
    return current_app.extensions["bridgeline"].domain


def page(template: str, status: int = 200, **context: Any) -> Page:
    return render_template(f"pages/{template}", **context), status


def error_page(status: int, *, message: str | None = None) -> Page:
    title, default_message = ERROR_PAGES[status]
    return page("error.html", status, title=title, message=message or default_message)


def too_many_attempts(seconds: int) -> Page:
    """The 429 page of a network that tried too many links that do not work."""
    return error_page(429, message=too_many_message(seconds))


def refusal(error: LinkNotUsable) -> Page:
    """The page for a link that cannot be used: unknown 404, expired 410, used 409."""
    return error_page(REFUSALS[error.why])


def csrf_for_link(token: str) -> str:
    return shared_pages.csrf_token(services().blind_index,
                                   f"accommodation-link:{hash_token(token)}")


@blp.context_processor
def words() -> dict[str, Any]:
    return {"long_date": wording.long_date, "weekday_words": wording.WEEKDAY_WORDS}


shared_pages.install_security_headers(blp)
guard_link_pages(blp, too_many=too_many_attempts)
