"""The HR API: tenant scoping, filters and pages, disclosures recorded once per client,
the JWKS endpoint, and the utilization report through HTTP."""

from __future__ import annotations

import json
import re
import threading

import pika

from attestation.entrypoints.consumer import event_handlers
from shared.audit import disclosures_for, verify
from shared.messaging import CloudEvent, Delivery, EventApplier, EventSealer


def issued(world, count=1, **kwargs):
    refs = [world.referral(**kwargs) for _ in range(count)]
    world.services.issue_due(world.now)
    return refs


def test_another_employers_attestation_is_a_404_and_never_listed(world):
    (ref,) = issued(world)
    (item,) = world.list().get_json()["data"]
    other = world.bearer("hr", world.platform.directory.create_employer("Globex").id)
    response = world.client.get(f"/v1/attestations/{item['id']}", headers=other)
    assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert world.list(headers=other).get_json()["data"] == []
    assert world.client.get(f"/v1/attestations/{item['id']}", headers=world.hr).json["id"] \
        == item["id"]
    assert ref.id


def test_roles_and_authentication(world):
    issued(world)
    assert world.client.get("/v1/attestations").status_code == 401
    manager = world.bearer("manager", world.employer)
    assert world.client.get("/v1/attestations", headers=manager).status_code == 403
    provider = world.bearer("provider", world.provider)
    assert world.client.get("/v1/attestations", headers=provider).status_code == 403


def test_filters_and_cursor_pages(world):
    refs = issued(world, 3)
    by_ref = world.list(referral_id=refs[1].id).get_json()["data"]
    assert [i["referral_id"] for i in by_ref] == [refs[1].id]
    by_employee = world.list(employee_external_id=refs[2].external_id).get_json()["data"]
    assert [i["referral_id"] for i in by_employee] == [refs[2].id]
    first = world.list(limit="2").get_json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    second = world.list(limit="2", cursor=first["next_cursor"]).get_json()
    assert len(second["data"]) == 1 and second["next_cursor"] is None
    seen = {i["id"] for i in first["data"] + second["data"]}
    assert len(seen) == 3
    assert world.list(cursor="garbage").status_code == 400


def test_each_client_read_is_one_disclosure_audited_and_published(world):
    (ref,) = issued(world)
    (item,) = world.list().get_json()["data"]
    world.client.get(f"/v1/attestations/{item['id']}", headers=world.hr)  # same client again
    (event,) = world.events("disclosure.recorded")
    assert event["referral_id"] == ref.id and event["consent_id"] == ref.consent_id
    assert event["recipient"] == {"employer_id": world.employer, "role": "hr"}
    assert event["information"] == ["attendance", "compliant", "participation"] \
        or event["information"] == ["attendance", "participation"]
    assert event["channel"] == "api" and event["purpose"] == "to support your employment"
    assert set(event) == {"disclosure_id", "referral_id", "consent_id", "recipient",
                          "information", "purpose", "channel", "disclosed_at"}
    another_client = world.bearer("hr", world.employer)
    world.client.get(f"/v1/attestations/{item['id']}", headers=another_client)
    assert len(world.events("disclosure.recorded")) == 2
    entries = disclosures_for(world.services.engine, ref.subject)
    assert [e.event.resource_ids for e in entries] == [(item["id"],), (item["id"],)]
    assert verify(world.services.engine).ok


def test_after_revocation_what_was_issued_stays_listed_and_nothing_more_is_authorised(world):
    (ref,) = issued(world)
    (item,) = world.list().get_json()["data"]
    assert item["further_information"] == "authorised"
    world.end(ref, "revoked")
    (item,) = world.list().get_json()["data"]
    assert item["further_information"] == "not_authorised"


def test_jwks_is_public(world):
    response = world.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    (key,) = response.get_json()["keys"]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and "d" not in key


def test_jwks_without_a_keyring_is_a_503_problem(world):
    world.keys_path.unlink()
    response = world.client.get("/.well-known/jwks.json")
    assert response.status_code == 503 and response.mimetype == "application/problem+json"


def report(world, **query):
    return world.client.get("/v1/reports/utilization", headers=world.hr,
                            query_string={"from": "2027-01-01", "to": "2027-01-31", **query})


def test_the_report_suppresses_small_cells_through_the_api(world):
    for _ in range(12):
        world.referral(consent=False, started=None)  # invited
    for _ in range(3):
        world.referral(kind="supervisory", started=None)  # engaged
    body = report(world).get_json()
    rows = {row["label"]: row for row in body["by_kind"]["rows"]}
    assert rows["supervisory"]["cells"]["engaged"] == {"count": None, "suppressed": True}
    # The totals would give the 3 away: they are hidden too, and the 12 with them (the
    # one-month table's row total would otherwise be 15 - 12).
    assert body["by_kind"]["totals"]["cells"]["engaged"]["suppressed"] is True
    assert rows["formal"]["cells"]["invited"]["suppressed"] is True
    assert rows["formal"]["cells"]["engaged"] == {"count": 0, "suppressed": False}
    counts = re.findall(r'"count": (\d+)', json.dumps(body))
    assert "3" not in counts and "12" not in counts  # the grand total 15 alone says nothing
    assert body["min_cell"] == 10


def test_the_report_counts_only_this_employer_and_window(world):
    other = world.platform.directory.create_employer("Globex").id
    for _ in range(11):
        world.referral(employer=other, consent=False, started=None)
    body = report(world).get_json()
    assert body["by_kind"]["totals"]["total"] == {"count": 0, "suppressed": False}
    assert report(world, to="2026-12-01").status_code == 422
    assert world.client.get("/v1/reports/utilization", headers=world.hr).status_code == 422


def test_the_consumer_runner_opens_the_sealed_external_id(world):
    ref_id, subject = "ref_" + "b" * 26, "sub_" + "c" * 26
    event = CloudEvent(type="referral.created", source="/referral", subject=ref_id,
                       tenant=world.employer, key_subject=subject,
                       data={"referral_id": ref_id, "employer_id": world.employer,
                             "provider_id": world.provider, "kind": "formal",
                             "employee": {"external_id": "E-4242"},
                             "link_expires_at": "2027-01-25T00:00:00+00:00"},
                       sensitive_fields=("employee.external_id",))
    sealed = EventSealer(world.runtime.cipher).seal(event)
    assert sealed.data["employee"]["external_id"].startswith("enc:")
    applier = EventApplier(world.services.engine, event_handlers(world.services),
                           world.runtime.cipher)
    delivery = Delivery(1, pika.BasicProperties(headers={}), sealed.to_json().encode())
    assert applier.apply(delivery, threading.Event()).value == "applied"
    assert applier.apply(delivery, threading.Event()).value == "duplicates"
    with world.services.transaction() as (_, repo):
        facts = repo.referral(ref_id)
    assert facts is not None and facts.external_id == "E-4242" and facts.kind == "formal"
