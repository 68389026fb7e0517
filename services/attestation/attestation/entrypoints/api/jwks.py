"""`GET /.well-known/jwks.json`: the public keys that verify attestation signatures,
current first, older ones kept until retired. Public: anyone holding an attestation may
check it."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint

from attestation.entrypoints.api.schemas import JwksOut

blp = Blueprint("jwks", __name__, url_prefix="/.well-known",
                description="Public keys for verifying attestations.")


@blp.route("/jwks.json")
class Jwks(MethodView):
    @blp.doc(security=[])
    @blp.response(200, JwksOut)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE",
                      description="No signing keyring is configured.")
    def get(self) -> dict[str, Any]:
        """The JSON Web Key Set of the attestation signing keys"""
        return current_app.extensions["bridgeline"].domain.signing.current().jwks()
