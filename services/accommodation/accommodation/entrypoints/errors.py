"""Domain errors to problem+json for the API, in one place (the pages render their own)."""

from __future__ import annotations

from flask import Flask, Response

from accommodation.domain.errors import AccommodationError, IllegalTransition, InvalidDetail
from accommodation.service_layer.handlers import CaseNotFound
from shared.web.errors import render_problem
from shared.web.problems import Problem


def problem_for(error: AccommodationError) -> Problem:
    if isinstance(error, CaseNotFound):
        return Problem(404, "Not Found", detail="No such accommodation.")
    if isinstance(error, IllegalTransition):
        allowed = [a.value for a in error.allowed]
        return Problem(409, "Action Not Allowed", allowed_actions=allowed, detail=(
            f"{error.action.value} is not possible while the case is {error.status.value}; "
            f"allowed now: {', '.join(allowed) or 'nothing'}."))
    if isinstance(error, InvalidDetail):
        return Problem(422, "Unprocessable Content", detail=error.message,
                       errors={error.field: [error.message]})
    return Problem(400, "Bad Request", detail="The request could not be applied.")


def register(app: Flask) -> None:
    @app.errorhandler(AccommodationError)
    def on_accommodation_error(error: AccommodationError) -> Response:
        return render_problem(problem_for(error))
