"""Fixtures of the attestation service's tests: the wired app with a signing keyring, an
employer with an HR client, two providers with webhook endpoints, and helpers that feed
the referral service's events to the consumer handlers and post signed attendance."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from attestation.adapters.signing import SigningKeys
from attestation.config import signing_keys_path
from attestation.entrypoints.consumer import event_handlers
from shared.directory.endpoints import WebhookEndpoints
from shared.ids import new_id
from shared.messaging import CloudEvent, outbox
from tests.support.integration import postgres_platform

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # a Monday: the week of Jan 4 is over
START = date(2027, 1, 4)
DURING = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)  # the services' clock unless a test moves it


class World:
    now = NOW
    start = START
    during = DURING

    def __init__(self, platform: Any) -> None:
        self.platform = platform
        settings = platform.settings["attestation"]
        self.keys_path = signing_keys_path(settings)
        self.keys_path.parent.mkdir(parents=True, exist_ok=True)
        SigningKeys.generate(self.keys_path)
        self.app = platform.app("attestation")
        self.client = self.app.test_client()
        self.runtime = self.app.extensions["bridgeline"]
        self.services = self.runtime.domain
        self.services.clock = lambda: DURING
        # Most tests attest weeks without attendance on the Monday after; the grace a
        # silent week gets has its own test.
        self.services.grace_days = 0
        self.handlers = event_handlers(self.services)
        self.endpoints = WebhookEndpoints(platform.directory.engine, self.runtime.cipher,
                                          allow_insecure_urls=True)
        self.employer = platform.directory.create_employer("Acme").id
        self.hr = self.bearer("hr", self.employer)
        self.provider, self.secret = self.provider_with_endpoint("Evening IOP")
        self.other_provider, self.other_secret = self.provider_with_endpoint("Weekend IOP")

    def bearer(self, role: str, tenant: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.platform.client_token(role, tenant)}"}

    def provider_with_endpoint(self, name: str) -> tuple[str, str]:
        provider = self.platform.directory.create_provider(name).id
        _, secret = self.endpoints.configure("provider", provider, "http://127.0.0.1:9/hooks")
        return provider, secret

    def employer_endpoint(self, employer: str | None = None) -> str:
        endpoint_id, _ = self.endpoints.configure("employer", employer or self.employer,
                                                  "http://127.0.0.1:9/hr-hooks")
        return endpoint_id

    # -- events as the referral service sends them ----------------------------------------
    def feed(self, type_: str, referral: Referral, data: dict[str, Any],
             at: datetime = NOW) -> None:
        event = CloudEvent(type=type_, source="/referral", subject=referral.id,
                           tenant=referral.employer, key_subject=referral.subject,
                           data={"referral_id": referral.id, "employer_id": referral.employer,
                                 **data}, time=at)
        with self.runtime.sessions.begin() as session:
            self.handlers[type_](session, event)

    def referral(self, *, scopes: tuple[str, ...] = ("participation", "attendance_summary"),
                 provider: str | None = None, employer: str | None = None,
                 external_id: str | None = None, kind: str = "formal",
                 created: bool = True, consent: bool = True, started: date | None = START,
                 expires_on: str = "2027-06-30") -> Referral:
        ref = Referral(new_id("ref"), employer or self.employer, provider or self.provider,
                       new_id("sub"), external_id or f"E-{uuid.uuid4().hex[:6]}",
                       new_id("con"))
        if created:
            self.created(ref, kind)
        if consent:
            self.grant(ref, scopes, expires_on)
        if started is not None:
            self.feed("enrollment.started", ref, {
                "provider_id": ref.provider, "start_date": started.isoformat(),
                "expected_end_date": "2027-03-30", "level_of_care": "IOP"})
        return ref

    def created(self, ref: Referral, kind: str = "formal", at: datetime = NOW) -> None:
        self.feed("referral.created", ref, {
            "provider_id": ref.provider, "kind": kind,
            "employee": {"external_id": ref.external_id},
            "link_expires_at": "2027-01-25T00:00:00+00:00"}, at)

    def grant(self, ref: Referral, scopes: tuple[str, ...],
              expires_on: str = "2027-06-30") -> None:
        self.feed("consent.granted", ref, {
            "consent_id": ref.consent_id, "provider_id": ref.provider,
            "scopes": sorted(scopes), "expires_on": expires_on,
            "recipient": {"employer_id": ref.employer, "role": "hr"},
            "purpose": "to support your employment", "signed_at": NOW.isoformat(),
            "form_version": "2027-01", "employee": {"name": "Ada Lovelace",
                                                    "external_id": ref.external_id}})

    def end(self, ref: Referral, how: str = "revoked") -> None:
        self.feed(f"consent.{how}", ref, {"consent_id": ref.consent_id,
                                          "at": NOW.isoformat()})

    def finish(self, ref: Referral, how: str = "completed", on: str = "2027-01-13",
               rtw: str | None = None) -> None:
        data: dict[str, Any] = {"provider_id": ref.provider, "date": on}
        if rtw:
            data["return_to_work_date"] = rtw
        self.feed(f"enrollment.{how}", ref, data)

    # -- the provider -------------------------------------------------------------------
    def post_attendance(self, records: list[dict[str, Any]], *, provider: str | None = None,
                        secret: str | None = None, msg_id: str | None = None,
                        body: str | None = None) -> Any:
        provider = provider or self.provider
        if body is None:
            body = json.dumps({"type": "attendance.reported",
                               "timestamp": "2027-01-10T18:00:00Z",
                               "data": {"records": records}})
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        when = datetime.now(UTC)
        headers = {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                   "webhook-signature": Webhook(secret or self.secret).sign(msg_id, when, body)}
        return self.client.post(f"/v1/webhooks/providers/{provider}/attendance", data=body,
                                headers=headers, content_type="application/json")

    @staticmethod
    def week(ref: Referral, statuses: list[str], start: date = START,
             prefix: str = "s") -> list[dict[str, Any]]:
        """One record a day from `start`, with these statuses."""
        return [{"id": f"{prefix}-{ref.id[-6:]}-{i}", "referral_id": ref.id,
                 "date": date.fromordinal(start.toordinal() + i).isoformat(),
                 "status": status} for i, status in enumerate(statuses)]

    # -- looking -------------------------------------------------------------------------
    def events(self, event_type: str) -> list[dict[str, Any]]:
        with self.services.engine.connect() as conn:
            rows = conn.execute(select(outbox.c.body).where(outbox.c.event_type == event_type)
                                .order_by(outbox.c.id)).scalars().all()
        return [json.loads(body)["data"] for body in rows]

    def list(self, headers: dict[str, str] | None = None, **query: str) -> Any:
        return self.client.get("/v1/attestations", query_string=query,
                               headers=headers or self.hr)


class Referral:
    def __init__(self, id_: str, employer: str, provider: str, subject: str,
                 external_id: str, consent_id: str) -> None:
        self.id, self.employer, self.provider = id_, employer, provider
        self.subject, self.external_id, self.consent_id = subject, external_id, consent_id


@pytest.fixture
def world(platform: Any) -> World:
    return World(platform)


@pytest.fixture
def pg_world(tmp_path: Any, pg_database_url: str, unique_name: str) -> Iterator[World]:
    """The same world on a fresh PostgreSQL database (integration tests)."""
    with postgres_platform(tmp_path, "attestation", pg_database_url, unique_name) as platform:
        yield World(platform)
