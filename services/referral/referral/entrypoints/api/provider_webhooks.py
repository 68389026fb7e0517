"""`POST /v1/webhooks/providers/{provider_id}`: enrollment updates from providers."""

from flask_smorest import Blueprint

blp = Blueprint("provider_webhooks", __name__, url_prefix="/v1/webhooks/providers",
                description="Signed enrollment updates from providers (Standard Webhooks).")
