"""Domain errors → problem+json for the API, in one place (the pages render their own)."""

from __future__ import annotations

from flask import Flask, Response

from referral.domain.errors import (
    ConsentNotRevocable,
    InvalidConsent,
    LinkAlreadyUsed,
    LinkExpired,
    ReferralError,
    TransitionNotAllowed,
)
from referral.service_layer.handlers import LinkNotFound, ReferralNotFound, UnknownParty
from shared.web.errors import render_problem
from shared.web.problems import Problem


def problem_for(error: ReferralError) -> Problem:
    if isinstance(error, ReferralNotFound | LinkNotFound):
        return Problem(404, "Not Found", detail="No such referral.")
    if isinstance(error, UnknownParty | InvalidConsent):
        return Problem(422, "Unprocessable Content", detail=_sentence(error),
                       errors=error.errors)
    if isinstance(error, TransitionNotAllowed):
        return Problem(409, "Conflict", detail=_sentence(error))
    if isinstance(error, LinkExpired):
        return Problem(410, "Gone", detail="The referral link has expired.")
    if isinstance(error, LinkAlreadyUsed | ConsentNotRevocable):
        return Problem(409, "Conflict", detail=_sentence(error))
    return Problem(400, "Bad Request", detail="The request could not be applied.")


def register(app: Flask) -> None:
    @app.errorhandler(ReferralError)
    def on_referral_error(error: ReferralError) -> Response:
        return render_problem(problem_for(error))


def _sentence(error: Exception) -> str:
    text = str(error)
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
