"""`/a/<token>`: the accommodation link. The employee asks for a change themselves, sees
what their manager would see (days, times and dates, never why), and sends it."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request

from accommodation.domain.model import Accommodation, AccommodationType, Arrangement
from accommodation.domain.projections import schedule_impact
from accommodation.entrypoints.pages import blp, forms, wording
from accommodation.entrypoints.pages.rendering import (
    Page,
    csrf_for_link,
    error_page,
    page,
    refusal,
    services,
)
from accommodation.service_layer.handlers import LinkNotUsable
from shared.web.pages import request_is_genuine


@blp.get("/a/<token>")
def request_page(token: str) -> Page:
    try:
        link = services().open_link(token)
    except LinkNotUsable as error:
        return refusal(error)
    suggestion: Arrangement | None = link["suggestion"]
    return _request_form(token, forms.from_suggestion(suggestion),
                         suggested=suggestion is not None)


@blp.post("/a/<token>")
def send_request(token: str) -> Page:
    if not request_is_genuine(csrf_for_link(token)):
        return error_page(403)
    try:
        link = services().open_link(token)
    except LinkNotUsable as error:
        return refusal(error)
    suggested = link["suggestion"] is not None
    adding_row = "add_row" in request.form
    values, errors = forms.read(request.form, adding_row=adding_row)
    if adding_row or errors:
        return _request_form(token, values, errors, suggested=suggested)
    try:
        case = services().submit_via_link(
            token, type_=AccommodationType(values.type), requested=values.arrangement(),
            functional_limitations=values.functional_limitations or None)
    except LinkNotUsable as error:  # used or expired since the form was read
        return refusal(error)
    return _confirmation(case, told_limitations=bool(values.functional_limitations))


def _request_form(token: str, values: forms.RequestForm, errors: forms.Errors | None = None,
                  *, suggested: bool) -> Page:
    return page(
        "request.html", 422 if errors else 200, token=token, values=values,
        errors=errors or {}, labels=forms.labels(values), csrf_token=csrf_for_link(token),
        suggested=suggested, types=[(t.value, *wording.TYPE_WORDS[t]) for t in AccommodationType],
        weekdays=list(wording.WEEKDAY_WORDS.items()), max_rows=forms.MAX_ROWS,
        text_limit=forms.TEXT_LIMIT, manager_sees=_manager_preview(values))


def _manager_preview(values: forms.RequestForm) -> dict[str, Any]:
    """What the manager would see if the request is granted as asked: the days and times
    (the real projection, `schedule_impact`) and the dates, nothing else."""
    windows = values.complete_windows()
    impact = schedule_impact(Arrangement(tuple(windows), start_date=date.min))
    return {"impact": impact, "start": forms.parse_date(values.start_date),
            "end": forms.parse_date(values.end_date)}


def _confirmation(case: Accommodation, *, told_limitations: bool) -> Page:
    return page("submitted.html", case=case, status_words=wording.status_words(case.status),
                type_words=wording.TYPE_WORDS[case.type][0],
                impact=schedule_impact(case.requested), told_limitations=told_limitations)
