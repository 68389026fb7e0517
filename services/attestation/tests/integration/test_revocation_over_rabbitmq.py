"""On PostgreSQL and RabbitMQ: the referral service's events, relayed through a real
exchange and consumed by the attestation service's consumer runner, drive issuance; once
`consent.revoked` is consumed nothing more is issued and the pending webhook is not sent."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from attestation.adapters.orm import consents, enrollments
from attestation.adapters.signing import SigningKeys
from attestation.config import signing_keys_path
from attestation.entrypoints.consumer import event_handlers
from shared.directory.endpoints import WebhookEndpoints
from shared.ids import new_id
from shared.messaging import CloudEvent, ConsumerRunner, Outbox
from shared.webhooks import WebhookDeliverer, webhook_deliveries
from tests.support.integration import postgres_platform, relay_everything, tap_queue

pytestmark = pytest.mark.integration
DURING = datetime(2027, 1, 6, 12, tzinfo=UTC)
NOW = datetime(2027, 1, 11, 9, tzinfo=UTC)


def wait_for(condition, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_revocation_consumed_over_rabbitmq_stops_issuance_and_delivery(
        tmp_path, pg_database_url, unique_name, amqp_url):
    with postgres_platform(tmp_path, "attestation", pg_database_url, unique_name) as platform, \
            tap_queue(amqp_url, unique_name, also_delete=["attestation"]):
        path = signing_keys_path(platform.settings["attestation"])
        path.parent.mkdir(parents=True, exist_ok=True)
        SigningKeys.generate(path)
        runtime = platform.runtime("attestation")
        services = runtime.domain
        services.clock = lambda: DURING
        services.grace_days = 0  # this week has no attendance: attest it on the Monday
        employer = platform.directory.create_employer("Acme").id
        provider = platform.directory.create_provider("Evening IOP").id
        endpoints = WebhookEndpoints(platform.directory.engine, runtime.cipher,
                                     allow_insecure_urls=True)
        endpoints.configure("employer", employer, "http://127.0.0.1:9/hr-hooks")
        ref, subject, consent = new_id("ref"), new_id("sub"), new_id("con")

        def publish(type_, data, sensitive=()):
            event = CloudEvent(type=type_, source="/referral", subject=ref, tenant=employer,
                               key_subject=subject, sensitive_fields=sensitive,
                               data={"referral_id": ref, "employer_id": employer, **data})
            with runtime.engine.begin() as conn:
                Outbox(runtime.cipher).add(conn, event)
            relay_everything(runtime.engine, amqp_url, unique_name)

        def scalar(stmt):
            with runtime.engine.connect() as conn:
                return conn.execute(stmt).scalar()

        runner = ConsumerRunner(runtime.engine, amqp_url, unique_name, "attestation",
                                event_handlers(services), runtime.cipher)
        stop = threading.Event()
        thread = threading.Thread(target=runner.run_forever, args=(stop,), daemon=True)
        thread.start()
        try:
            time.sleep(1.0)  # the runner declares and binds its queue
            publish("referral.created", {"provider_id": provider, "kind": "formal",
                                         "employee": {"external_id": "E-7"},
                                         "link_expires_at": "2027-01-25T00:00:00+00:00"},
                    ("employee.external_id",))
            publish("consent.granted", {
                "consent_id": consent, "provider_id": provider,
                "scopes": ["attendance_summary", "participation"], "expires_on": "2027-06-30",
                "recipient": {"employer_id": employer, "role": "hr"}, "purpose": "support",
                "signed_at": DURING.isoformat(), "form_version": "1",
                "employee": {"name": "Ada", "external_id": "E-7"}},
                ("employee.name", "employee.external_id"))
            publish("enrollment.started", {"provider_id": provider, "start_date": "2027-01-04",
                                           "expected_end_date": "2027-03-30",
                                           "level_of_care": "IOP"}, ("level_of_care",))
            wait_for(lambda: scalar(select(enrollments.c.start_date)) is not None)
            assert services.issue_due(NOW) == 1
            assert scalar(select(webhook_deliveries.c.status)) == "pending"

            publish("consent.revoked", {"consent_id": consent, "at": NOW.isoformat()})
            wait_for(lambda: scalar(select(consents.c.revoked_at)) is not None)
            assert services.issue_due(NOW + timedelta(days=14)) == 0
            assert scalar(select(webhook_deliveries.c.status)) == "abandoned"
            deliverer = WebhookDeliverer(runtime.engine, endpoints, runtime.cipher,
                                         allow_insecure_urls=True)
            assert deliverer.deliver_due() == 0
        finally:
            stop.set()
            thread.join(10)
