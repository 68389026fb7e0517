"""What the use cases write to the outbox and to the provider's webhook queue, the
scheduled expiry, and the disclosure log fed by `disclosure.recorded`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from referral.domain.commands import DeclineReferral, RevokeConsent, SelfRefer
from referral.domain.model import Contact
from referral.entrypoints.consumer import event_handlers
from shared.directory.endpoints import WebhookEndpoints
from shared.messaging import CloudEvent, outbox
from shared.webhooks import webhook_deliveries


def events(world):
    with world.services.engine.connect() as conn:
        rows = conn.execute(select(outbox.c.event_type, outbox.c.body)
                            .order_by(outbox.c.id)).all()
    return [(t, json.loads(b)) for t, b in rows]


def deliveries(world):
    with world.services.engine.connect() as conn:
        return conn.execute(select(webhook_deliveries)).all()


def with_provider_endpoint(world):
    runtime = world.app.extensions["bridgeline"]
    WebhookEndpoints(runtime.directory.engine, runtime.cipher, allow_insecure_urls=True
                     ).configure("provider", world.provider_id, "http://127.0.0.1:9/hooks")


def test_create_accept_revoke_publish_their_events_with_identities_sealed(world):
    with_provider_endpoint(world)
    _referral, token = world.create_direct(name="Zebulon Canary")
    _, manage = world.accept(token, scopes=["schedule_needs"], name="Zebulon Canary")
    world.services.revoke(RevokeConsent(manage))
    seen = events(world)
    assert [t for t, _ in seen] == ["referral.created", "referral.accepted", "consent.granted",
                                    "consent.revoked"]
    granted = dict(seen)["consent.granted"]["data"]
    assert granted["scopes"] == ["participation", "schedule_needs"]
    assert granted["employee"]["name"].startswith("enc:")
    assert granted["employee"]["external_id"].startswith("enc:")
    assert "Zebulon" not in json.dumps(seen)
    (delivery,) = deliveries(world)
    assert delivery.event_type == "referral.accepted" and "Zebulon" not in repr(delivery)


def test_no_event_and_no_webhook_without_an_answer(world):
    _referral, token = world.create_direct()
    world.services.decline(DeclineReferral(token))
    assert [t for t, _ in events(world)] == ["referral.created", "referral.declined"]
    assert deliveries(world) == []


def test_a_self_referral_tells_the_provider_and_nobody_else(world):
    with_provider_endpoint(world)
    world.services.self_refer(SelfRefer(employer_id=world.employer_id,
                                        provider_id=world.provider_id,
                                        contact=Contact("Sam Private", "sam@example.com")))
    assert events(world) == []
    assert [d.event_type for d in deliveries(world)] == ["referral.accepted"]


def test_links_expire_once_with_an_event(world):
    referral, _token = world.create_direct(ttl_days=1)
    services = world.services
    assert services.expire_due() == 0
    services.clock = lambda: referral.link_expires_at + timedelta(seconds=1)
    assert services.expire_due() == 1
    assert services.expire_due() == 0
    assert [t for t, _ in events(world)] == ["referral.created", "referral.expired"]
    assert world.hr_get(referral.id).json["status"] == "closed"


def test_a_lapsed_consent_is_announced_once(world):
    referral, token = world.create_direct()
    world.accept(token)
    consent_end = world.services.get_for_hr(world.employer_id, referral.id).consent.expires_on
    world.services.clock = lambda: datetime.combine(consent_end, datetime.min.time(), UTC)
    assert world.services.expire_due() == 1
    assert world.services.expire_due() == 0
    assert [t for t, _ in events(world)][-1] == "consent.expired"
    assert world.hr_get(referral.id).json["consent"]["status"] == "expired"


def test_disclosures_recorded_elsewhere_appear_on_the_manage_page(world):
    referral, token = world.create_direct()
    accepted, manage = world.accept(token, scopes=["attendance_summary"])
    handler = event_handlers(world.services)["disclosure.recorded"]

    def disclosure(disclosure_id, consent_id, employer_id):
        return CloudEvent(type="disclosure.recorded", source="/attestation", data={
            "disclosure_id": disclosure_id, "referral_id": referral.id,
            "consent_id": consent_id, "recipient": {"employer_id": employer_id, "role": "hr"},
            "information": ["attendance", "compliant"], "purpose": "employment support",
            "channel": "api", "disclosed_at": "2027-01-04T10:00:00Z"})

    from sqlalchemy.orm import Session
    events_in = [disclosure("dis_1", accepted.consent.id, world.employer_id)] * 2  # redelivered
    events_in += [disclosure("dis_2", "con_someoneelse", world.employer_id),
                  disclosure("dis_3", accepted.consent.id, "emp_another")]
    for event in events_in:
        with Session(world.services.engine) as session, session.begin():
            handler(session, event)
    _, log = world.services.open_manage(manage)
    assert [(d["id"], d["information"], d["channel"]) for d in log] == [
        ("dis_1", "attendance, compliant", "api")]
