"""What leaves the referral service, on the real PostgreSQL and RabbitMQ.

1. A referral with distinctive canary values (name, email, phone, level of care) goes
   through creation, acceptance with consent and a signed `enrollment.started` webhook;
   the outbox is relayed to a tap queue bound to `#`. No canary may appear in any
   table of the referral or the directory database, in any message on the broker, or in
   the logs; the events that crossed are the expected ones, shaped by the consent; the
   provider's `referral.accepted` webhook verifies with `standardwebhooks` and carries
   exactly the contact details the employee chose to share.
2. `GET /v1/referrals?status=` returns, for every HR status, exactly the referrals that
   `project_for_hr` gives that status (the SQL twin must agree with the function).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from standardwebhooks.webhooks import Webhook

from referral.domain.commands import (
    AcceptReferral,
    ApplyProviderUpdate,
    CreateReferral,
    DeclineReferral,
    RevokeConsent,
    SelfRefer,
)
from referral.domain.model import Contact, Kind, Window
from referral.domain.projections import HR_STATUSES, project_for_hr
from shared.directory.endpoints import WebhookEndpoints
from shared.messaging import CloudEvent, EventSealer
from shared.messaging.testing import drain
from shared.webhooks import WebhookDeliverer
from shared.webhooks.testing import WebhookReceiver
from tests.support.integration import (
    Canaries,
    capture_logs,
    postgres_platform,
    relay_everything,
    tap_queue,
)

pytestmark = pytest.mark.integration

NAME = "Zebulon Quixotic-Canary"
EMAIL = "zq.canary@example.test"
PHONE = "+1 555 0199 777"
LEVEL_OF_CARE = "CanaryIntensiveCare"
# Every canary, and fragments of them that would betray a partial or re-encoded leak.
CANARIES = (NAME, EMAIL, PHONE, LEVEL_OF_CARE, "Zebulon", "Quixotic", "zq.canary",
            "0199 777", "0199777", "IntensiveCare")
CANARY = Canaries(*CANARIES)


@pytest.fixture
def pg_platform(tmp_path, pg_database_url, unique_name):
    """A platform whose referral and directory databases are fresh PostgreSQL ones and
    whose exchange no other test uses."""
    with postgres_platform(tmp_path, "referral", pg_database_url, unique_name) as platform:
        yield platform


@pytest.fixture
def tap(amqp_url, unique_name):
    """A queue bound to every routing key of the test's exchange; removed afterwards."""
    with tap_queue(amqp_url, unique_name) as queue:
        yield queue


leaked = CANARY.found_in


def signed_post(client, provider_id, secret, type_, data):
    body = json.dumps({"type": type_, "timestamp": datetime.now(UTC).isoformat(),
                       "data": data})
    msg_id, now = f"msg_{uuid.uuid4().hex}", datetime.now(UTC)
    return client.post(f"/v1/webhooks/providers/{provider_id}", data=body,
                       content_type="application/json", headers={
                           "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                           "webhook-signature": Webhook(secret).sign(msg_id, now, body)})


# -- 1. canaries --------------------------------------------------------------------------
def test_no_canary_leaves_the_referral_service_except_to_the_chosen_provider(
        pg_platform, tap, amqp_url, unique_name, caplog):
    platform = pg_platform
    app = platform.app("referral")
    capture_logs(caplog)
    runtime = app.extensions["bridgeline"]
    services, client = runtime.domain, app.test_client()
    endpoints = WebhookEndpoints(platform.directory.engine, runtime.cipher,
                                 allow_insecure_urls=True)
    employer = platform.directory.create_employer("Acme").id
    provider = platform.directory.create_provider("Evening IOP").id
    hr = {"Authorization": f"Bearer {platform.client_token('hr', employer)}"}

    with WebhookReceiver() as receiver:
        _, secret = endpoints.configure("provider", provider, receiver.url)

        # HR refers the employee, through the API.
        created = client.post("/v1/referrals", headers=hr, json={
            "employee": {"external_id": "E-1001", "name": NAME, "email": EMAIL,
                         "phone": PHONE},
            "kind": "formal", "provider_id": provider})
        assert created.status_code == 201, created.get_data(as_text=True)
        referral_id = created.get_json()["id"]
        token = created.get_json()["link"]["url"].rsplit("/", 1)[1]

        # The employee accepts, shares the email but not the phone, and the schedule.
        services.accept(AcceptReferral(
            token=token, scopes=["participation", "schedule_needs"], expires_on=None,
            signature=NAME, program_options=["evening"], shared_contact=["email"]))

        # A provider sends clinical free text where it does not belong: refused, not echoed.
        refused = signed_post(client, provider, secret, "enrollment.started", {
            "referral_id": referral_id, "schedule": [], "start_date": "2027-01-05",
            "expected_end_date": "2027-03-30", "level_of_care": LEVEL_OF_CARE,
            "notes": f"{NAME} said a lot"})
        assert refused.status_code == 422 and not leaked(refused.get_data(as_text=True))

        started = signed_post(client, provider, secret, "enrollment.started", {
            "referral_id": referral_id,
            "schedule": [{"weekday": "tue", "start": "18:00", "end": "21:00"},
                         {"weekday": "thu", "start": "18:00", "end": "21:00"}],
            "start_date": "2027-01-05", "expected_end_date": "2027-03-30",
            "level_of_care": LEVEL_OF_CARE})
        assert started.status_code == 204, started.get_data(as_text=True)
        hr_view = client.get(f"/v1/referrals/{referral_id}", headers=hr)
        assert hr_view.get_json()["status"] == "enrolled"
        assert not leaked(hr_view.get_data(as_text=True))

        # Out it goes: events to the broker, the webhook to the provider.
        relay_everything(services.engine, amqp_url, unique_name)
        deliverer = WebhookDeliverer(services.engine, endpoints, runtime.cipher,
                                     allow_insecure_urls=True)
        assert deliverer.deliver_due() == 1
        assert receiver.wait_for(1)

    # (e) the provider's webhook: verifies with standardwebhooks, carries what was chosen.
    (delivery,) = receiver.received
    payload = Webhook(secret).verify(delivery.body, delivery.headers)
    assert payload["type"] == "referral.accepted"
    assert payload["data"]["referral_id"] == referral_id
    assert payload["data"]["contact"] == {"name": NAME, "email": EMAIL}
    assert PHONE not in delivery.body.decode()
    assert payload["data"]["consent"]["scopes"] == ["participation", "schedule_needs"]

    # (a) no canary in any table of the referral or the directory database.
    for engine in (services.engine, platform.directory.engine):
        CANARY.assert_not_in_database(engine)
    # ... and the values are there, encrypted: the dump would have seen them otherwise.
    stored = services.get_for_hr(employer, referral_id)
    assert (stored.contact.name, stored.contact.phone) == (NAME, PHONE)
    assert stored.enrollment.level_of_care == LEVEL_OF_CARE

    # (b) no canary in any message body, header or property on the broker.
    messages = drain(amqp_url, tap)
    CANARY.assert_not_in_messages(messages)

    # (c) the events that crossed.
    events = [CloudEvent.from_json(body) for _, body in messages]
    assert sorted(e.type for e in events) == sorted(
        ["referral.created", "referral.accepted", "consent.granted", "enrollment.started"])
    assert all(e.subject == referral_id for e in events)

    # (d) the schedule travels (scope schedule_needs); the level of care only encrypted.
    (enrollment,) = [e for e in events if e.type == "enrollment.started"]
    assert enrollment.data["schedule"] == [{"weekday": "tue", "start": "18:00", "end": "21:00"},
                                           {"weekday": "thu", "start": "18:00", "end": "21:00"}]
    assert enrollment.data["level_of_care"].startswith("enc:")
    opened = EventSealer(runtime.cipher).open(enrollment)  # it is the value, sealed
    assert opened.data["level_of_care"] == LEVEL_OF_CARE

    # Nothing canary-like in the logs (as the JSON formatter writes them, and raw).
    CANARY.assert_not_in_logs(caplog.records, "referral")


# -- 2. the HR list filter agrees with the projection ---------------------------------------
T0 = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


class Referrals:
    """Referrals of one employer, driven into a given state through the service layer."""

    def __init__(self, services, employer, provider):
        self.services, self.employer, self.provider = services, employer, provider
        self.made = {}

    def create(self, label, ttl_days=14, employer=None):
        referral, token = self.services.create_referral(CreateReferral(
            employer_id=employer or self.employer, provider_id=self.provider,
            kind=Kind.SUPERVISORY, external_id=f"E-{label}", contact=Contact(
                "Ada Lovelace", f"{label}@example.test"), link_ttl_days=ttl_days))
        if employer is None:
            self.made[label] = referral.id
        return referral.id, token

    def accept(self, label, scopes=("participation",), expires_on=None, updates=(),
               ttl_days=14):
        referral_id, token = self.create(label, ttl_days)
        _, manage = self.services.accept(AcceptReferral(
            token=token, scopes=list(scopes), expires_on=expires_on,
            signature="Ada Lovelace" if scopes else ""))
        for update in updates:
            self.services.apply_provider_update(ApplyProviderUpdate(
                provider_id=self.provider, webhook_id=f"msg_{uuid.uuid4().hex}",
                update_type=update, referral_id=referral_id, on_date=date(2027, 3, 1),
                schedule=[Window("mon", time(18), time(21))], start_date=date(2027, 3, 1),
                expected_end_date=date(2027, 5, 1), level_of_care="IOP"))
        return manage


def build_every_case(services, platform, employer, provider):
    r = Referrals(services, employer, provider)
    r.create("invited")
    r.create("invited_short_link", ttl_days=1)
    _, token = r.create("declined")
    services.decline(DeclineReferral(token))
    _, token = r.create("declined_short_link", ttl_days=1)
    services.decline(DeclineReferral(token))
    r.accept("accepted_without_consent", scopes=())
    r.accept("enrolled_without_consent", scopes=(), updates=["enrollment.started"])
    r.accept("accepted_with_consent")
    r.accept("intake_scheduled", updates=["intake.scheduled"])
    r.accept("enrolled", scopes=("participation", "schedule_needs"),
             updates=["enrollment.started"])
    r.accept("completed", scopes=("completion",),
             updates=["enrollment.started", "enrollment.completed"])
    r.accept("discontinued", updates=["intake.scheduled", "enrollment.discontinued"])
    manage = r.accept("revoked")
    services.revoke(RevokeConsent(manage))
    manage = r.accept("enrolled_then_revoked", updates=["enrollment.started"])
    services.revoke(RevokeConsent(manage))
    r.accept("consent_expires_soon", expires_on=T0.date() + timedelta(days=2))
    r.accept("enrolled_consent_expires_soon", expires_on=T0.date() + timedelta(days=2),
             updates=["enrollment.started"])
    r.accept("accepted_on_a_short_link", ttl_days=1, updates=["enrollment.started"])
    # Never in this employer's lists: a self-referral and another employer's referral.
    services.self_refer(SelfRefer(employer_id=employer, provider_id=provider,
                                  contact=Contact("Ada Lovelace", "self@example.test")))
    r.create("other_employer", employer=platform.directory.create_employer("Other").id)
    return r.made


def test_the_hr_status_filter_returns_exactly_the_projected_statuses(pg_platform):
    platform = pg_platform
    app = platform.app("referral")
    services, client = app.extensions["bridgeline"].domain, app.test_client()
    clock = Clock(T0)
    services.clock = clock
    employer = platform.directory.create_employer("Acme").id
    provider = platform.directory.create_provider("Evening IOP").id
    hr = {"Authorization": f"Bearer {platform.client_token('hr', employer)}"}
    made = build_every_case(services, platform, employer, provider)

    def listed(status):
        response = client.get(f"/v1/referrals?status={status}&limit=200", headers=hr)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.get_json()["next_cursor"] is None
        return {item["id"]: item["status"] for item in response.get_json()["data"]}

    seen_statuses = set()
    checkpoints = [T0 + timedelta(hours=1),
                   T0 + timedelta(days=1),                 # the short links expire, exactly
                   T0 + timedelta(days=2),                 # the short consents lapse today
                   T0 + timedelta(days=15),                # every link has expired
                   T0 + timedelta(days=15, seconds=1),
                   T0 + timedelta(days=400)]               # every consent has lapsed
    for now in checkpoints:
        for expire in (False, True):  # before and after the expiry job marks links
            clock.now = now
            if expire:
                services.expire_due()
            projected = {label: project_for_hr(services.get_for_hr(employer, rid), now).status
                         for label, rid in made.items()}
            by_id = {rid: label for label, rid in made.items()}
            union = set()
            for status in HR_STATUSES:
                result = listed(status)
                assert set(result.values()) <= {status}, (now, status, result)
                got = {by_id[rid] for rid in result}
                want = {label for label, s in projected.items() if s == status}
                assert got == want, (now, status, got ^ want)
                assert not union & got
                union |= got
                seen_statuses |= {status} if got else set()
            assert union == set(made)  # every referral is in exactly one list
            everything = client.get("/v1/referrals?limit=200", headers=hr).get_json()["data"]
            assert {item["id"] for item in everything} == set(made.values())
    # The cases are rich enough that every HR status was exercised at some moment.
    assert seen_statuses == set(HR_STATUSES)


def test_hr_reads_one_referral_only_of_its_own_employer_on_postgresql(pg_platform):
    """The read by id looks the referral up by primary key and checks tenant and origin
    in code (`ReferralRepository.hr_record`): on PostgreSQL, through the driver."""
    platform = pg_platform
    app = platform.app("referral")
    services, client = app.extensions["bridgeline"].domain, app.test_client()
    employer = platform.directory.create_employer("Acme").id
    other = platform.directory.create_employer("Other").id
    provider = platform.directory.create_provider("Evening IOP").id
    r = Referrals(services, employer, provider)
    own, _ = r.create("own")
    others, _ = r.create("other", employer=other)
    private, _ = services.self_refer(SelfRefer(employer_id=employer, provider_id=provider,
                                               contact=Contact("Sam Private", "s@example.test")))
    hr = {"Authorization": f"Bearer {platform.client_token('hr', employer)}"}
    assert client.get(f"/v1/referrals/{own}", headers=hr).get_json()["employee"] == {
        "external_id": "E-own"}
    for missing in (others, private.id, "ref_doesnotexist"):
        response = client.get(f"/v1/referrals/{missing}", headers=hr)
        assert response.status_code == 404, missing
        assert response.get_json()["detail"] == "No such referral."
