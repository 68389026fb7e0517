"""Domain errors -> problem+json for the API, in one place."""

from __future__ import annotations

from flask import Flask, Response

from attestation.adapters.signing import SigningKeyError
from attestation.service_layer.handlers import AttestationError, AttestationNotFound
from shared.web.errors import render_problem
from shared.web.problems import Problem


def problem_for(error: Exception) -> Problem:
    if isinstance(error, AttestationNotFound):
        return Problem(404, "Not Found", detail="No such attestation.")
    if isinstance(error, SigningKeyError):
        return Problem(503, "Service Unavailable",
                       detail="The attestation signing keys are not available.")
    return Problem(400, "Bad Request", detail="The request could not be applied.")


def register(app: Flask) -> None:
    @app.errorhandler(AttestationError)
    def on_attestation_error(error: AttestationError) -> Response:
        return render_problem(problem_for(error))

    @app.errorhandler(SigningKeyError)
    def on_signing_key_error(error: SigningKeyError) -> Response:
        return render_problem(problem_for(error))
