"""Issuing: weekly and final attestations from events and attendance, only consented
claims, signed so that a verifier with nothing but the JWKS endpoint can check them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from shared.audit import verify
from shared.webhooks import webhook_deliveries


def verify_independently(world, token):
    key_set = KeySet.import_key_set(world.client.get("/.well-known/jwks.json").get_json())
    return json.loads(jws.deserialize_compact(token, key_set, algorithms=["Ed25519"]).payload)


def attestations(world, **query):
    response = world.list(**query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["data"]


def test_a_completed_week_is_attested_with_only_the_consented_claims(world):
    ref = world.referral(scopes=("participation", "attendance_summary"))
    world.post_attendance(world.week(ref, ["attended", "attended", "absent_excused",
                                           "cancelled_by_program"]))
    assert world.services.issue_due(world.now) == 1
    assert world.services.issue_due(world.now) == 0  # once per period
    (item,) = attestations(world)
    assert item["claims"] == {"participation": "enrolled",
                              "attendance": {"attended": 2, "scheduled": 3},
                              "compliant": False}
    assert item["period"] == {"start": "2027-01-04", "end": "2027-01-10"}
    assert item["employee"] == {"external_id": ref.external_id}
    assert item["kind"] == "weekly" and item["expired"] is False
    assert item["expires_at"] == "2027-01-21T00:00:00Z"
    assert item["consent_id"] == ref.consent_id and "42 CFR part 2" in item["notice"]
    payload = verify_independently(world, item["jws"])
    assert payload["sub"] == ref.id and payload["consent_id"] == ref.consent_id
    assert payload["attendance"] == {"attended": 2, "scheduled": 3}
    assert "completion" not in payload and "return_to_work" not in payload
    assert world.events("attestation.issued")[0]["attestation_id"] == item["id"]


def test_a_tampered_jws_does_not_verify(world):
    ref = world.referral()
    world.services.issue_due(world.now)
    (item,) = attestations(world)
    head, body, sig = item["jws"].split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB")
    with pytest.raises(JoseError):
        verify_independently(world, ".".join([head, forged, sig]))
    assert ref.id


@pytest.mark.parametrize("scopes, expected", [
    (("participation",), {"participation"}),
    (("attendance_summary",), {"attendance", "compliant"}),
    (("completion",), set()),
    (("schedule_needs",), set()),
])
def test_only_claims_of_the_scopes_are_issued(world, scopes, expected):
    ref = world.referral(scopes=scopes)
    world.post_attendance(world.week(ref, ["attended"]))
    world.services.issue_due(world.now)
    items = attestations(world)
    assert [set(i["claims"]) for i in items] == ([expected] if expected else [])


def test_attendance_before_the_events_is_attested_once_they_arrive(world):
    ref = world.referral(created=False, consent=False, started=None)
    response = world.post_attendance(world.week(ref, ["attended", "attended"]))
    assert response.get_json()["accepted"] == 2
    assert world.services.issue_due(world.now) == 0
    world.services.clock = lambda: world.now
    world.created(ref)
    world.grant(ref, ("attendance_summary",))
    world.feed("enrollment.started", ref, {"provider_id": ref.provider,
                                           "start_date": world.start.isoformat()})
    (item,) = attestations(world)  # issued by the event itself, no sweep needed
    assert item["claims"]["attendance"] == {"attended": 2, "scheduled": 2}


def test_records_of_another_provider_sent_before_the_referral_never_count(world):
    ref = world.referral(created=False, consent=False, started=None)
    world.post_attendance(world.week(ref, ["attended"]), provider=world.other_provider,
                          secret=world.other_secret)
    world.services.clock = lambda: world.now
    world.created(ref)
    world.grant(ref, ("attendance_summary",))
    world.feed("enrollment.started", ref, {"provider_id": ref.provider,
                                           "start_date": world.start.isoformat()})
    (item,) = attestations(world)
    assert item["claims"]["attendance"] == {"attended": 0, "scheduled": 0}


def test_revocation_stops_issuance_at_once_and_cancels_pending_webhooks(world):
    world.employer_endpoint()
    ref = world.referral()
    world.services.issue_due(world.now)
    world.end(ref, "revoked")
    later = world.now + timedelta(days=14)
    assert world.services.issue_due(later) == 0
    assert len(attestations(world)) == 1  # what was issued before is still listed
    with world.services.engine.connect() as conn:
        statuses = conn.execute(select(webhook_deliveries.c.status)).scalars().all()
    assert statuses == ["abandoned"]


def test_an_expired_consent_stops_issuance(world):
    ref = world.referral(expires_on="2027-01-20")
    world.services.issue_due(world.now)
    assert world.services.issue_due(world.now + timedelta(days=14)) == 0
    world.end(ref, "expired")
    assert len(attestations(world)) == 1


def test_an_attestation_past_its_expiry_is_listed_as_expired(world):
    world.referral()
    world.services.issue_due(world.now)
    world.services.clock = lambda: world.now + timedelta(days=10)
    (item,) = attestations(world)
    assert item["expired"] is True


def test_completion_issues_a_final_attestation_at_once(world):
    ref = world.referral(scopes=("participation", "completion", "return_to_work"))
    world.services.issue_due(world.now)
    world.finish(ref, "completed", on="2027-01-13", rtw="2027-01-18")
    final = [i for i in attestations(world) if i["kind"] == "final"]
    assert len(final) == 1
    assert final[0]["period"] == {"start": "2027-01-11", "end": "2027-01-13"}
    assert final[0]["claims"] == {"participation": "not_enrolled",
                                  "completion": {"status": "completed", "date": "2027-01-13"},
                                  "return_to_work": {"date": "2027-01-18"}}
    assert world.services.issue_due(world.now + timedelta(days=30)) == 0


def test_discontinuation_issues_a_final_attestation(world):
    ref = world.referral(scopes=("completion",))
    world.finish(ref, "discontinued", on="2027-01-08")
    (item,) = attestations(world)
    assert item["kind"] == "final"
    assert item["claims"] == {"completion": {"status": "discontinued", "date": "2027-01-08"}}


def test_webhook_delivery_to_the_employer_carries_the_attestation(world):
    world.employer_endpoint()
    world.referral()
    world.services.issue_due(world.now)
    with world.services.engine.connect() as conn:
        (delivery,) = conn.execute(select(webhook_deliveries)).all()
    assert delivery.event_type == "attestation.issued" and delivery.tenant == world.employer
    assert delivery.status == "pending"
    # Once delivered, the disclosure is recorded (channel webhook).
    with world.services.engine.begin() as conn:
        conn.execute(webhook_deliveries.update().values(status="delivered"))
    assert world.services.disclose_delivered(world.now) == 1
    assert world.services.disclose_delivered(world.now) == 0
    (event,) = world.events("disclosure.recorded")
    assert event["channel"] == "webhook" and verify(world.services.engine).ok


def test_key_rotation_keeps_older_attestations_verifiable(world):
    from attestation.adapters.signing import SigningKeys

    world.referral()
    world.services.issue_due(world.now)
    SigningKeys.load(world.keys_path).rotate()
    world.referral()
    world.services.issue_due(world.now)
    items = attestations(world)
    kids = {jws.extract_compact(i["jws"].encode()).headers()["kid"] for i in items}
    assert len(kids) == 2
    for item in items:
        verify_independently(world, item["jws"])
    assert len(world.client.get("/.well-known/jwks.json").get_json()["keys"]) == 2


def test_a_week_without_attendance_waits_for_the_grace_period_one_with_attendance_does_not(
        world):
    world.services.grace_days = 3
    quiet = world.referral()
    assert world.services.issue_due(world.now) == 0  # Monday: nothing reported yet
    busy = world.referral()
    world.post_attendance(world.week(busy, ["attended", "attended"]))
    assert world.services.issue_due(world.now) == 1  # at once: the data is in
    assert world.services.issue_due(world.now + timedelta(days=2)) == 0  # Wednesday
    assert world.services.issue_due(world.now + timedelta(days=3)) == 1  # Thursday: 0 of 0
    items = {i["referral_id"]: i["claims"] for i in attestations(world)}
    assert items[busy.id]["attendance"] == {"attended": 2, "scheduled": 2}
    assert items[quiet.id]["attendance"] == {"attended": 0, "scheduled": 0}
