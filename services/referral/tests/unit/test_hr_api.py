"""`/v1/referrals` for HR: shapes, validation, tenancy, idempotency, pagination, filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from referral.adapters.orm import referrals
from referral.domain.commands import DeclineReferral, RevokeConsent, SelfRefer
from referral.domain.model import Contact

PROBLEM = "application/problem+json"


def test_create_returns_the_contract_shape_and_the_link_once(world):
    body = world.create(purpose="Support after a difficult quarter")
    assert set(body) == {"id", "kind", "status", "employee", "provider_id", "purpose", "link",
                         "consent", "created_at"}
    assert body["status"] == "invited" and body["kind"] == "formal"
    assert body["employee"] == {"external_id": "E-1"}
    assert body["link"]["url"].startswith("http://localhost:8081/r/")
    assert body["consent"] == {"status": "none", "scopes": [], "expires_at": None}
    again = world.hr_get(body["id"]).json
    assert "url" not in again["link"] and again["link"] == {"expires_at": body["link"]["expires_at"]}
    assert again["purpose"] == "Support after a difficult quarter"


def test_contact_details_never_come_back_and_are_stored_encrypted(world):
    body = world.create(name="Zebulon Canary", email="zeb.canary@example.test")
    text = world.hr_get(body["id"]).get_data(as_text=True)
    assert "Zebulon" not in text and "zeb.canary" not in text
    with world.services.engine.connect() as conn:
        row = conn.execute(select(referrals)).one()._mapping
    for column in ("employee_name", "employee_email", "external_id"):
        assert row[column].startswith("enc:")
    assert "Zebulon" not in repr(dict(row)) and "zeb.canary" not in repr(dict(row))


def test_link_ttl_defaults_to_14_days_and_is_bounded(world):
    body = world.create()
    from datetime import datetime
    created = datetime.fromisoformat(body["created_at"])
    assert datetime.fromisoformat(body["link"]["expires_at"]) - created == timedelta(days=14)
    assert world.create(external_id="E-2", link_ttl_days=30)
    for bad in (0, 31, "7", 1.5):
        r = world.client.post("/v1/referrals", headers=world.hr, json={
            "employee": {"external_id": "E", "name": "A", "email": "a@example.com"},
            "kind": "formal", "provider_id": world.provider_id, "link_ttl_days": bad})
        assert r.status_code == 422 and "link_ttl_days" in r.json["errors"], bad


BAD_BODIES = [
    ({}, {"employee", "kind", "provider_id"}),
    ({"employee": {"external_id": "E", "name": "A", "email": "not-an-email"}, "kind": "formal",
      "provider_id": "P"}, {"employee", "provider_id"}),
    ({"employee": {"external_id": "E", "name": "A", "email": "a@example.com",
                   "diagnosis": "x"}, "kind": "formal", "provider_id": "P"},
     {"employee", "provider_id"}),
    ({"employee": "Ada", "kind": "urgent", "provider_id": 7, "notes": "x"},
     {"employee", "kind", "provider_id", "notes"}),
    ({"employee": {"external_id": "", "name": "A" * 201, "email": "a@example.com",
                   "phone": "call me"}, "kind": "formal", "provider_id": "P"},
     {"employee", "provider_id"}),
]


@pytest.mark.parametrize(("body", "fields"), BAD_BODIES)
def test_bad_bodies_get_422_problems_naming_the_fields(world, body, fields):
    r = world.client.post("/v1/referrals", json=body, headers=world.hr)
    assert r.status_code == 422 and r.content_type == PROBLEM
    assert set(r.json["errors"]) == fields
    with world.services.engine.connect() as conn:
        assert conn.execute(select(referrals)).all() == []


def test_malformed_and_non_json_bodies(world):
    r = world.client.post("/v1/referrals", data="{", headers={**world.hr,
                                                              "Content-Type": "application/json"})
    assert (r.status_code, r.content_type) == (400, PROBLEM)
    r = world.client.post("/v1/referrals", data="a=b", headers={
        **world.hr, "Content-Type": "application/x-www-form-urlencoded"})
    assert (r.status_code, r.content_type) == (415, PROBLEM)
    r = world.client.post("/v1/referrals", json=[1, 2], headers=world.hr)
    assert (r.status_code, r.content_type) == (422, PROBLEM)


def test_an_unknown_provider_is_a_field_error(world):
    r = world.client.post("/v1/referrals", headers=world.hr, json={
        "employee": {"external_id": "E", "name": "A", "email": "a@example.com"},
        "kind": "formal", "provider_id": "prv_" + "a" * 26})
    assert r.status_code == 422 and r.json["errors"] == {"provider_id": ["No provider has this id."]}


def test_roles_and_tokens(world, platform):
    _, specialist = platform.directory.create_client("specialist", employer_id=world.employer_id)
    _, provider = platform.directory.create_client("provider", provider_id=world.provider_id)
    ref = world.create()
    for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 401),
                            ({"Authorization": f"Bearer {specialist}"}, 403),
                            ({"Authorization": f"Bearer {provider}"}, 403)):
        for r in (world.client.get(f"/v1/referrals/{ref['id']}", headers=headers),
                  world.client.get("/v1/referrals", headers=headers)):
            assert (r.status_code, r.content_type) == (status, PROBLEM)


def test_another_employers_referral_is_404_everywhere(world, platform):
    ref = world.create()
    other = platform.directory.create_employer("Globex")
    _, token = platform.directory.create_client("hr", employer_id=other.id)
    headers = {"Authorization": f"Bearer {token}"}
    r = world.client.get(f"/v1/referrals/{ref['id']}", headers=headers)
    assert (r.status_code, r.content_type) == (404, PROBLEM)
    assert world.client.get("/v1/referrals/ref_doesnotexist", headers=headers).status_code == 404
    assert world.client.get("/v1/referrals", headers=headers).json["data"] == []
    assert world.client.get("/v1/referrals?employee_external_id=E-1",
                            headers=headers).json["data"] == []


def test_idempotency_key_replays_the_first_response(world):
    body = {"employee": {"external_id": "E-9", "name": "A", "email": "a@example.com"},
            "kind": "supervisory", "provider_id": world.provider_id}
    headers = {**world.hr, "Idempotency-Key": "k-1"}
    first = world.client.post("/v1/referrals", json=body, headers=headers)
    again = world.client.post("/v1/referrals", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    other = world.client.post("/v1/referrals", json={**body, "kind": "formal"}, headers=headers)
    assert (other.status_code, other.content_type) == (422, PROBLEM)
    with world.services.engine.connect() as conn:
        assert len(conn.execute(select(referrals)).all()) == 1


def test_list_filters_and_pages(world):
    made = [world.create(external_id=f"E-{i % 2}")["id"] for i in range(5)]
    page = world.client.get("/v1/referrals?limit=2", headers=world.hr).json
    seen = [r["id"] for r in page["data"]]
    while page["next_cursor"]:
        page = world.client.get(f"/v1/referrals?limit=2&cursor={page['next_cursor']}",
                                headers=world.hr).json
        seen += [r["id"] for r in page["data"]]
    assert seen == list(reversed(made))
    ones = world.client.get("/v1/referrals?employee_external_id=E-1", headers=world.hr).json
    assert {r["id"] for r in ones["data"]} == {made[1], made[3]}
    assert world.client.get("/v1/referrals?status=closed", headers=world.hr).json["data"] == []
    for bad in ("status=declined", "limit=0", "limit=201", "cursor=%%%", "cursor=abc"):
        r = world.client.get(f"/v1/referrals?{bad}", headers=world.hr)
        assert r.status_code in (400, 422) and r.content_type == PROBLEM, bad


def test_declining_looks_like_silence_until_the_link_expires(world):
    referral, token = world.create_direct()
    world.services.decline(DeclineReferral(token))
    assert world.hr_get(referral.id).json["status"] == "invited"
    world.services.clock = lambda: referral.link_expires_at
    assert world.hr_get(referral.id).json["status"] == "closed"


def test_accept_with_consent_then_revoke(world):
    referral, token = world.create_direct()
    _, manage = world.accept(token, scopes=["attendance_summary"])
    view = world.hr_get(referral.id).json
    assert view["status"] == "accepted" and view["consent"]["status"] == "granted"
    assert view["consent"]["scopes"] == ["attendance_summary", "participation"]
    world.services.revoke(RevokeConsent(manage))
    view = world.hr_get(referral.id).json
    assert (view["status"], view["consent"]["status"]) == ("consent_revoked", "revoked")


def test_accept_without_scopes_shows_nothing(world):
    referral, token = world.create_direct()
    world.accept(token, scopes=())
    assert world.hr_get(referral.id).json["status"] == "invited"


def test_self_referrals_never_reach_hr(world):
    referral, _ = world.services.self_refer(SelfRefer(
        employer_id=world.employer_id, provider_id=world.provider_id,
        contact=Contact("Sam Private", "sam@example.com")))
    assert world.hr_get(referral.id).status_code == 404
    assert world.client.get("/v1/referrals", headers=world.hr).json["data"] == []


def test_the_same_employee_keeps_one_data_key_subject(world):
    a, _ = world.create_direct(external_id="E-5")
    b, _ = world.create_direct(external_id=" E-5 ")
    c, _ = world.create_direct(external_id="E-6")
    assert a.employee_subject == b.employee_subject != c.employee_subject


def test_every_hr_body_is_exactly_what_its_schema_writes(world):
    """The views build ReferralOut's wire form themselves (`shared.web.wire`): hold each
    state's body to the schema, which stays the contract."""
    from referral.entrypoints.api.schemas import ReferralOut, ReferralPage
    from shared.web.wire import dumped_unchanged

    created = world.create(external_id="E-9", purpose="Back to work")  # with its link URL
    bodies = [created, world.hr_get(created["id"]).json]
    plain, _ = world.create_direct(external_id="E-10")  # no purpose
    granted, token = world.create_direct(external_id="E-11")
    _, manage = world.accept(token, scopes=["attendance_summary"])
    bodies += [world.hr_get(plain.id).json, world.hr_get(granted.id).json]
    world.services.revoke(RevokeConsent(manage))
    bodies.append(world.hr_get(granted.id).json)
    assert {b["consent"]["status"] for b in bodies} == {"none", "granted", "revoked"}
    assert any(b["purpose"] is None for b in bodies) and "url" in bodies[0]["link"]
    assert all(b["consent"]["expires_at"] for b in bodies if b["consent"]["status"] != "none")
    for body in bodies:
        assert dumped_unchanged(ReferralOut(), body), body
    page = world.client.get("/v1/referrals?limit=2", headers=world.hr).json
    assert len(page["data"]) == 2 and page["next_cursor"]
    assert dumped_unchanged(ReferralPage(), page)
