"""The world of the authorization matrix: all three services built in-process on one
`Platform` (the root conftest's), two employers, two providers with webhook endpoints,
one client per caller of the matrix, and one resource of each type owned by employer A.

The root `platform` fixture is function-scoped; building a platform and three apps per
cell would cost about a second each, so this directory overrides it with a module-scoped
one built the same way (`Platform(tmp_path)`). Every cell leaves the seeded resources
usable for the others: state-changing calls by A's own clients work on fresh resources.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from conftest import Platform  # the repository's root conftest
from shared.directory.endpoints import WebhookEndpoints
from shared.ids import new_id

NOW = datetime(2027, 1, 11, 9, 0, tzinfo=UTC)  # a Monday: the week of Jan 4 is over
DURING = datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
MARKER = "E-ALPHA"  # every external id of employer A's seeded data starts with it
REQUESTED = {"schedule": [{"weekday": "mon", "start": "17:15", "end": "21:00"}],
             "start_date": "2027-01-04", "end_date": "2027-03-26"}

# Callers of the matrix: name -> (role, tenant) where tenant is "A", "B", "P" or None.
# `revoked_hr_A` is revoked before first use; `wrong_secret` is hr_A's client id with
# another secret, `malformed` no token at all, `anonymous` sends no header (World.headers).
CALLERS: dict[str, tuple[str | None, str | None]] = {
    "hr_A": ("hr", "A"),
    "specialist_A": ("specialist", "A"),
    "manager_A": ("manager", "A"),
    "hr_B": ("hr", "B"),
    "provider_P": ("provider", "P"),
    "admin": ("admin", None),
    "revoked_hr_A": ("hr", "A"),
    "wrong_secret": (None, None),
    "malformed": (None, None),
    "anonymous": (None, None),
}


def make_signing_keys(platform: Any) -> None:
    from attestation.adapters.signing import SigningKeys
    from attestation.config import signing_keys_path

    path = signing_keys_path(platform.settings["attestation"])
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        SigningKeys.generate(path)


class World:
    def __init__(self, platform: Any) -> None:
        from attestation.entrypoints.consumer import event_handlers

        self.platform = platform
        directory = platform.directory
        make_signing_keys(platform)
        self.employer_a = directory.create_employer("Alpha Corp").id
        self.employer_b = directory.create_employer("Beta Corp").id
        self.provider_p = directory.create_provider("Evening IOP").id
        self.provider_q = directory.create_provider("Weekend IOP").id
        # Endpoints before any app reads the directory's parties.
        cipher = platform.runtime("referral").cipher
        endpoints = WebhookEndpoints(directory.engine, cipher, allow_insecure_urls=True)
        _, self.secret_p = endpoints.configure("provider", self.provider_p,
                                               "http://127.0.0.1:9/p-hooks")
        _, self.secret_q = endpoints.configure("provider", self.provider_q,
                                               "http://127.0.0.1:9/q-hooks")
        endpoints.configure("employer", self.employer_a, "http://127.0.0.1:9/a-hooks")

        tenants = {"A": self.employer_a, "B": self.employer_b, "P": self.provider_p}
        self.tokens: dict[str, str] = {}
        self.client_ids: dict[str, str] = {}
        for name, (role, tenant) in CALLERS.items():
            if role is None:
                continue
            kwargs = {}
            if tenant == "P":
                kwargs["provider_id"] = tenants[tenant]
            elif tenant is not None:
                kwargs["employer_id"] = tenants[tenant]
            client, token = directory.create_client(role, **kwargs)
            self.tokens[name] = str(token)
            self.client_ids[name] = client.id
        # Revoked before any service has seen (and cached) it.
        assert directory.revoke_client(self.client_ids["revoked_hr_A"])

        self.apps = {name: platform.app(name) for name in ("referral", "accommodation",
                                                            "attestation")}
        self.clients = {name: app.test_client() for name, app in self.apps.items()}
        self.attestation = self.apps["attestation"].extensions["bridgeline"].domain
        self.attestation.clock = lambda: DURING
        self.attestation.grace_days = 0
        self.attestation_handlers = event_handlers(self.attestation)

        self.ids: dict[str, str] = {}
        self.seed()

    # -- callers ----------------------------------------------------------------------------
    def headers(self, caller: str) -> dict[str, str]:
        if caller == "anonymous":
            return {}
        if caller == "malformed":
            return {"Authorization": "Bearer bl1.not-a-client.not-a-secret"}
        if caller == "wrong_secret":
            client_id = self.client_ids["hr_A"]
            secret = self.tokens["hr_A"].rsplit(".", 1)[1]
            other = ("A" if secret[0] != "A" else "B") + secret[1:]
            return {"Authorization": f"Bearer bl1.{client_id}.{other}"}
        return {"Authorization": f"Bearer {self.tokens[caller]}"}

    # -- seeding employer A's resources -------------------------------------------------------
    def seed(self) -> None:
        referral = self.create_referral(f"{MARKER}-1")
        self.ids["referral_id"] = referral["id"]
        self.referral_link = referral["link"]["url"]
        self.ids["accommodation_id"] = self.create_accommodation(f"{MARKER}-2")
        self.ids["attestation_id"] = self.create_attestation(f"{MARKER}-3")
        # Enough referrals for A's utilization report to publish its counts (>= 10).
        for i in range(10):
            self.attestation_referral(f"{MARKER}-R{i}", consent=False, started=False)

    def create_referral(self, external_id: str) -> dict[str, Any]:
        body = {"employee": {"external_id": external_id, "name": "Ada Lovelace",
                             "email": "ada@example.com"},
                "kind": "formal", "provider_id": self.provider_p}
        r = self.clients["referral"].post("/v1/referrals", json=body,
                                          headers=self.headers("hr_A"))
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()

    def accepted_referral(self, external_id: str) -> str:
        """A referral of A routed to P that the employee accepted: P may update it."""
        from referral.domain.commands import AcceptReferral

        created = self.create_referral(external_id)
        token = created["link"]["url"].rsplit("/", 1)[1]
        services = self.apps["referral"].extensions["bridgeline"].domain
        services.accept(AcceptReferral(token=token, scopes=["participation"], expires_on=None,
                                       signature="Ada Lovelace", program_options=["evening"],
                                       shared_contact=["email"]))
        return created["id"]

    def create_accommodation(self, external_id: str) -> str:
        body = {"employee": {"external_id": external_id}, "type": "schedule_change",
                "requested": REQUESTED}
        r = self.clients["accommodation"].post("/v1/accommodations", json=body,
                                               headers=self.headers("hr_A"))
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()["id"]

    def feed(self, type_: str, referral_id: str, subject: str, data: dict[str, Any],
             provider: str | None = None) -> None:
        from shared.messaging import CloudEvent

        event = CloudEvent(type=type_, source="/referral", subject=referral_id,
                           tenant=self.employer_a, key_subject=subject,
                           data={"referral_id": referral_id, "employer_id": self.employer_a,
                                 **data}, time=NOW)
        runtime = self.apps["attestation"].extensions["bridgeline"]
        with runtime.sessions.begin() as session:
            self.attestation_handlers[type_](session, event)

    def attestation_referral(self, external_id: str, *, consent: bool = True,
                             started: bool = True) -> str:
        """What the attestation service knows of one of A's referrals routed to P, from
        the referral service's events (as `services/attestation/tests/conftest.py`)."""
        referral_id, subject, consent_id = new_id("ref"), new_id("sub"), new_id("con")
        provider = self.provider_p
        self.feed("referral.created", referral_id, subject, {
            "provider_id": provider, "kind": "formal",
            "employee": {"external_id": external_id},
            "link_expires_at": "2027-01-25T00:00:00+00:00"})
        if consent:
            self.feed("consent.granted", referral_id, subject, {
                "consent_id": consent_id, "provider_id": provider,
                "scopes": ["attendance_summary", "participation"], "expires_on": "2027-06-30",
                "recipient": {"employer_id": self.employer_a, "role": "hr"},
                "purpose": "to support your employment", "signed_at": NOW.isoformat(),
                "form_version": "2027-01",
                "employee": {"name": "Ada Lovelace", "external_id": external_id}})
        if started:
            self.feed("enrollment.started", referral_id, subject, {
                "provider_id": provider, "start_date": "2027-01-04",
                "expected_end_date": "2027-03-30", "level_of_care": "IOP"})
        return referral_id

    def create_attestation(self, external_id: str) -> str:
        referral_id = self.attestation_referral(external_id)
        self.attestation_referral_id = referral_id
        records = [{"id": f"seed-{i}", "referral_id": referral_id,
                    "date": f"2027-01-0{4 + i}", "status": "attended"} for i in range(3)]
        r = self.post_attendance(self.provider_p, self.secret_p, records)
        assert r.status_code == 200 and r.get_json()["accepted"] == 3, r.get_data(as_text=True)
        assert self.attestation.issue_due(NOW) == 1
        r = self.clients["attestation"].get("/v1/attestations", headers=self.headers("hr_A"),
                                            query_string={"referral_id": referral_id})
        assert r.status_code == 200, r.get_data(as_text=True)
        (issued,) = r.get_json()["data"]
        return issued["id"]

    # -- provider webhooks -------------------------------------------------------------------
    @staticmethod
    def signed(body: str, secret: str) -> dict[str, str]:
        msg_id = f"msg_{uuid.uuid4().hex}"
        when = datetime.now(UTC)
        return {"webhook-id": msg_id, "webhook-timestamp": str(int(when.timestamp())),
                "webhook-signature": Webhook(secret).sign(msg_id, when, body)}

    def post_attendance(self, provider: str, secret: str, records: list[dict[str, Any]]) -> Any:
        body = json.dumps({"type": "attendance.reported", "timestamp": "2027-01-10T18:00:00Z",
                           "data": {"records": records}})
        return self.clients["attestation"].post(
            f"/v1/webhooks/providers/{provider}/attendance", data=body,
            headers=self.signed(body, secret), content_type="application/json")

    def post_enrollment_update(self, provider: str, secret: str, referral_id: str,
                               headers: dict[str, str] | None = None) -> Any:
        body = json.dumps({"type": "intake.scheduled", "timestamp": "2027-01-10T18:00:00Z",
                           "data": {"referral_id": referral_id, "date": "2027-01-12"}})
        return self.clients["referral"].post(
            f"/v1/webhooks/providers/{provider}", data=body,
            headers=headers if headers is not None else self.signed(body, secret),
            content_type="application/json")


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The root conftest's platform, once per module (see the module docstring)."""
    p = Platform(tmp_path_factory.mktemp("authz"))
    yield p
    p.close()


@pytest.fixture(scope="module")
def authz_world(platform: Any) -> World:
    return World(platform)
