"""Webhooks in and out, Standard Webhooks v1 (DESIGN.md section 3).

Receiving (a provider's view; secrets from the provider's endpoint):

    webhook = verified_webhook(request, endpoint.secrets)   # Problem 400/401/422 if not
    with sessions.begin() as session:
        if record_received(session, provider_id, webhook.id):
            apply(session, webhook.type, webhook.data)       # only the first time
    return "", 204

Sending (in the transaction that changes the state, never over HTTP in a request):

    with sessions.begin() as session:
        enqueue_delivery(session, endpoint_id=endpoint.id, event_type="referral.accepted",
                         data={...}, subject=employee_subject, tenant=employer_id,
                         cipher=cipher)

and in the worker:

    WebhookDeliverer(engine, endpoints, cipher,
                     allow_insecure_urls=settings.is_dev).run_forever(stop)

Endpoints are configured through the directory (`validate_endpoint_url`,
`generate_secret`); operators list and replay deliveries with `bridgeline webhooks`.
"""

from shared.webhooks.deliverer import DeliveryPolicy, WebhookDeliverer
from shared.webhooks.deliveries import (
    ReplayRefused,
    enqueue_delivery,
    list_deliveries,
    replay_delivery,
    replay_exhausted,
    webhook_body,
)
from shared.webhooks.endpoints import Endpoint, EndpointDirectory
from shared.webhooks.inbound import TOLERANCE, InboundWebhook, verified_webhook, verify
from shared.webhooks.received import prune_received, record_received
from shared.webhooks.schedule import RETRY_SCHEDULE
from shared.webhooks.signing import generate_secret, signed_headers
from shared.webhooks.tables import received_webhooks, webhook_attempts, webhook_deliveries
from shared.webhooks.urls import UnsafeEndpointUrl, validate_endpoint_url

__all__ = [
    "RETRY_SCHEDULE", "TOLERANCE", "DeliveryPolicy", "Endpoint", "EndpointDirectory",
    "InboundWebhook", "ReplayRefused", "UnsafeEndpointUrl", "WebhookDeliverer",
    "enqueue_delivery", "generate_secret", "list_deliveries", "prune_received",
    "received_webhooks", "record_received", "replay_delivery", "replay_exhausted",
    "signed_headers", "validate_endpoint_url", "verified_webhook", "verify", "webhook_attempts",
    "webhook_body", "webhook_deliveries",
]
